"""A browser party's camera and microphone: WebRTC into the call process, a feed into its sender.

The call page offers its ``getUserMedia`` tracks (``POST /api/offer``); ``BrowserCapture``
answers as the server-side peer (aiortc: ICE, DTLS-SRTP, jitter buffer, VP8/Opus decoding,
RTCP feedback for the browser's congestion control) and hands every decoded frame and audio
block to the party's ``FeedPipe``, which writes them into its sender's stdin
(``m3e.media.feed``). The sender process runs the same pipeline as on a file or a webcam.

Degrade, never queue: the pipe holds at most ``MAX_PENDING_FRAMES`` frames for a sender that
falls behind (the oldest goes; the sender then sees fewer frames, so fewer motion updates and
keyframe tests), and at most ``MAX_PENDING_AUDIO_S`` of audio.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import IO

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from m3e.eval.stamps import read_stamp
from m3e.media.feed import MAGIC, audio_record, video_record

log = logging.getLogger("m3e.call")
MAX_PENDING_FRAMES = 2
MAX_PENDING_AUDIO_S = 1.0


class FeedPipe:
    """The newest media of one party on its way to the sender's stdin (a writer thread)."""

    def __init__(self) -> None:
        self._records: collections.deque[tuple[str, bytes, float]] = collections.deque()
        self._cond = threading.Condition()
        self._stream: IO[bytes] | None = None
        self._fresh = False  # the stream is new: it gets the feed's magic first
        self._closed = False
        self.frames_in = self.frames_dropped = 0
        threading.Thread(target=self._write, daemon=True, name="feed").start()

    def attach(self, stream: IO[bytes] | None) -> None:
        """From now on write to ``stream`` (a new sender process's stdin)."""
        with self._cond:
            self._stream, self._fresh = stream, True
            self._cond.notify()

    def put_video(self, captured: float, yuv: np.ndarray) -> None:
        with self._cond:
            self.frames_in += 1
            frames = [r for r in self._records if r[0] == "V"]
            if len(frames) >= MAX_PENDING_FRAMES:
                self._records.remove(frames[0])
                self.frames_dropped += 1
            self._records.append(("V", video_record(captured, yuv), 0.0))
            self._cond.notify()

    def put_audio(self, captured: float, sample_rate: int, samples: np.ndarray) -> None:
        with self._cond:
            seconds = len(samples) / sample_rate
            self._records.append(("A", audio_record(captured, sample_rate, samples), seconds))
            while sum(r[2] for r in self._records) > MAX_PENDING_AUDIO_S:
                oldest = next(r for r in self._records if r[0] == "A")
                self._records.remove(oldest)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _write(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or bool(self._stream and self._records))
                if self._closed:
                    return
                stream, fresh, (_, data, _) = self._stream, self._fresh, self._records.popleft()
                self._fresh = False
            assert stream is not None
            try:  # outside the lock: a slow sender holds only this thread
                stream.write(MAGIC + data if fresh else data)
                stream.flush()
            except (BrokenPipeError, ValueError, OSError):  # that sender ended (a scheme switch)
                with self._cond:
                    if self._stream is stream:
                        self._stream = None


class BrowserCapture:
    """The server-side WebRTC peer of one party's page."""

    def __init__(self, feed: FeedPipe, stamps_log: Path | None = None) -> None:
        self.feed = feed
        self._pc: RTCPeerConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stamps_log = stamps_log  # bench: (arrival, frame stamp) per frame, as JSON lines
        self.connected_at: float | None = None

    async def answer(self, sdp: str, kind: str) -> RTCSessionDescription:
        """The answer to the page's offer (a new offer replaces the previous connection)."""
        await self.close()
        pc = self._pc = RTCPeerConnection()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            read = self._video if track.kind == "video" else self._audio
            self._tasks.append(asyncio.ensure_future(read(track)))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("browser peer: %s", pc.connectionState)
            if pc.connectionState == "connected":
                self.connected_at = time.time()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription

    async def _video(self, track: MediaStreamTrack) -> None:
        log_file = self._stamps_log.open("a") if self._stamps_log else None
        with contextlib.suppress(MediaStreamError), log_file or contextlib.nullcontext():
            while True:
                frame = await track.recv()
                captured = time.time()
                assert isinstance(frame, av.VideoFrame)
                if frame.width % 2 or frame.height % 2:  # the feed carries even sizes only
                    frame = frame.reformat(frame.width & ~1, frame.height & ~1)
                yuv = np.asarray(frame.to_ndarray(format="yuv420p"), np.uint8)
                if log_file is not None:
                    luma = yuv[: yuv.shape[0] * 2 // 3]
                    log_file.write(json.dumps([captured, read_stamp(luma)]) + "\n")
                self.feed.put_video(captured, yuv)

    async def _audio(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                channels = len(frame.layout.channels)
                pcm = np.asarray(frame.to_ndarray())  # aiortc's Opus decoder gives packed s16
                pcm = pcm.T if frame.format.is_planar else pcm.reshape(-1, channels)
                if pcm.dtype != np.int16:
                    pcm = np.clip(pcm * 32768, -32768, 32767)
                samples = pcm.astype(np.int16)
                self.feed.put_audio(time.time(), frame.sample_rate, samples)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self._pc is not None:
            await self._pc.close()
            self._pc = None
