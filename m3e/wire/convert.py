"""``*_to_proto`` / ``*_from_proto``: the only place protobuf meets the domain types.

``*_from_proto`` validates what arrives from another process and raises ``ValueError``
with a one-line reason; servicers turn that into INVALID_ARGUMENT.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from m3e.phy.link import SMALLEST_BLOCK_BYTES
from m3e.wire import link_pb2 as pb
from m3e.wire.messages import (
    Burst,
    ChannelSettings,
    ChannelStats,
    Feedback,
    FeedbackKind,
    Modality,
    ReceiverStats,
    StreamHeader,
)

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_SYMBOLS = 3_000_000  # 12 MB on the wire: a 1 MB intra frame at QPSK rate 1/3 fits
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
MAX_BLOCKS = -(-MAX_PAYLOAD_BYTES // SMALLEST_BLOCK_BYTES)  # code blocks of the largest payload
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


def _scalars(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in skip}


def header_to_proto(h: StreamHeader) -> pb.StreamHeader:
    return pb.StreamHeader(**_scalars(h))


MAX_ID_CHARS = 64  # session ids and directions (the sender makes 8 hex digits)
MAX_AUDIO_CONFIG_BYTES = 1024  # decoder extradata: AAC's is 2–5 bytes, FLAC's 34, Opus's 19
SAMPLE_RATES = (8000, 192000)  # what the audio decoders and the recorder take
MAX_AUDIO_CHANNELS = 2


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def header_from_proto(m: pb.StreamHeader) -> StreamHeader:
    """Every field checked before anything is set up for it (decoders, recorder): a value out
    of range raises ValueError naming the field, its value cut short."""
    h = StreamHeader(**{f.name: getattr(m, f.name) for f in dataclasses.fields(StreamHeader)})
    if not h.session_id or len(h.session_id) > MAX_ID_CHARS or not h.session_id.isprintable():
        raise ValueError(f"session_id {_short(h.session_id)}: 1…{MAX_ID_CHARS} printable characters")
    if len(h.direction) > MAX_ID_CHARS or not h.direction.isprintable():
        raise ValueError(f"direction {_short(h.direction)}: at most {MAX_ID_CHARS} printable characters")
    if not (16 <= h.width <= 7680 and 16 <= h.height <= 4320) or h.width % 2 or h.height % 2:
        raise ValueError(f"unsupported resolution {h.width}x{h.height} (even, 16…7680 x 16…4320)")
    if not (math.isfinite(h.fps) and 0 < h.fps <= 240):
        raise ValueError(f"unsupported frame rate {h.fps}")
    if len(h.audio_config) > MAX_AUDIO_CONFIG_BYTES:
        raise ValueError(f"audio_config of {len(h.audio_config)} bytes exceeds {MAX_AUDIO_CONFIG_BYTES}")
    if h.audio_scheme:
        if not SAMPLE_RATES[0] <= h.sample_rate <= SAMPLE_RATES[1]:
            raise ValueError(f"sample_rate {h.sample_rate} outside {SAMPLE_RATES[0]}…{SAMPLE_RATES[1]} Hz")
        if not 1 <= h.audio_channels <= MAX_AUDIO_CHANNELS:
            raise ValueError(f"audio_channels {h.audio_channels} outside 1…{MAX_AUDIO_CHANNELS}")
    elif h.sample_rate or h.audio_channels or h.audio_config:
        raise ValueError("sample_rate, audio_channels and audio_config need an audio_scheme")
    from m3e import schemes  # the registry of names (no codec loads here)

    for modality, name in (
        (Modality.VIDEO, h.video_scheme),
        (Modality.AUDIO, h.audio_scheme),
        (Modality.TEXT, h.text_scheme),
    ):
        if (name or modality == Modality.VIDEO) and (modality, name) not in schemes.SCHEMES:
            raise ValueError(f"unknown {modality.name.lower()} scheme {_short(name)}")
    schemes.check_header(h)
    return h


IQ_FULL_SCALE = 32767  # the largest |I| or |Q| of a burst is sent as this many steps
FLOAT32_MAX = float(np.finfo(np.float32).max)


def symbols_to_bytes(iq: np.ndarray) -> tuple[bytes, float]:
    """(n,) complex -> (little-endian int16 I, Q pairs, the amplitude of one step).

    16 bits per component is half of complex64 on the wire and still puts the rounding
    error about 98 dB below the burst's largest symbol (docs/streaming.md)."""
    parts = np.ascontiguousarray(iq, dtype=np.complex64).view(np.float32)
    high, low = (float(parts.max()), float(parts.min())) if parts.size else (0.0, 0.0)
    if not (math.isfinite(high) and math.isfinite(low)):
        raise ValueError("symbols must be finite (NaN or inf found)")
    peak = max(high, -low)
    step = peak / IQ_FULL_SCALE if peak > 0 else 1.0
    scaled = parts * np.float32(1 / step)
    np.rint(scaled, out=scaled)
    return scaled.astype("<i2").tobytes(), step


def symbols_from_bytes(data: bytes, step: float) -> np.ndarray:
    """Inverse of ``symbols_to_bytes``: (n,) complex64; rejects ragged data or a bad step."""
    if len(data) % 4:
        raise ValueError(f"iq holds {len(data)} bytes, not a whole number of int16 I, Q pairs")
    if len(data) // 4 > MAX_SYMBOLS:
        raise ValueError(f"burst of {len(data) // 4} symbols exceeds the limit of {MAX_SYMBOLS}")
    if not 0 < step * IQ_FULL_SCALE <= FLOAT32_MAX:  # NaN fails too
        raise ValueError(f"iq_scale must be > 0 and small enough for finite symbols, got {_short(step)}")
    parts = np.frombuffer(data, dtype="<i2").astype(np.float32)
    parts *= np.float32(step)
    return parts.view(np.complex64)


def _fill_burst(m: pb.Burst, b: Burst) -> None:
    for name, value in _scalars(b, skip=("iq", "modality", "blocks")).items():
        setattr(m, name, value)
    m.modality = int(b.modality)  # type: ignore[assignment]
    m.blocks.extend(b.blocks)
    m.iq, m.iq_scale = symbols_to_bytes(b.iq)


def burst_to_proto(b: Burst) -> pb.Burst:
    m = pb.Burst()
    _fill_burst(m, b)
    return m


def burst_from_proto(m: pb.Burst) -> Burst:
    """Structural checks only (lengths, numbers, bounds); the receiver checks the rest."""
    if m.modality not in Modality._value2member_map_:
        raise ValueError(f"unknown modality {m.modality}")
    if m.payload_bytes > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {m.payload_bytes} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if not np.isfinite(m.pts) or not np.isfinite(m.code_rate):
        raise ValueError("pts and code_rate must be finite")
    if len(m.blocks) > MAX_BLOCKS or list(m.blocks) != sorted(set(m.blocks)):
        raise ValueError("blocks must be distinct code block numbers in increasing order")
    names = [f.name for f in dataclasses.fields(Burst) if f.name not in ("iq", "modality", "blocks")]
    return Burst(
        **{n: getattr(m, n) for n in names},
        modality=Modality(m.modality),
        iq=symbols_from_bytes(m.iq, m.iq_scale),
        blocks=tuple(m.blocks),
    )


def uplink(item: StreamHeader | Burst | tuple[str, float]) -> pb.Uplink:
    """One message of the sender's stream: its header, a burst, or its end as (session id,
    media time of the last frame)."""
    if isinstance(item, StreamHeader):
        return pb.Uplink(header=header_to_proto(item))
    if isinstance(item, Burst):
        msg = pb.Uplink()
        _fill_burst(msg.burst, item)  # in place: Uplink(burst=...) would copy the symbols again
        return msg
    session_id, end_pts = item
    return pb.Uplink(end=pb.StreamEnd(session_id=session_id, end_pts=end_pts))


def stats_to_proto(s: ReceiverStats) -> pb.ReceiverStats:
    return pb.ReceiverStats(**_scalars(s))


def stats_from_proto(m: pb.ReceiverStats) -> ReceiverStats:
    return ReceiverStats(**{f.name: getattr(m, f.name) for f in dataclasses.fields(ReceiverStats)})


def feedback_to_proto(f: Feedback) -> pb.Feedback:
    return pb.Feedback(
        session_id=f.session_id,
        seq=f.seq,
        kind=int(f.kind),  # type: ignore[arg-type]
        has_xi=f.xi is not None,
        xi=f.xi or 0.0,
        reason=f.reason,
        status_code=f.status_code,
        stats=stats_to_proto(f.stats) if f.stats else None,
        decoded_text=f.decoded_text,
        from_emulator=f.from_emulator,
        has_true_xi=f.true_xi is not None,
        true_xi=f.true_xi or 0.0,
        missing_blocks=f.missing_blocks,
    )


def feedback_from_proto(m: pb.Feedback) -> Feedback:
    if m.kind not in FeedbackKind._value2member_map_:
        raise ValueError(f"unknown feedback kind {m.kind}")
    return Feedback(
        session_id=m.session_id,
        seq=m.seq,
        kind=FeedbackKind(m.kind),
        xi=m.xi if m.has_xi else None,
        reason=m.reason,
        status_code=m.status_code,
        stats=stats_from_proto(m.stats) if m.HasField("stats") else None,
        decoded_text=m.decoded_text,
        from_emulator=m.from_emulator,
        true_xi=m.true_xi if m.has_true_xi else None,
        missing_blocks=tuple(m.missing_blocks[:MAX_BLOCKS]),
    )


def settings_to_proto(s: ChannelSettings) -> pb.ChannelSettings:
    return pb.ChannelSettings(**{k: v for k, v in _scalars(s).items() if v is not None})


def settings_from_proto(m: pb.ChannelSettings) -> ChannelSettings:
    return ChannelSettings(
        **{
            f.name: getattr(m, f.name) if m.HasField(f.name) else None
            for f in dataclasses.fields(ChannelSettings)
        }
    )


def channel_stats_to_proto(s: ChannelStats) -> pb.ChannelStats:
    return pb.ChannelStats(settings=settings_to_proto(s.settings), **_scalars(s, skip=("settings",)))


def channel_stats_from_proto(m: pb.ChannelStats) -> ChannelStats:
    names = [f.name for f in dataclasses.fields(ChannelStats) if f.name != "settings"]
    return ChannelStats(settings=settings_from_proto(m.settings), **{n: getattr(m, n) for n in names})
