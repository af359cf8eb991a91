"""Media sources: whatever the user points at, as time-ordered video frames and audio chunks
at the configured resolution, frame rate and sample rate.

Specs: a file path (anything PyAV opens), ``testsrc`` (PyAV lavfi testsrc2 + a 440 Hz sine,
the embedded default input), ``webcam`` or ``webcam:/dev/videoN`` (PyAV v4l2, with the
default microphone through sounddevice when one exists), ``mic`` for the microphone alone,
``-`` for a live feed on stdin (``m3e.media.feed``: a browser's camera and microphone, handed
over by the call process).
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)
MAX_FILL_S = 0.2  # a live feed's gap beyond this is skipped (_FrameClock)


class SourceError(Exception):
    """A source cannot be opened or read; the message is one line for the user."""


@dataclass
class VideoItem:
    """Frame ``index`` (pts = index / fps), yuv420p at the configured size."""

    index: int
    pts: float
    frame: av.VideoFrame
    captured: float | None = None  # wall clock when it reached this machine (live feeds)


@dataclass
class AudioItem:
    """``samples``: (n, channels) int16 starting at ``pts`` seconds."""

    pts: float
    samples: npt.NDArray[np.int16]
    captured: float | None = None


MediaItem = VideoItem | AudioItem


@dataclass(frozen=True)
class SourceConfig:
    width: int = 720
    height: int = 480
    fps: float = 30.0
    sample_rate: int = 48000
    channels: int = 1
    duration: float | None = None  # seconds; None = until the source ends

    def __post_init__(self) -> None:
        if not (16 <= self.width <= 7680 and 16 <= self.height <= 4320) or self.width % 2 or self.height % 2:
            raise SourceError(f"unsupported resolution {self.width}x{self.height} (even, 16…7680 x 16…4320)")
        if not 1 <= self.fps <= 120:
            raise SourceError(f"unsupported frame rate {self.fps} (1…120)")
        if self.sample_rate not in (8000, 16000, 22050, 24000, 32000, 44100, 48000):
            raise SourceError(f"unsupported sample rate {self.sample_rate}")


class MediaSource:
    """A source opened from a spec; iterate it for ``VideoItem`` / ``AudioItem`` in pts order."""

    def __init__(self, spec: str, config: SourceConfig) -> None:
        self.spec = spec
        self.config = config
        self._containers: list[av.container.InputContainer] = []
        self._video: av.container.InputContainer | None
        self._audio: av.container.InputContainer | None
        self._microphone: Microphone | None = None
        self._feed = spec == "-"
        if self._feed:  # a browser party: video always, audio when its page gave a microphone
            self._video = self._audio = None
        elif spec == "testsrc":
            size = f"{config.width}x{config.height}"
            self._video = self._open(f"testsrc2=size={size}:rate={config.fps}", "lavfi")
            self._audio = self._open(
                f"sine=frequency=440:beep_factor=4:sample_rate={config.sample_rate}", "lavfi"
            )
        elif spec == "webcam" or spec.startswith("webcam:"):
            device = spec.partition(":")[2] or "/dev/video0"
            if not os.path.exists(device):
                raise SourceError(f"no webcam at {device}")
            opts = {"video_size": f"{config.width}x{config.height}", "framerate": str(int(config.fps))}
            self._video = self._open(device, "v4l2", opts)
            self._audio = None
            try:
                self._microphone = Microphone(config)
            except SourceError as exc:
                log.info("%s: streaming the webcam without sound", exc)
        elif spec == "mic":
            self._video = self._audio = None
            self._microphone = Microphone(config)
        else:
            if not os.path.exists(spec):
                raise SourceError(f"no such file: {spec}")
            if not os.access(spec, os.R_OK) or os.path.isdir(spec):
                raise SourceError(f"cannot read {spec}")
            probe = self._open(spec)
            has_v, has_a = bool(probe.streams.video), bool(probe.streams.audio)
            if not (has_v or has_a):
                raise SourceError(f"{spec} has neither video nor audio")
            # one container per stream: each decodes at its own pace, merged by pts
            self._video = probe if has_v else None
            self._audio = (self._open(spec) if has_v else probe) if has_a else None

    @property
    def live(self) -> bool:
        """Frames come at the pace they are taken (a camera, a microphone, a feed): nothing to
        pace, and a gap is skipped rather than filled."""
        return self._feed or self._microphone is not None or self.spec.startswith("webcam")

    @property
    def has_video(self) -> bool:
        return self._video is not None or self._feed

    @property
    def has_audio(self) -> bool:
        return self._audio is not None or self._microphone is not None or self._feed

    def _open(
        self, url: str, fmt: str | None = None, options: dict[str, str] | None = None
    ) -> av.container.InputContainer:
        try:
            c = av.open(url, format=fmt, options=options or {})
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"cannot open {url}: {exc.__class__.__name__}: {exc}".splitlines()[0]) from None
        self._containers.append(c)
        return c

    def close(self) -> None:
        for c in self._containers:
            c.close()
        if self._microphone is not None:
            self._microphone.close()

    def __iter__(self) -> Iterator[MediaItem]:
        if self._feed:
            yield from self._feed_items()
            return
        streams: list[Iterator[MediaItem]] = []
        if self._video is not None:
            streams.append(self._video_items(self._frames(self._video, "video")))
        if self._audio is not None:
            streams.append(self._audio_items(self._frames(self._audio, "audio")))
        if self._microphone is not None:
            streams.append(iter(self._microphone))
        limit = self.config.duration
        try:
            for item in heapq.merge(*streams, key=lambda it: it.pts):
                if limit is not None and item.pts >= limit:
                    break
                yield item
        except av.error.FFmpegError as exc:
            raise SourceError(f"cannot read {self.spec}: {exc}".splitlines()[0]) from None

    def _frames(self, container: av.container.InputContainer, kind: str) -> Iterator[Any]:
        """The decoded frames of ``container``'s first ``kind`` stream. A damaged packet is
        skipped with one log line (the decoder picks up again at the next one it can read):
        a corrupt stretch in the middle of a file costs those frames, not the stream."""
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        damaged = 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.EOFError:
                return
            except av.error.FFmpegError as exc:  # InvalidData, and EPERM from some decoders
                damaged += 1
                at = (
                    float(packet.pts * packet.time_base)
                    if packet.pts is not None and packet.time_base
                    else None
                )
                (log.warning if damaged == 1 else log.debug)(
                    "%s: skipped a damaged %s packet%s (%s)%s",
                    self.spec,
                    kind,
                    f" at {at:.2f} s" if at is not None else "",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    "; later ones are logged at debug level" if damaged == 1 else "",
                )
                continue
            yield from frames
        if damaged > 1:
            log.warning("%s: skipped %d damaged %s packets in all", self.spec, damaged, kind)

    def _video_items(self, frames: Iterator[av.VideoFrame]) -> Iterator[VideoItem]:
        """Resample to the configured size and frame rate (dropping or repeating frames)."""
        clock = _FrameClock(self.config)
        for frame in frames:
            t = float(frame.time) if frame.time is not None else clock.index / self.config.fps
            yield from clock.items(frame, t)

    def _audio_items(self, frames: Iterator[av.AudioFrame]) -> Iterator[AudioItem]:
        resample = _AudioClock(self.config)
        for frame in frames:
            yield from resample.items(frame)

    def _feed_items(self) -> Iterator[MediaItem]:
        """A live feed on stdin, timed by its capture clock (its first record is time 0)."""
        from m3e.media.feed import FeedError, FeedVideo, read_feed

        video, audio = _FrameClock(self.config, max_fill_s=MAX_FILL_S), _AudioClock(self.config)
        start: float | None = None
        try:
            for record in read_feed(sys.stdin.buffer):
                if start is None and record.captured < time.time() - MAX_FILL_S:
                    continue  # waited in the pipe while the reader was starting: not live
                start = record.captured if start is None else start
                if self.config.duration is not None and record.captured - start >= self.config.duration:
                    return  # a live feed's duration is wall-clock time
                if isinstance(record, FeedVideo):
                    picture = av.VideoFrame.from_ndarray(record.yuv, format="yuv420p")
                    yield from video.items(picture, record.captured - start, record.captured)
                else:
                    layout = "stereo" if record.samples.shape[1] == 2 else "mono"
                    pcm = record.samples.reshape(1, -1)  # packed s16: one plane
                    block = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
                    block.sample_rate = record.sample_rate
                    yield from audio.items(block, record.captured)
        except FeedError as exc:
            raise SourceError(str(exc)) from None


class _FrameClock:
    """Frames at any times -> the configured size and frame rate: every output frame whose time
    has come shows the newest source frame (dropping or repeating). A live source's gap longer
    than ``max_fill_s`` (frames dropped upstream) is skipped, not filled with repeats that
    would only delay what comes next: the frame numbers jump over it, so a frame's media time
    stays its capture time. (Closing the gap instead put the media time behind the capture
    clock by the gap; a low-latency receiver, whose play-out follows that clock, then stood
    still for as long as the gap, up to 9 s in a loaded browser call.)"""

    def __init__(self, config: SourceConfig, max_fill_s: float = float("inf")) -> None:
        self.config = config
        self.index = 0
        self.max_fill_s = max_fill_s
        self._start: float | None = None

    def items(self, frame: av.VideoFrame, t: float, captured: float | None = None) -> Iterator[VideoItem]:
        cfg = self.config
        self._start = t if self._start is None else self._start
        due = t - self._start + 0.5 / cfg.fps
        if due - self.index / cfg.fps > self.max_fill_s:
            self.index = int(due * cfg.fps)
        if self.index / cfg.fps > due:
            return
        converted = frame.reformat(cfg.width, cfg.height, "yuv420p")
        while self.index / cfg.fps <= due:
            yield VideoItem(self.index, self.index / cfg.fps, converted, captured)
            self.index += 1


class _AudioClock:
    """Audio frames -> int16 blocks at the configured rate and channels, timed by samples."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        layout = "stereo" if config.channels == 2 else "mono"
        self._resampler = av.AudioResampler(format="s16", layout=layout, rate=config.sample_rate)
        self._n = 0

    def items(self, frame: av.AudioFrame, captured: float | None = None) -> Iterator[AudioItem]:
        cfg = self.config
        for f in self._resampler.resample(frame):
            samples = f.to_ndarray().reshape(-1, cfg.channels)
            yield AudioItem(self._n / cfg.sample_rate, samples.astype(np.int16), captured)
            self._n += samples.shape[0]


class Microphone:
    """The default input device through sounddevice, as ``AudioItem`` blocks in real time."""

    def __init__(self, config: SourceConfig, block: int = 1024) -> None:
        try:
            import sounddevice
        except OSError as exc:  # the PortAudio library itself is missing
            raise SourceError(f"no microphone ({exc})") from None
        self._blocks: queue.Queue[npt.NDArray[np.int16]] = queue.Queue(maxsize=256)
        self.config = config
        try:
            self._stream = sounddevice.InputStream(
                samplerate=config.sample_rate,
                channels=config.channels,
                dtype="int16",
                blocksize=block,
                callback=lambda data, frames, t, status: self._blocks.put_nowait(data.copy()),
            )
            self._stream.start()
        except Exception as exc:  # PortAudio reports a missing device in several ways
            raise SourceError(f"no microphone ({str(exc).splitlines()[0] or type(exc).__name__})") from None

    def __iter__(self) -> Iterator[AudioItem]:
        n = 0
        while True:
            samples = self._blocks.get()
            yield AudioItem(n / self.config.sample_rate, samples)
            n += samples.shape[0]

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()
