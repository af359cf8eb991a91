"""Traditional source codecs through PyAV (FFmpeg): the baselines every semantic scheme is
compared with, and the first payloads of the streaming system.

Video: ``h265`` (libx265, ultrafast + zerolatency, a keyframe every ``gop`` frames with
VPS/SPS/PPS repeated so decoding can restart after a loss; constant quality ``crf``, or
average bit rate ``bitrate_kbps`` under a VBV cap) and ``jpeg`` (every frame intra).
``equal_rate_geometry`` picks the picture size and frame rate H.265 gets at a given low rate.
Audio: ``aac``, ``opus``, ``mp3``, ``flac``, ``pcm`` (s16le). Decoders never raise on damaged
data: a payload FFmpeg rejects yields nothing and is counted in ``errors``.
"""

from __future__ import annotations

import fractions
import logging
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from av.video.frame import PictureType

log = logging.getLogger(__name__)

VIDEO_SCHEMES = ("h265", "jpeg")
AUDIO_SCHEMES = {"aac": "aac", "opus": "libopus", "mp3": "libmp3lame", "flac": "flac", "pcm": "pcm_s16le"}
_AUDIO_DECODERS = {"aac": "aac", "opus": "libopus", "mp3": "mp3", "flac": "flac", "pcm": "pcm_s16le"}
_AUDIO_FORMATS = {"aac": "fltp", "opus": "s16", "mp3": "s16p", "flac": "s16", "pcm": "s16"}


@dataclass(frozen=True)
class Packet:
    """One encoded unit: ``data`` bytes, presentation time in seconds, keyframe flag."""

    data: bytes
    pts: float
    keyframe: bool = True


# H.265 at a low bit rate (kbit/s) codes a smaller picture at a lower frame rate: up to this
# rate, this fraction of the source's width and height at this many frames per second (and
# above the last row, the source's own size and rate). Measured on the sample clip at 8, 16,
# 32 and 64 kbit/s: whole-video SSIM 0.66 / 0.73 / 0.80 / 0.83; more pixels or frames at the
# same rate scored lower (8 kbit/s at 1/2 size 0.65, at 15 fps 0.64), docs/equal_rate.md.
EQUAL_RATE_TABLE: tuple[tuple[float, float, float], ...] = (
    (12.0, 1 / 3, 10.0),
    (40.0, 1 / 2, 10.0),
    (150.0, 2 / 3, 15.0),
)


def equal_rate_geometry(kbps: float, width: int, height: int, fps: float) -> tuple[int, int, float]:
    """(width, height, fps) H.265 codes a ``width`` x ``height`` @ ``fps`` source with at
    ``kbps`` kbit/s (``EQUAL_RATE_TABLE``); sizes even and at least 16, fps never above the
    source's."""
    if not kbps > 0:
        raise ValueError(f"a bit rate must be > 0 kbit/s, got {kbps}")
    scale, rate = 1.0, fps
    for limit, s, f in EQUAL_RATE_TABLE:
        if kbps <= limit:
            scale, rate = s, f
            break

    def even(n: int) -> int:
        return max(16, min(n, round(n * scale / 2) * 2))

    return even(width), even(height), min(fps, rate)


def check_video_scheme(scheme: str) -> str:
    if scheme not in VIDEO_SCHEMES:
        raise ValueError(f"unknown video scheme {scheme!r}; expected one of {list(VIDEO_SCHEMES)}")
    return scheme


def check_audio_scheme(scheme: str) -> str:
    if scheme not in AUDIO_SCHEMES:
        raise ValueError(f"unknown audio scheme {scheme!r}; expected one of {list(AUDIO_SCHEMES)}")
    return scheme


class VideoEncoder:
    """Encode yuv420p frames of a fixed size.

    Args:
        scheme: "h265" or "jpeg".
        width, height, fps: stream geometry.
        gop: frames between H.265 keyframes.
        crf: H.265 constant rate factor (quality; lower is better).
        bitrate_kbps: H.265 at this average bit rate instead of ``crf`` (x265 ABR), capped by a
            VBV buffer of ``vbv_s`` seconds at the same rate (an intra picture cannot burst
            past it).
        preset: x265 speed preset (live streams: ultrafast; single pictures can afford more).
        jpeg_q: JPEG quantiser scale 2 (best) … 31.
        extra: more x265 parameters ("key=value:..."), e.g. "ipratio=8".
        single_thread: x265 without its thread pool. On a busy CPU its threads wait on each
            other: one intra picture took 590 ms with three busy cores beside it, 150 ms
            single-threaded (46 vs 72 ms on an idle machine).
    """

    def __init__(
        self,
        scheme: str,
        width: int,
        height: int,
        fps: float,
        gop: int = 30,
        crf: int = 28,
        jpeg_q: int = 8,
        preset: str = "ultrafast",
        single_thread: bool = False,
        extra: str = "",
        bitrate_kbps: float | None = None,
        vbv_s: float = 2.0,
    ) -> None:
        self.scheme = check_video_scheme(scheme)
        self.fps = fps
        rate = fractions.Fraction(fps).limit_denominator(1001)
        if scheme == "h265":
            ctx: Any = av.CodecContext.create("libx265", "w")
            ctx.pix_fmt = "yuv420p"
            if bitrate_kbps is not None and not bitrate_kbps > 0:
                raise ValueError(f"a bit rate must be > 0 kbit/s, got {bitrate_kbps}")
            kbps = None if bitrate_kbps is None else max(1, round(bitrate_kbps))
            rc = (
                ""
                if kbps is None
                else f":bitrate={kbps}:vbv-maxrate={kbps}:vbv-bufsize={round(kbps * vbv_s)}"
            )
            ctx.options = {
                "preset": preset,
                "tune": "zerolatency",
                **({"crf": str(crf)} if kbps is None else {}),
                # info=0: no 2 KB encoder-settings SEI in the stream
                "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:info=0"
                ":log-level=error"
                + rc
                + (":pools=none:frame-threads=1" if single_thread else "")
                + (f":{extra}" if extra else ""),
            }
        else:
            ctx = av.CodecContext.create("mjpeg", "w")
            ctx.pix_fmt = "yuvj420p"
            ctx.options = {"qmin": str(jpeg_q), "qmax": str(jpeg_q)}
        ctx.width, ctx.height = width, height
        ctx.time_base = 1 / rate
        ctx.framerate = rate
        self._ctx = ctx
        self._index = 0

    def encode(self, frame: av.VideoFrame, keyframe: bool = False) -> list[Packet]:
        """One frame in (scaled to the encoder's size), zero or more packets out (zerolatency:
        normally exactly one); ``keyframe``: code this one intra."""
        f = frame.reformat(width=self._ctx.width, height=self._ctx.height, format=self._ctx.pix_fmt)
        if keyframe:
            f.pict_type = PictureType.I
        f.pts = self._index
        self._index += 1
        return [self._packet(p) for p in self._ctx.encode(f)]

    def flush(self) -> list[Packet]:
        return [self._packet(p) for p in self._ctx.encode(None)]

    def _packet(self, p: Any) -> Packet:
        return Packet(bytes(p), float((p.pts or 0) / self.fps), bool(p.is_keyframe))


class VideoDecoder:
    """Decode packets of ``scheme`` into RGB frames ((H, W, 3) uint8), scaled (bicubic) to
    ``size`` = (width, height) when given."""

    def __init__(self, scheme: str, size: tuple[int, int] | None = None) -> None:
        self.scheme = check_video_scheme(scheme)
        self._ctx: Any = av.CodecContext.create("hevc" if scheme == "h265" else "mjpeg", "r")
        self.size = size
        self.errors = 0

    def _rgb(self, f: Any) -> npt.NDArray[np.uint8]:
        if self.size is not None and (f.width, f.height) != self.size:
            f = f.reformat(width=self.size[0], height=self.size[1], interpolation="BICUBIC")
        rgb: npt.NDArray[np.uint8] = f.to_ndarray(format="rgb24")
        return rgb

    def decode(self, data: bytes) -> list[npt.NDArray[np.uint8]]:
        try:
            return [self._rgb(f) for f in self._ctx.decode(av.Packet(data))]
        except (av.error.FFmpegError, ValueError) as exc:
            # a damaged or undecodable frame: the player freezes on the last good one
            self.errors += 1
            log.debug("video decode error: %s", exc)
            return []

    def decode_all(self, packets: list[bytes]) -> list[npt.NDArray[np.uint8]]:
        """Every frame of a complete stream of packets, the decoder's delayed ones included."""
        frames = [f for p in packets for f in self.decode(p)]
        try:
            return frames + [self._rgb(f) for f in self._ctx.decode(None)]
        except (av.error.FFmpegError, ValueError):
            self.errors += 1
            return frames


class AudioEncoder:
    """Encode s16 audio ((n, channels) int16 chunks of any length) into packets."""

    def __init__(self, scheme: str, sample_rate: int, channels: int = 1) -> None:
        self.scheme = check_audio_scheme(scheme)
        if scheme == "opus" and sample_rate not in (8000, 12000, 16000, 24000, 48000):
            raise ValueError(f"opus needs 8/12/16/24/48 kHz audio, got {sample_rate} Hz")
        ctx: Any = av.CodecContext.create(AUDIO_SCHEMES[scheme], "w")
        ctx.sample_rate = sample_rate
        ctx.layout = "stereo" if channels == 2 else "mono"
        ctx.format = _AUDIO_FORMATS[scheme]
        ctx.time_base = fractions.Fraction(1, sample_rate)
        if scheme in ("aac", "mp3", "opus"):
            ctx.bit_rate = 64000 * channels
        ctx.open()
        self._ctx = ctx
        self.sample_rate = sample_rate
        self.channels = channels
        self._samples = 0

    @property
    def config(self) -> bytes:
        """Decoder extradata the receiver needs (sent once in the stream header)."""
        return bytes(self._ctx.extradata or b"")

    def encode(self, samples: npt.NDArray[np.int16]) -> list[Packet]:
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise ValueError(f"expected (n, {self.channels}) int16 samples, got {samples.shape}")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.T.reshape(1, -1) if self.channels == 1 else samples.reshape(1, -1)),
            format="s16",
            layout=self._ctx.layout.name,
        )
        frame.sample_rate = self.sample_rate
        frame.pts = self._samples
        self._samples += samples.shape[0]
        return [self._packet(p) for p in self._ctx.encode(frame)]

    def flush(self) -> list[Packet]:
        return [self._packet(p) for p in self._ctx.encode(None)]

    def _packet(self, p: Any) -> Packet:
        return Packet(bytes(p), float((p.pts or 0) / self.sample_rate))


class AudioDecoder:
    """Decode packets into (n, channels) int16 samples at ``sample_rate``."""

    def __init__(self, scheme: str, sample_rate: int, channels: int = 1, config: bytes = b"") -> None:
        self.scheme = check_audio_scheme(scheme)
        ctx: Any = av.CodecContext.create(_AUDIO_DECODERS[scheme], "r")
        ctx.sample_rate = sample_rate
        ctx.layout = "stereo" if channels == 2 else "mono"
        if scheme == "pcm":
            ctx.format = "s16"
        if config:
            ctx.extradata = config
        self._ctx = ctx
        self._resampler = av.AudioResampler(format="s16", layout=ctx.layout.name, rate=sample_rate)
        self.channels = channels
        self.errors = 0

    def decode(self, data: bytes) -> npt.NDArray[np.int16]:
        out = []
        try:
            for frame in self._ctx.decode(av.Packet(data)):
                for f in self._resampler.resample(frame):
                    out.append(f.to_ndarray().reshape(-1, self.channels))
        except (av.error.FFmpegError, ValueError) as exc:
            self.errors += 1
            log.debug("audio decode error: %s", exc)
        if not out:
            return np.zeros((0, self.channels), dtype=np.int16)
        return np.concatenate(out).astype(np.int16)
