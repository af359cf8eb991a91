"""Traditional schemes through PyAV: video h265 / jpeg / h265-equal-rate, audio aac / opus /
mp3 / flac / pcm. The receiver plays them through a play-out buffer (order, freeze on a lost
frame).

``h265-equal-rate`` is H.265 at M3E's own bit rate (``EncoderOptions.equal_rate_kbps``, 8 kbit/s
unless set): x265's average-bit-rate control under a VBV cap, a keyframe every
``EQUAL_RATE_GOP_S`` seconds, on a smaller picture at a lower frame rate
(``m3e.codecs.traditional.equal_rate_geometry``); its decoder scales each picture back to
the stream's size and holds it until the next, so it plays at the stream's size and frame
rate like every other scheme (docs/equal_rate.md)."""

from __future__ import annotations

import threading
import time

import numpy as np

from m3e.codecs.traditional import (
    AudioDecoder,
    AudioEncoder,
    Packet,
    VideoDecoder,
    VideoEncoder,
    equal_rate_geometry,
)
from m3e.media.sources import AudioItem, VideoItem
from m3e.restore.playout import PlayoutBuffer
from m3e.schemes.base import (
    AudioBlock,
    DecoderOptions,
    Emit,
    EncoderOptions,
    Outgoing,
    Played,
    PlayedFrame,
    SchemeDecoder,
    SchemeEncoder,
)
from m3e.wire.messages import Burst, Modality, StreamHeader

EQUAL_RATE_GOP_S = 5.0  # h265-equal-rate: seconds between keyframes (the longest freeze after a loss)


class TraditionalVideoEncoder(SchemeEncoder):
    def __init__(self, scheme: str, options: EncoderOptions, emit: Emit) -> None:
        super().__init__(scheme, options, emit)
        m = options.media
        self.codec = VideoEncoder(scheme, m.width, m.height, m.fps, gop=options.gop, crf=options.crf)
        self._force_keyframe = threading.Event()

    def video(self, item: VideoItem, examined: object, captured: float) -> None:
        keyframe = self._force_keyframe.is_set()
        self._force_keyframe.clear()
        for p in self.codec.encode(item.frame, keyframe):
            self.emit(_outgoing(p, Modality.VIDEO, self.scheme, captured))

    def restart(self) -> None:
        """The receiver's decoder lost its reference with the old link: the next frame is intra."""
        self._force_keyframe.set()


class EqualRateVideoEncoder(TraditionalVideoEncoder):
    """H.265 at ``equal_rate_kbps``: a smaller picture at a lower frame rate (the source's
    frames in between are skipped), each payload stamped with its source frame's time."""

    def __init__(self, scheme: str, options: EncoderOptions, emit: Emit) -> None:
        SchemeEncoder.__init__(self, scheme, options, emit)
        m = options.media
        self.kbps = options.equal_rate_kbps
        width, height, self.fps = equal_rate_geometry(self.kbps, m.width, m.height, m.fps)
        gop = max(1, round(EQUAL_RATE_GOP_S * self.fps))
        self.codec = VideoEncoder("h265", width, height, self.fps, gop=gop, bitrate_kbps=self.kbps)
        self._force_keyframe = threading.Event()
        self._half_source_frame = 0.5 / m.fps
        self._next_pts = 0.0

    def video(self, item: VideoItem, examined: object, captured: float) -> None:
        if item.pts + self._half_source_frame < self._next_pts:
            return  # between two of the coded frames
        self._next_pts = max(self._next_pts + 1 / self.fps, item.pts + 0.5 / self.fps)
        keyframe = self._force_keyframe.is_set()
        self._force_keyframe.clear()
        for p in self.codec.encode(item.frame, keyframe):
            self.emit(Outgoing(Modality.VIDEO, self.scheme, item.pts, p.data, captured, keyframe=p.keyframe))


class TraditionalAudioEncoder(SchemeEncoder):
    def __init__(self, scheme: str, options: EncoderOptions, emit: Emit) -> None:
        super().__init__(scheme, options, emit)
        m = options.media
        self.codec = AudioEncoder(scheme, m.sample_rate, m.channels)
        self.audio_format = (m.sample_rate, m.channels, self.codec.config)

    def audio(self, item: AudioItem, captured: float) -> None:
        for p in self.codec.encode(item.samples):
            self.emit(_outgoing(p, Modality.AUDIO, self.scheme, captured))


def _outgoing(p: Packet, modality: Modality, scheme: str, captured: float) -> Outgoing:
    return Outgoing(modality, scheme, p.pts, p.data, captured, keyframe=p.keyframe)


class _Buffered(SchemeDecoder[Played]):
    """Packets wait in a play-out buffer by index (order, a lost one given up) until due."""

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        super().__init__(header, options)
        self.buffer = PlayoutBuffer[tuple[bytes, float]](options.playout_delay_s)

    def payload(self, burst: Burst, payload: bytes, now: float) -> None:
        self.buffer.put(burst.index, (payload, burst.capture_time), now)

    def lost(self, burst: Burst) -> None:
        self.buffer.give_up(burst.index)

    def flush(self, end_pts: float) -> list[Played]:
        return self.ready(time.monotonic() + 3600)


class TraditionalVideoDecoder(_Buffered[PlayedFrame]):
    """Frames decode in index order after the play-out delay; a lost one freezes the last."""

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        super().__init__(header, options)
        self.codec = VideoDecoder(header.video_scheme)
        self._last_rgb = np.zeros((header.height, header.width, 3), dtype=np.uint8)

    def ready(self, now: float) -> list[PlayedFrame]:
        out = []
        for index, item in self.buffer.pop_ready(now):
            rgb, frozen, latency = self._last_rgb, True, None
            if item is not None:
                frames = self.codec.decode(item[0])
                if frames:
                    rgb, frozen = frames[-1], False
                    self._last_rgb = rgb
                latency = (time.time() - item[1]) * 1000 if item[1] else None
            out.append(PlayedFrame(index, rgb, frozen, latency))
        return out


class TraditionalAudioDecoder(_Buffered[AudioBlock]):
    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        super().__init__(header, options)
        channels = max(1, header.audio_channels)
        self.codec = AudioDecoder(header.audio_scheme, header.sample_rate, channels, header.audio_config)

    def ready(self, now: float) -> list[AudioBlock]:
        return [self.codec.decode(item[0]) for _, item in self.buffer.pop_ready(now) if item is not None]


class EqualRateVideoDecoder(_Buffered[PlayedFrame]):
    """Pictures of any size scaled to the stream's, each played at the stream frame its pts
    falls on and held until the next; frames after a lost payload are marked frozen."""

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        super().__init__(header, options)
        self.codec = VideoDecoder("h265", (header.width, header.height))
        self._pts: dict[int, float] = {}
        self._last_rgb = np.zeros((header.height, header.width, 3), dtype=np.uint8)
        self._next_frame = 0  # the stream's next frame index to play
        self._lost = False  # a payload was lost since the last picture

    def payload(self, burst: Burst, payload: bytes, now: float) -> None:
        self._pts[burst.index] = burst.pts
        super().payload(burst, payload, now)

    def lost(self, burst: Burst) -> None:
        self._pts[burst.index] = burst.pts
        super().lost(burst)

    def _frame(self, pts: float) -> int:
        return round(pts * self.header.fps)

    def _hold(self, until: int) -> list[PlayedFrame]:
        """The last picture again for every frame before ``until``."""
        out = [PlayedFrame(i, self._last_rgb, self._lost, None) for i in range(self._next_frame, until)]
        self._next_frame = max(self._next_frame, until)
        return out

    def ready(self, now: float) -> list[PlayedFrame]:
        out: list[PlayedFrame] = []
        for index, item in self.buffer.pop_ready(now):
            pts = self._pts.pop(index, None)
            if pts is not None:  # the last picture holds until this one's time
                out += self._hold(self._frame(pts))
            if item is None or pts is None:
                self._lost = True  # skipped: what plays from here on is frozen
                continue
            frame = self._frame(pts)
            if frame < self._next_frame:
                continue  # a stray pts before what has played
            pictures = self.codec.decode(item[0])
            if pictures:
                self._last_rgb, self._lost = pictures[-1], False
            latency = (time.time() - item[1]) * 1000 if item[1] else None
            out.append(PlayedFrame(frame, self._last_rgb, not pictures or self._lost, latency))
            self._next_frame = frame + 1
        return out

    def flush(self, end_pts: float) -> list[PlayedFrame]:
        return self.ready(time.monotonic() + 3600) + self._hold(self._frame(end_pts) + 1)
