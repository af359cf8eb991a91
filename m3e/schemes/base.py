"""What every scheme is: an encoder (media -> payloads, sender side) and a decoder
(payloads -> frames, audio or texts, receiver side), the way CompressAI pairs ``compress`` and
``decompress``. The processes around them own only transport: channel coding, HARQ, pacing,
play-out timing and sinks. No network I/O here, and no protobuf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Literal, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from m3e.media.sources import SourceConfig
from m3e.restore.picture import Picture, pixels
from m3e.wire.messages import Burst, Modality, StreamHeader

if TYPE_CHECKING:
    from m3e.codecs.semantic_text import SentenceEstimate
    from m3e.media.sources import AudioItem, VideoItem
    from m3e.semantics.extractor import KeyframeSemantics

# How a payload is protected on air; the sender maps each to a transport coder.
#   stream: the stream's own modulation and LDPC rate (--modulation, --code-rate)
#   robust: QPSK 1/2, for what is stale if late (low-latency M3E pictures and motion)
#   small:  SMALL_LAYER_CODING, for tiny layers a keyframe depends on (T′)
#   analog: ``symbols`` are sent as they are, behind pilots (the learned semantic text); a
#           retransmission sends what ``Outgoing.again`` gives, or the same symbols
Coding = Literal["stream", "robust", "small", "analog"]


class Retransmission(NamedTuple):
    """What an analog scheme sends on a retransmission: symbols (n,) complex64 before pilots,
    the burst header's payload_bytes and redundancy version."""

    symbols: npt.NDArray[np.complex64]
    size: int
    rv: int


Resend = Callable[[int], Retransmission]  # attempt (≥ 1) -> what it carries


@dataclass
class Outgoing:
    """One payload an encoder hands to the sender.

    ``index`` is the payload's index within its modality (None: the next one). ``symbols``
    (n,) complex64 only for ``analog`` coding, with ``data`` empty and ``size`` what the burst
    header's payload_bytes carries. ``genie`` is the clean meaning for the emulator's
    measurements (it never reaches the receiver). ``on_ack`` runs when the receiver has it."""

    modality: Modality
    scheme: str
    pts: float
    data: bytes
    captured: float
    keyframe: bool = True
    coding: Coding = "stream"
    index: int | None = None
    symbols: npt.NDArray[np.complex64] | None = None
    size: int | None = None
    genie: bytes = b""
    on_ack: Callable[[], None] | None = None
    again: Resend | None = None  # analog: what retransmission ``attempt`` carries (None: the same)


Emit = Callable[[Outgoing], None]


@dataclass
class EncoderOptions:
    """What a scheme encoder may be configured with (built by the sender from its config)."""

    media: SourceConfig = field(default_factory=SourceConfig)
    gop: int = 30
    crf: int = 28
    m3e_budget: int = 5000  # M3E: at most this many bytes of V′ per keyframe (docs/m3e.md)
    low_latency: bool = False  # M3E: pictures at once and motion per frame, sentences later
    equal_rate_kbps: float = 8.0  # h265-equal-rate: the bit rate (M3E's own, docs/equal_rate.md)
    m3e_refresh_kbps: float = 4.0  # M3E low latency: new pictures between cuts (PictureRefresh)


@dataclass(frozen=True)
class Examined:
    """A frame the semantic workers examine (``ANALYSIS_FPS`` a second): (H, W, 3) uint8 RGB,
    and whether the keyframe test (eq 1–2, on the producer thread) made it a keyframe."""

    rgb: npt.NDArray[np.uint8]
    keyframe: bool


class SchemeEncoder:
    """Sender side of one scheme. Hooks the sender calls (each may ``emit`` any number of
    payloads, from any thread):

    - ``open()`` once, before the first frame;
    - ``video(item, examined, captured)`` for every source frame; ``examined`` (the RGB and
      the keyframe decision) only on frames the semantic workers examine, else None;
    - ``audio(item, captured)`` for every audio packet;
    - ``keyframe(k, index, captured)`` for every keyframe's semantics (on the semantic
      worker), ``index`` shared by everything sent about that keyframe;
    - ``restart()`` after the link came back (a decoder may have lost its state);
    - ``close()`` at the end of the source.
    """

    # audio encoders: (sample rate, channels, codec configuration) for the stream header
    audio_format: tuple[int, int, bytes] = (0, 0, b"")

    def __init__(self, scheme: str, options: EncoderOptions, emit: Emit) -> None:
        """Cheap: the stream header is built from encoders before any model loads."""
        self.scheme = scheme
        self.options = options
        self.emit = emit

    def open(self) -> None:
        """Load what is heavy (models), on the producer thread before the first frame."""

    def video(self, item: VideoItem, examined: Examined | None, captured: float) -> None:
        pass

    def audio(self, item: AudioItem, captured: float) -> None:
        pass

    def keyframe(self, k: KeyframeSemantics, index: int, captured: float) -> None:
        pass

    def restart(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class PlayedFrame:
    """A video decoder's output for one frame index, and what sinks and the viewer get."""

    index: int
    picture: Picture  # an M3E frame between keyframes is made when first looked at
    frozen: bool
    latency_ms: float | None

    @property
    def rgb(self) -> npt.NDArray[np.uint8]:
        return pixels(self.picture)


def always() -> bool:
    return True


@dataclass
class DecoderOptions:
    playout_delay_s: float = 0.3
    # whether someone hears the audio now (a sound card, a recording, the viewer showing this
    # session); an M3E voice nobody hears is not regenerated (docs/capacity.md)
    listened: Callable[[], bool] = always


Played = TypeVar("Played")
AudioBlock = npt.NDArray[np.int16]  # (n, channels) samples at the header's sample rate


class SchemeDecoder(Generic[Played]):
    """Receiver side of one video or audio scheme. The session hands it every payload that
    decoded (``payload``), every one given up after the last retransmission (``lost``) and
    every keyframe's sentence (``sentence``); ``ready(now)`` returns what is due for play-out
    (``PlayedFrame`` for video, ``AudioBlock`` for audio) and ``flush(end_pts)`` the rest."""

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        self.header = header
        self.options = options

    def payload(self, burst: Burst, payload: bytes, now: float) -> None:
        pass

    def lost(self, burst: Burst) -> None:
        pass

    def sentence(self, index: int, text: str, pts: float, capture_time: float) -> None:
        pass

    def ready(self, now: float) -> list[Played]:
        return []

    def flush(self, end_pts: float) -> list[Played]:
        return []

    def waiting(self) -> int:
        """Units decoded whose play-out time has not come (M3E's paced frames)."""
        return 0

    def first_shown(self) -> dict[int, int]:
        """Video: each picture's frame -> the first frame played with it, where a picture can
        come after its frame was played (low-latency M3E); empty where every frame plays at
        its own index."""
        return {}


VideoSchemeDecoder = SchemeDecoder[PlayedFrame]
AudioSchemeDecoder = SchemeDecoder[AudioBlock]


class TextSchemeDecoder:
    """Receiver side of a text scheme: a digital one ``decode``s a payload into its record
    ({"text": ..., ...}; ValueError when it is not one); an ``analog`` one ``receive``s the
    burst itself (soft-combined with earlier copies) into a sentence estimate with its ξ̂."""

    analog = False

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        self.header = header
        self.options = options

    def decode(self, payload: bytes) -> dict[str, object]:
        raise ValueError(f"{self.header.text_scheme} is not a digital text scheme")

    def receive(self, burst: Burst) -> SentenceEstimate:
        raise ValueError(f"{self.header.text_scheme} is not an analog text scheme")
