"""Traditional schemes through PyAV: video h265 / jpeg, audio aac / opus / mp3 / flac / pcm.
The receiver plays them through a play-out buffer (order, freeze on a lost frame)."""

from __future__ import annotations

import threading
import time

import numpy as np
from av.video.frame import PictureType

from m3e.codecs.traditional import AudioDecoder, AudioEncoder, Packet, VideoDecoder, VideoEncoder
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


class TraditionalVideoEncoder(SchemeEncoder):
    def __init__(self, scheme: str, options: EncoderOptions, emit: Emit) -> None:
        super().__init__(scheme, options, emit)
        m = options.media
        self.codec = VideoEncoder(scheme, m.width, m.height, m.fps, gop=options.gop, crf=options.crf)
        self._force_keyframe = threading.Event()

    def video(self, item: VideoItem, rgb: object, captured: float) -> None:
        if self._force_keyframe.is_set():
            self._force_keyframe.clear()
            item.frame.pict_type = PictureType.I
        for p in self.codec.encode(item.frame):
            self.emit(_outgoing(p, Modality.VIDEO, self.scheme, captured))

    def restart(self) -> None:
        """The receiver's decoder lost its reference with the old link: the next frame is intra."""
        self._force_keyframe.set()


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
