"""m3e-audio: no audio stream goes. Per keyframe only T′ of its interval (a few dozen bytes,
strongly coded: ``small``); the receiver speaks the keyframe's sentence and sounds the events
it names, shaped by T′, on one track by presentation time (docs/m3e.md)."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from m3e.codecs.audio_semantic import RATE, encode_difference
from m3e.restore.audio_player import SegmentPlayer, to_int16
from m3e.schemes.base import (
    AudioBlock,
    AudioSchemeDecoder,
    DecoderOptions,
    Emit,
    EncoderOptions,
    Outgoing,
    SchemeEncoder,
)
from m3e.wire.messages import Burst, Modality, StreamHeader

if TYPE_CHECKING:
    from m3e.semantics.extractor import KeyframeSemantics

log = logging.getLogger("m3e.receiver")


class M3EAudioEncoder(SchemeEncoder):
    def __init__(self, scheme: str, options: EncoderOptions, emit: Emit) -> None:
        super().__init__(scheme, options, emit)
        self.audio_format = (RATE, 1, b"")

    def keyframe(self, k: KeyframeSemantics, index: int, captured: float) -> None:
        """T′ of the keyframe's audio interval (its pts: where that interval begins, which is
        after the keyframe when the keyframe before it spoke on), with its sentence's index. T′ is small
        (≈ 250 bit/s): strong coding costs little, and on 16-QAM 3/4 at 8 dB Rayleigh enough
        of it was lost to take the timbre from 0.83 to 0.71."""
        if k.audio is None:
            return
        data = encode_difference(k.audio)
        pts = k.audio_start_s
        self.emit(Outgoing(Modality.AUDIO, self.scheme, pts, data, captured, coding="small", index=index))


class M3EAudioDecoder(AudioSchemeDecoder):
    """Segments are regenerated on a thread of their own, in arrival order: speaking a sentence
    takes 100–300 ms on a busy machine, and on the session's thread it held the video played
    there (a low-latency picture stood still at every sentence). ``ready`` returns the segments
    regenerated since the last call. Nothing is regenerated when nobody listens
    (``DecoderOptions.listened``): speaking the sentences is the largest work of an M3E
    receiver's session after its keyframes, and a receiver with no sound card, no recording
    and no viewer plays its audio to nobody."""

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        super().__init__(header, options)
        self.player = SegmentPlayer()  # touched on the worker only
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="m3e-audio")
        self._done: queue.SimpleQueue[AudioBlock] = queue.SimpleQueue()

    def _then_play(self, change: Callable[[], None]) -> None:
        def run() -> None:
            try:
                change()
                for segment in self.player.ready(speak=self.options.listened()):
                    self._done.put(to_int16(segment))
            except Exception:  # one bad segment must not silence the rest
                log.exception("M3E audio segment failed")

        self._worker.submit(run)

    def payload(self, burst: Burst, payload: bytes, now: float) -> None:
        self._then_play(lambda: self.player.difference(burst.index, payload, burst.pts))

    def lost(self, burst: Burst) -> None:
        self._then_play(lambda: self.player.difference(burst.index, None, burst.pts))  # the sentence alone

    def sentence(self, index: int, text: str, pts: float, capture_time: float) -> None:
        self._then_play(lambda: self.player.text(index, text, pts))

    def ready(self, now: float) -> list[AudioBlock]:
        out = []
        while not self._done.empty():
            out.append(self._done.get_nowait())
        return out

    def flush(self, end_pts: float) -> list[AudioBlock]:
        """What was regenerated, then the rest (the worker has finished)."""
        self._worker.shutdown(wait=True)
        held = self.player.flush() if self.options.listened() else []
        return self.ready(end_pts) + [to_int16(segment) for segment in held]
