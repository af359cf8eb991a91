"""Sinks for what the receiver regenerates: an MP4 recorder, the sound card, and JPEG
pictures (the viewer's and the call page's).

The recorder writes fragmented MP4 flushed by time (a fragment at every keyframe and at least
every ``FRAGMENT_S``; the muxer never holds video back waiting for late audio longer than
that), so a process stopped abruptly, even by SIGKILL, leaves a playable file with all but
about the last second of what it recorded. It encodes on a thread of its own: the
receiver's decoding never waits for the recording (x264 at 720×480 is the receiver's largest
cost), and ``close`` writes out everything queued.
"""

from __future__ import annotations

import fractions
import functools
import logging
import queue
import threading
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)
FRAGMENT_S = 0.5  # the most a SIGKILL may cost of a recording, beyond what is still queued


class Mp4Recorder:
    """H.264 + AAC recorder.

    Args:
        path: output file.
        width, height, fps: video geometry; frames are written at frame index / fps.
        sample_rate, channels: audio format (sample_rate 0: no audio track).
    """

    def __init__(
        self, path: str | Path, width: int, height: int, fps: float, sample_rate: int = 0, channels: int = 1
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = av.open(
            str(self.path),
            "w",
            format="mp4",
            options={
                "movflags": "frag_keyframe+empty_moov+default_base_moof",
                "frag_duration": str(int(FRAGMENT_S * 1e6)),  # µs: a fragment at least this often
                "flush_packets": "1",
                # by default the muxer holds packets up to 10 s until every stream has one (the
                # audio is late or absent at times): held video would die with the process
                "max_interleave_delta": str(int(FRAGMENT_S * 1e6)),
            },
        )
        rate = fractions.Fraction(fps).limit_denominator(1001)
        self._video = self._out.add_stream("libx264", rate=rate)
        self._video.width, self._video.height, self._video.pix_fmt = width, height, "yuv420p"
        # near-transparent re-encode: the recording should show what the receiver decoded
        self._video.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "crf": "16",
            "g": str(max(1, round(fps))),
        }
        self._audio: Any = None
        if sample_rate:
            self._audio = self._out.add_stream("aac", rate=sample_rate)
            self._audio.layout = "stereo" if channels == 2 else "mono"
        self.channels = channels
        self.sample_rate = sample_rate
        self.frames = 0
        self._samples = 0
        self._closed = False
        self._queue: queue.Queue[tuple[str, Any, int | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def write_video(self, rgb: npt.NDArray[np.uint8], index: int | None = None) -> None:
        """Queue one (H, W, 3) RGB frame; ``index`` defaults to the next frame."""
        self._queue.put(("video", rgb, index))

    def write_audio(self, samples: npt.NDArray[np.int16]) -> None:
        """Queue (n, channels) int16 samples following the previous ones."""
        self._queue.put(("audio", samples, None))

    @property
    def pending(self) -> int:
        """Items queued and not yet written."""
        return self._queue.unfinished_tasks

    def _run(self) -> None:
        from m3e.priority import run_in_background_priority

        run_in_background_priority()  # a recording may lag; the live picture must not
        while (item := self._queue.get()) is not None:
            kind, data, index = item
            try:
                if kind == "video":
                    self._write_video(data, index)
                else:
                    self._write_audio(data)
            except Exception:  # a bad frame must not end the recording
                log.exception("recording failed on a %s item", kind)
            self._queue.task_done()

    def _write_video(self, rgb: npt.NDArray[np.uint8], index: int | None) -> None:
        w, h = self._video.width, self._video.height
        if rgb.shape[:2] == (h, w) and w % 2 == 0 and h % 2 == 0:
            # OpenCV's BT.601 conversion: within one level of swscale's, 17x faster (0.09 vs
            # 1.5 ms at 720x480), and it ran on every frame the receiver played
            i420 = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), np.uint8)
            frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(w, h, "yuv420p")
        frame.pts = self.frames if index is None else index
        for p in self._video.encode(frame):
            self._out.mux(p)
        self.frames += 1

    def _write_audio(self, samples: npt.NDArray[np.int16]) -> None:
        if self._audio is None or samples.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.reshape(1, -1)), format="s16", layout=self._audio.layout.name
        )
        frame.sample_rate = self.sample_rate
        frame.pts = self._samples
        self._samples += samples.shape[0]
        for p in self._audio.encode(frame):
            self._out.mux(p)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        for stream in (self._video, self._audio):
            if stream is not None:
                for p in stream.encode(None):
                    self._out.mux(p)
        self._out.close()


@functools.cache
def sound_card_present() -> bool:
    """Whether this machine has a default output device (PortAudio, through sounddevice)."""
    try:
        import sounddevice

        return bool(sounddevice.query_devices(kind="output"))
    except Exception:  # no PortAudio, no device
        return False


class SoundCard:
    """Plays (n, channels) int16 audio through sounddevice, or does nothing (with one log
    line) when there is no sound card or no PortAudio."""

    def __init__(self, sample_rate: int, channels: int = 1) -> None:
        self._stream: Any = None
        try:
            import sounddevice

            self._stream = sounddevice.OutputStream(samplerate=sample_rate, channels=channels, dtype="int16")
            self._stream.start()
        except Exception as exc:
            log.info(
                "no sound card (%s): audio goes to the recorder and the viewer only",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            self._stream = None

    @property
    def available(self) -> bool:
        return self._stream is not None

    def play(self, samples: npt.NDArray[np.int16]) -> None:
        if self._stream is not None and samples.size:
            self._stream.write(np.ascontiguousarray(samples))

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


class JpegEncoder:
    """RGB frames to JPEG through OpenCV's libjpeg-turbo: 0.9 ms a 720×480 frame, against
    3.2 ms through PyAV's mjpeg encoder (its colour conversion alone 1.5 ms); a viewer and a
    call page encode every frame they show."""

    def __init__(self, quality: int = 75) -> None:
        self.quality = quality

    def encode(self, rgb: npt.NDArray[np.uint8]) -> bytes:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"could not encode a {rgb.shape} frame as JPEG")
        return jpeg.tobytes()
