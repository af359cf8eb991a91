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
    low_latency: bool = False  # M3E: pictures at once and motion per frame, sentences later
    text_scheme: str = "m3e-text"  # with semantics: "m3e-text" (learned symbols) or "json"
    direction: str = ""  # the emulator's route for this stream (a call: "a-b" or "b-a")


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
    last_receiver: dict[str, float] = field(default_factory=dict)


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
        low_latency=low_latency,
        text_scheme=s.text_scheme,
        direction=direction,
    )
