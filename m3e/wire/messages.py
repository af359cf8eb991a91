"""Domain messages of the link, free of protobuf (which stays at the process edge).

Field meanings are documented in protos/m3e/v1/link.proto.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


class Modality(enum.IntEnum):
    UNSPECIFIED = 0
    VIDEO = 1
    AUDIO = 2
    TEXT = 3


class FeedbackKind(enum.IntEnum):
    UNSPECIFIED = 0
    ACK = 1
    NACK = 2
    REJECTED = 3
    GIVE_UP = 4


class StatusCode(enum.IntEnum):
    """The gRPC status codes a feedback may carry (same numbers as grpc.StatusCode), so that
    the core names them without importing grpc."""

    OK = 0
    INVALID_ARGUMENT = 3
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9


@dataclass
class StreamHeader:
    session_id: str
    width: int
    height: int
    fps: float
    sample_rate: int = 0
    audio_channels: int = 0
    video_scheme: str = "h265"
    audio_scheme: str = ""
    audio_config: bytes = b""
    text_scheme: str = ""
    low_latency: bool = False
    direction: str = ""  # the emulator's route ("" = its default target)


@dataclass
class Burst:
    """One coded payload as channel symbols. iq: (n,) complex64, pilots included."""

    session_id: str
    seq: int
    pts: float
    modality: Modality
    scheme: str
    modulation: str
    code_rate: float
    payload_bytes: int
    iq: npt.NDArray[np.complex64]
    rv: int = 0
    attempt: int = 0
    pilot_spacing: int = 0
    pilot_count: int = 0
    capture_time: float = 0.0
    keyframe: bool = False
    noise_var: float = 0.0
    genie: bytes = b""
    index: int = 0
    blocks: tuple[int, ...] = ()  # the code blocks this transmission carries; () = all


@dataclass
class ReceiverStats:
    bursts: int = 0
    payloads_ok: int = 0
    payloads_lost: int = 0
    nacks: int = 0
    rejected: int = 0
    frames: int = 0  # played, or decoded and waiting for their play-out time
    fps: float = 0.0
    latency_ms_p50: float = 0.0
    latency_ms_p95: float = 0.0
    bler: float = 0.0
    frames_frozen: int = 0  # of the frames played, those without a picture of their own


@dataclass
class Feedback:
    session_id: str
    seq: int
    kind: FeedbackKind
    xi: float | None = None
    reason: str = ""
    status_code: int = 0
    stats: ReceiverStats | None = None
    decoded_text: str = ""
    from_emulator: bool = False
    true_xi: float | None = None
    missing_blocks: tuple[int, ...] = ()  # NACK: the code blocks still failing; () = all


@dataclass
class ChannelSettings:
    """Emulator settings; None leaves a setting unchanged in ``Control.Configure``."""

    snr_db: float | None = None
    fading: str | None = None
    coherence: int | None = None
    k_factor: float | None = None
    symbol_rate: float | None = None
    delay_ms: float | None = None
    erasure_prob: float | None = None
    feedback_loss: float | None = None
    direction: str | None = None  # Control: which route's channel (None = the default one)


@dataclass
class ChannelStats:
    settings: ChannelSettings = field(default_factory=ChannelSettings)
    bursts: int = 0
    symbols: int = 0
    symbols_per_s: float = 0.0
    erased_blocks: int = 0
    rejected: int = 0
    feedback_forwarded: int = 0
    feedback_dropped: int = 0
    streams: int = 0
    texts_judged: int = 0
    true_xi_mean: float = 0.0
    true_damaged: int = 0
    receiver_nacks: int = 0
    decisions_agreed: int = 0
    genie_nacks: int = 0
    retransmit_by: str = "receiver"
    dropped: int = 0  # bursts dropped for backlog
