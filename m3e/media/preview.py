"""A source shown beside what the receivers regenerate: decoded here in real time and kept as
the latest JPEG, for the demo's side-by-side page and the call page (a webcam belongs to its
sender alone: no preview then)."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

log = logging.getLogger(__name__)


class SourcePreview:
    """``source`` decoded from ``start()`` at ``fps`` (``delay_s`` later: about what the
    receivers' play-out adds); ``jpeg`` is the latest picture, ``pts`` its media time."""

    def __init__(self, source: str, width: int, height: int, fps: float, delay_s: float = 0.0) -> None:
        self.source, self.size, self.fps, self.delay_s = source, (width, height), fps, delay_s
        self.jpeg = b""
        self.pts = -1.0
        self.available = source != "webcam" and not source.startswith("webcam:")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"preview {source}", daemon=True)

    def start(self) -> None:
        if self.available and not self._thread.is_alive():
            self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from m3e.media.sinks import JpegEncoder
        from m3e.media.sources import MediaSource, SourceConfig, VideoItem

        encoder = JpegEncoder()
        try:
            source = MediaSource(self.source, SourceConfig(*self.size, fps=self.fps, sample_rate=16000))
        except Exception as exc:  # the sender reports a bad source; the page just shows none
            log.warning("no preview of %s: %s", self.source, exc)
            self.available = False
            return
        start = time.monotonic() + self.delay_s
        try:
            for item in source:
                if self._stop.is_set():
                    break
                if not isinstance(item, VideoItem):
                    continue
                if self._stop.wait(max(0.0, start + item.pts - time.monotonic())):
                    break
                self.jpeg = encoder.encode(np.asarray(item.frame.to_ndarray(format="rgb24"), np.uint8))
                self.pts = item.pts
        finally:
            source.close()
