"""Where a session's played frames and audio go (the MP4 recording, the sound card, the
viewer) and the play-out statistics: frames per second over the last ``FPS_WINDOW_S`` (a
burst of frames released at once counts for what it is, not as thousands a second), capture-to-
play latency over the last 300 frames."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from m3e.media.sinks import Mp4Recorder, SoundCard
from m3e.schemes.base import AudioBlock, PlayedFrame
from m3e.wire.messages import ReceiverStats, StreamHeader

log = logging.getLogger("m3e.receiver")

FPS_WINDOW_S = 2.0


class Playback:
    def __init__(
        self,
        header: StreamHeader,
        out: str | None,
        sound_card: bool,
        on_frame: Callable[[PlayedFrame], None] | None = None,
        on_audio: Callable[[npt.NDArray[np.int16]], None] | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        """The recording and the sound card open at the first frame or audio (``on_start`` runs
        just before, and may still change ``out``): a session without media writes nothing and
        starts no thread."""
        self.header = header
        self.out = out
        self._sound_card = sound_card
        self._on_start = on_start
        self.started = False
        self.recorder: Mp4Recorder | None = None
        self.sound: SoundCard | None = None
        self.on_frame = on_frame
        self.on_audio = on_audio
        self.frames = 0
        self.frozen = 0
        self._latencies: deque[float] = deque(maxlen=300)
        self._play_times: deque[float] = deque()  # monotonic, the last FPS_WINDOW_S
        # the whole session, for the summary: (wall time played, latency ms or None, frozen)
        self.played: list[tuple[float, float | None, bool]] = []

    def _start(self) -> None:
        self.started = True
        if self._on_start is not None:
            self._on_start()
        h = self.header
        channels = max(1, h.audio_channels)
        sample_rate = h.sample_rate if h.audio_scheme else 0
        if self.out:
            self.recorder = Mp4Recorder(self.out, h.width, h.height, h.fps, sample_rate, channels)
        if h.audio_scheme and self._sound_card:
            self.sound = SoundCard(h.sample_rate, channels)

    def frame(self, frame: PlayedFrame) -> None:
        if not self.started:
            self._start()
        if self.recorder:
            self.recorder.write_video(frame.rgb, frame.index)
        self.frames += 1
        self.frozen += frame.frozen
        if frame.latency_ms is not None:
            self._latencies.append(frame.latency_ms)
        now = time.monotonic()
        self._play_times.append(now)
        while self._play_times[0] < now - FPS_WINDOW_S:
            self._play_times.popleft()
        self.played.append((time.time(), frame.latency_ms, frame.frozen))
        if self.on_frame:
            try:
                self.on_frame(frame)
            except Exception:  # a viewer problem must never stop reception
                log.exception("viewer failed on frame %d", frame.index)

    def audio(self, samples: AudioBlock) -> None:
        if not self.started:
            self._start()
        if self.recorder:
            self.recorder.write_audio(samples)
        if self.sound:
            self.sound.play(samples)
        if self.on_audio:
            self.on_audio(samples)

    def update(self, stats: ReceiverStats) -> None:
        stats.frames = self.frames
        stats.frames_frozen = self.frozen
        if self.played:
            since_first = time.time() - self.played[0][0]
            since = time.monotonic() - FPS_WINDOW_S
            recent = sum(t >= since for t in self._play_times)
            stats.fps = recent / max(0.5, min(FPS_WINDOW_S, since_first))
        if self._latencies:
            stats.latency_ms_p50 = float(np.percentile(self._latencies, 50))
            stats.latency_ms_p95 = float(np.percentile(self._latencies, 95))

    def mean_fps(self) -> float:
        """Frames a second from the first frame played to the last."""
        if len(self.played) < 2:
            return 0.0
        return (len(self.played) - 1) / max(1e-3, self.played[-1][0] - self.played[0][0])

    def close(self) -> None:
        """Finish the recording (it stays playable) and release the sound card."""
        if self.recorder:
            self.recorder.close()
        if self.sound:
            self.sound.close()
