"""The sender's configuration (built from ``m3e.config.Settings``) and its statistics."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from m3e.config import Settings
from m3e.media.sources import SourceConfig
from m3e.wire.grpc_util import TlsFiles


@dataclass
class SenderConfig:
    target: str = "127.0.0.1:50051"
    source: str = "testsrc"
    media: SourceConfig = field(default_factory=SourceConfig)
    video_scheme: str = "h265"
    audio_scheme: str = "aac"
    modulation: str = "16qam"
    code_rate: float = 0.75
    pilot_spacing: int = 256
    pilot_count: int = 4
    gop: int = 30
    crf: int = 28
    realtime: bool = True
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    reconnect_timeout_s: float = 30.0
    tls: TlsFiles | None = None
    semantics: bool = False  # also send each keyframe's text (MODALITY_TEXT)
    m3e_budget: int = 5000  # M3E schemes: at most this many bytes of V′ per keyframe (docs/m3e.md)
    equal_rate_kbps: float = 8.0  # h265-equal-rate's target (docs/equal_rate.md)
    m3e_refresh_kbps: float = 4.0  # M3E low latency: new pictures between cuts (docs/m3e.md)
    low_latency: bool = False  # M3E: pictures at once and motion per frame, sentences later
    text_scheme: str = "m3e-text"  # with semantics: "m3e-text" (learned symbols) or "json"
    direction: str = ""  # the emulator's route for this stream (a call: "a-b" or "b-a")
    max_retries: int = 3  # transmissions after the first, also when their feedback never came
    # HARQ timer: a transmission not answered within this is sent again (next redundancy
    # version); 0 = adaptive, from the measured feedback delay (docs/robustness.md)
    feedback_timeout_ms: float = 0.0
    min_delivered: float = 0.5  # below this fraction of video frames delivered the sender fails


@dataclass
class SenderStats:
    bursts: int = 0
    retransmissions: int = 0
    acks: int = 0
    nacks: int = 0
    given_up: int = 0
    rejected: int = 0
    symbols: int = 0
    reconnects: int = 0
    genie_nacks: int = 0  # NACKs the emulator's genie asked for (--retransmit-by genie)
    stale_frames: int = 0  # live frames skipped because they were LIVE_LAG_S old (load)
    timeouts: int = 0  # transmissions sent again because no feedback came in time
    unanswered: int = 0  # payloads given up with no feedback after the last transmission
    inferred_lost: int = 0  # sent again because a later transmission's answer came first
    video_frames: int = 0  # video payloads sent (first transmissions)
    video_delivered: int = 0  # of those, acknowledged by the receiver
    source_frames: int = 0  # frames the source produced
    last_receiver: dict[str, float] = field(default_factory=dict)

    @property
    def frames_delivered(self) -> int:
        """Frames the receiver played with their own picture, as its latest feedback said (an
        acknowledged frame that came after its play-out time froze all the same), at most the
        source's frames: a low-latency M3E receiver holds its last picture at the frame rate
        while the stream stays open for the last sentences, and those frames are no source's
        ("792 of 780 frames delivered")."""
        r = self.last_receiver
        played = max(0, int(r.get("frames", 0)) - int(r.get("frames_frozen", 0)))
        return min(played, self.source_frames) if self.source_frames else played

    @property
    def delivered_fraction(self) -> float:
        """Frames played with their own picture, of the frames the source produced (1.0 when
        it produced none)."""
        return self.frames_delivered / self.source_frames if self.source_frames else 1.0


def sender_config(
    s: Settings,
    target: str,
    semantics: bool = False,
    low_latency: bool = False,
    realtime: bool = True,
    direction: str = "",
) -> SenderConfig:
    """The sender's configuration from the settings (defaults < TOML < env < flags) and the
    flags that only a sender has."""
    return SenderConfig(
        target=target,
        source=s.source,
        media=SourceConfig(s.width, s.height, s.fps, s.sample_rate, s.channels, s.duration),
        video_scheme=s.scheme,
        audio_scheme="" if s.audio_scheme == "none" else s.audio_scheme,
        modulation=s.modulation,
        code_rate=s.code_rate,
        pilot_spacing=s.pilot_spacing,
        pilot_count=s.pilot_count,
        gop=s.gop,
        crf=s.crf,
        realtime=realtime,
        reconnect_timeout_s=s.reconnect_timeout_s,
        tls=TlsFiles(s.tls_cert, s.tls_key, s.tls_ca),
        semantics=semantics,
        m3e_budget=s.m3e_budget,
        equal_rate_kbps=s.equal_rate_kbps,
        m3e_refresh_kbps=s.m3e_refresh_kbps,
        low_latency=low_latency,
        text_scheme=s.text_scheme,
        direction=direction,
        max_retries=s.max_retries,
        feedback_timeout_ms=s.feedback_timeout_ms,
        min_delivered=s.min_delivered,
    )
