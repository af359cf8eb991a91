from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Modality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODALITY_UNSPECIFIED: _ClassVar[Modality]
    MODALITY_VIDEO: _ClassVar[Modality]
    MODALITY_AUDIO: _ClassVar[Modality]
    MODALITY_TEXT: _ClassVar[Modality]
MODALITY_UNSPECIFIED: Modality
MODALITY_VIDEO: Modality
MODALITY_AUDIO: Modality
MODALITY_TEXT: Modality

class StreamHeader(_message.Message):
    __slots__ = ("session_id", "width", "height", "fps", "sample_rate", "audio_channels", "video_scheme", "audio_scheme", "audio_config", "text_scheme", "low_latency", "direction")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_SCHEME_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SCHEME_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TEXT_SCHEME_FIELD_NUMBER: _ClassVar[int]
    LOW_LATENCY_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    width: int
    height: int
    fps: float
    sample_rate: int
    audio_channels: int
    video_scheme: str
    audio_scheme: str
    audio_config: bytes
    text_scheme: str
    low_latency: bool
    direction: str
    def __init__(self, session_id: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fps: _Optional[float] = ..., sample_rate: _Optional[int] = ..., audio_channels: _Optional[int] = ..., video_scheme: _Optional[str] = ..., audio_scheme: _Optional[str] = ..., audio_config: _Optional[bytes] = ..., text_scheme: _Optional[str] = ..., low_latency: _Optional[bool] = ..., direction: _Optional[str] = ...) -> None: ...

class Burst(_message.Message):
    __slots__ = ("session_id", "seq", "pts", "modality", "scheme", "modulation", "code_rate", "rv", "attempt", "payload_bytes", "iq", "pilot_spacing", "pilot_count", "capture_time", "keyframe", "noise_var", "genie", "index", "blocks", "iq_scale")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PTS_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    MODULATION_FIELD_NUMBER: _ClassVar[int]
    CODE_RATE_FIELD_NUMBER: _ClassVar[int]
    RV_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    IQ_FIELD_NUMBER: _ClassVar[int]
    PILOT_SPACING_FIELD_NUMBER: _ClassVar[int]
    PILOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_FIELD_NUMBER: _ClassVar[int]
    NOISE_VAR_FIELD_NUMBER: _ClassVar[int]
    GENIE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    IQ_SCALE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    seq: int
    pts: float
    modality: Modality
    scheme: str
    modulation: str
    code_rate: float
    rv: int
    attempt: int
    payload_bytes: int
    iq: bytes
    pilot_spacing: int
    pilot_count: int
    capture_time: float
    keyframe: bool
    noise_var: float
    genie: bytes
    index: int
    blocks: _containers.RepeatedScalarFieldContainer[int]
    iq_scale: float
    def __init__(self, session_id: _Optional[str] = ..., seq: _Optional[int] = ..., pts: _Optional[float] = ..., modality: _Optional[_Union[Modality, str]] = ..., scheme: _Optional[str] = ..., modulation: _Optional[str] = ..., code_rate: _Optional[float] = ..., rv: _Optional[int] = ..., attempt: _Optional[int] = ..., payload_bytes: _Optional[int] = ..., iq: _Optional[bytes] = ..., pilot_spacing: _Optional[int] = ..., pilot_count: _Optional[int] = ..., capture_time: _Optional[float] = ..., keyframe: _Optional[bool] = ..., noise_var: _Optional[float] = ..., genie: _Optional[bytes] = ..., index: _Optional[int] = ..., blocks: _Optional[_Iterable[int]] = ..., iq_scale: _Optional[float] = ...) -> None: ...

class StreamEnd(_message.Message):
    __slots__ = ("session_id", "end_pts")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    END_PTS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    end_pts: float
    def __init__(self, session_id: _Optional[str] = ..., end_pts: _Optional[float] = ...) -> None: ...

class Uplink(_message.Message):
    __slots__ = ("header", "burst", "end")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    header: StreamHeader
    burst: Burst
    end: StreamEnd
    def __init__(self, header: _Optional[_Union[StreamHeader, _Mapping]] = ..., burst: _Optional[_Union[Burst, _Mapping]] = ..., end: _Optional[_Union[StreamEnd, _Mapping]] = ...) -> None: ...

class ReceiverStats(_message.Message):
    __slots__ = ("bursts", "payloads_ok", "payloads_lost", "nacks", "rejected", "frames", "fps", "latency_ms_p50", "latency_ms_p95", "bler", "frames_frozen")
    BURSTS_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_OK_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_LOST_FIELD_NUMBER: _ClassVar[int]
    NACKS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_P50_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_P95_FIELD_NUMBER: _ClassVar[int]
    BLER_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FROZEN_FIELD_NUMBER: _ClassVar[int]
    bursts: int
    payloads_ok: int
    payloads_lost: int
    nacks: int
    rejected: int
    frames: int
    fps: float
    latency_ms_p50: float
    latency_ms_p95: float
    bler: float
    frames_frozen: int
    def __init__(self, bursts: _Optional[int] = ..., payloads_ok: _Optional[int] = ..., payloads_lost: _Optional[int] = ..., nacks: _Optional[int] = ..., rejected: _Optional[int] = ..., frames: _Optional[int] = ..., fps: _Optional[float] = ..., latency_ms_p50: _Optional[float] = ..., latency_ms_p95: _Optional[float] = ..., bler: _Optional[float] = ..., frames_frozen: _Optional[int] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("session_id", "seq", "kind", "has_xi", "xi", "reason", "status_code", "stats", "decoded_text", "from_emulator", "has_true_xi", "true_xi", "missing_blocks")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Feedback.Kind]
        ACK: _ClassVar[Feedback.Kind]
        NACK: _ClassVar[Feedback.Kind]
        REJECTED: _ClassVar[Feedback.Kind]
        GIVE_UP: _ClassVar[Feedback.Kind]
    KIND_UNSPECIFIED: Feedback.Kind
    ACK: Feedback.Kind
    NACK: Feedback.Kind
    REJECTED: Feedback.Kind
    GIVE_UP: Feedback.Kind
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HAS_XI_FIELD_NUMBER: _ClassVar[int]
    XI_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    DECODED_TEXT_FIELD_NUMBER: _ClassVar[int]
    FROM_EMULATOR_FIELD_NUMBER: _ClassVar[int]
    HAS_TRUE_XI_FIELD_NUMBER: _ClassVar[int]
    TRUE_XI_FIELD_NUMBER: _ClassVar[int]
    MISSING_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    seq: int
    kind: Feedback.Kind
    has_xi: bool
    xi: float
    reason: str
    status_code: int
    stats: ReceiverStats
    decoded_text: str
    from_emulator: bool
    has_true_xi: bool
    true_xi: float
    missing_blocks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, session_id: _Optional[str] = ..., seq: _Optional[int] = ..., kind: _Optional[_Union[Feedback.Kind, str]] = ..., has_xi: _Optional[bool] = ..., xi: _Optional[float] = ..., reason: _Optional[str] = ..., status_code: _Optional[int] = ..., stats: _Optional[_Union[ReceiverStats, _Mapping]] = ..., decoded_text: _Optional[str] = ..., from_emulator: _Optional[bool] = ..., has_true_xi: _Optional[bool] = ..., true_xi: _Optional[float] = ..., missing_blocks: _Optional[_Iterable[int]] = ...) -> None: ...

class ChannelSettings(_message.Message):
    __slots__ = ("snr_db", "fading", "coherence", "k_factor", "symbol_rate", "delay_ms", "erasure_prob", "feedback_loss", "direction")
    SNR_DB_FIELD_NUMBER: _ClassVar[int]
    FADING_FIELD_NUMBER: _ClassVar[int]
    COHERENCE_FIELD_NUMBER: _ClassVar[int]
    K_FACTOR_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_RATE_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    ERASURE_PROB_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_LOSS_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    snr_db: float
    fading: str
    coherence: int
    k_factor: float
    symbol_rate: float
    delay_ms: float
    erasure_prob: float
    feedback_loss: float
    direction: str
    def __init__(self, snr_db: _Optional[float] = ..., fading: _Optional[str] = ..., coherence: _Optional[int] = ..., k_factor: _Optional[float] = ..., symbol_rate: _Optional[float] = ..., delay_ms: _Optional[float] = ..., erasure_prob: _Optional[float] = ..., feedback_loss: _Optional[float] = ..., direction: _Optional[str] = ...) -> None: ...

class ChannelStats(_message.Message):
    __slots__ = ("settings", "bursts", "symbols", "symbols_per_s", "erased_blocks", "rejected", "feedback_forwarded", "feedback_dropped", "streams", "texts_judged", "true_xi_mean", "true_damaged", "receiver_nacks", "decisions_agreed", "genie_nacks", "retransmit_by", "dropped")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    BURSTS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_PER_S_FIELD_NUMBER: _ClassVar[int]
    ERASED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FORWARDED_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_DROPPED_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    TEXTS_JUDGED_FIELD_NUMBER: _ClassVar[int]
    TRUE_XI_MEAN_FIELD_NUMBER: _ClassVar[int]
    TRUE_DAMAGED_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_NACKS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_AGREED_FIELD_NUMBER: _ClassVar[int]
    GENIE_NACKS_FIELD_NUMBER: _ClassVar[int]
    RETRANSMIT_BY_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    settings: ChannelSettings
    bursts: int
    symbols: int
    symbols_per_s: float
    erased_blocks: int
    rejected: int
    feedback_forwarded: int
    feedback_dropped: int
    streams: int
    texts_judged: int
    true_xi_mean: float
    true_damaged: int
    receiver_nacks: int
    decisions_agreed: int
    genie_nacks: int
    retransmit_by: str
    dropped: int
    def __init__(self, settings: _Optional[_Union[ChannelSettings, _Mapping]] = ..., bursts: _Optional[int] = ..., symbols: _Optional[int] = ..., symbols_per_s: _Optional[float] = ..., erased_blocks: _Optional[int] = ..., rejected: _Optional[int] = ..., feedback_forwarded: _Optional[int] = ..., feedback_dropped: _Optional[int] = ..., streams: _Optional[int] = ..., texts_judged: _Optional[int] = ..., true_xi_mean: _Optional[float] = ..., true_damaged: _Optional[int] = ..., receiver_nacks: _Optional[int] = ..., decisions_agreed: _Optional[int] = ..., genie_nacks: _Optional[int] = ..., retransmit_by: _Optional[str] = ..., dropped: _Optional[int] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("direction",)
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    direction: str
    def __init__(self, direction: _Optional[str] = ...) -> None: ...

class RouteRequest(_message.Message):
    __slots__ = ("direction", "target")
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    direction: str
    target: str
    def __init__(self, direction: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...
