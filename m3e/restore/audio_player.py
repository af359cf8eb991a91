"""M3E audio play-out: one regenerated segment per keyframe interval, laid on one continuous
track by presentation time (paper §3.1, audio processing).

Each keyframe's audio is rebuilt from its sentence (transcript and sound events) and T′ once
both are settled (T′ may be lost: the sentence alone then). Segments go out in keyframe order;
gaps before a segment are silence and an overlap trims the segment's start, so the track stays
in sync with the video's presentation times. Segments are faded at their edges
(``audio_semantic.fade``), so they join without clicks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from m3e.codecs import audio_semantic
from m3e.codecs.audio_semantic import RATE, Audio, regenerate_segment

log = logging.getLogger(__name__)

MAX_WAITING = 3  # segments held back by an unsettled earlier one before it is played as it is
_UNSET = b"\x00unset"


@dataclass
class _Segment:
    pts: float = 0.0  # the keyframe's
    start: float | None = None  # its audio interval's, from T′'s burst (later when a sentence ran on)
    text: str | None = None
    difference: bytes | None = _UNSET  # None: lost


class SegmentPlayer:
    """Feed ``text`` and ``difference`` per keyframe index in any order; ``ready`` returns
    (n,) float32 16 kHz audio continuing the track."""

    def __init__(self) -> None:
        self._segments: dict[int, _Segment] = {}
        self._next = 0  # the next keyframe index to play
        self._cursor: float | None = 0.0  # seconds of track written; None: from the next segment on
        self._mute_speech = False  # no speech synthesiser here: events and T′ only

    def text(self, index: int, text: str, pts: float) -> None:
        segment = self._segments.setdefault(index, _Segment())
        segment.text, segment.pts = text, pts

    def difference(self, index: int, payload: bytes | None, pts: float) -> None:
        """T′ of keyframe ``index`` (None: it was lost); ``pts``: where its audio interval begins."""
        segment = self._segments.setdefault(index, _Segment(pts))
        segment.difference, segment.start = payload, pts

    def ready(self, speak: bool = True) -> list[Audio]:
        """The segments settled, in order. ``speak`` False: they are dropped unspoken (nobody
        listens), and the track starts again at the next one spoken, without the silence of
        the time between."""
        out = []
        while self._segments:
            segment = self._segments.get(self._next)
            settled = segment is not None and segment.text is not None and segment.difference != _UNSET
            if not settled and len(self._segments) <= MAX_WAITING:
                break
            if segment is not None:
                if speak:
                    out.append(self._place(segment))
                else:
                    self._cursor = None
                del self._segments[self._next]
            self._next += 1
        return out

    def flush(self) -> list[Audio]:
        """Everything still held, as it is (the stream ended)."""
        out = []
        for index in sorted(self._segments):
            out.append(self._place(self._segments[index]))
        self._segments.clear()
        return out

    def _place(self, segment: _Segment) -> Audio:
        difference = None if segment.difference == _UNSET else segment.difference
        text = segment.text or ""
        try:
            audio = self._regenerate(text, difference)
        except ValueError:  # a damaged T′: the sentence alone
            audio = self._regenerate(text, None)
        start = segment.pts if segment.start is None else segment.start
        if self._cursor is None:
            self._cursor = start
        gap = round((start - self._cursor) * RATE)
        if gap > 0:
            audio = np.concatenate([np.zeros(gap, np.float32), audio])
        else:
            audio = audio[-gap:]
        self._cursor += audio.shape[0] / RATE
        return audio

    def _regenerate(self, text: str, difference: bytes | None) -> Audio:
        """The segment's audio; on a machine without a speech synthesiser (espeak-ng) its sound
        events and T′ without the speech, said once in the log, never a failed stream."""
        if not self._mute_speech:
            try:
                return regenerate_segment(text, difference)
            except RuntimeError as exc:
                log.warning("%s: M3E's audio goes on without the regenerated speech", exc)
                self._mute_speech = True
        return audio_semantic.regenerate("", difference, audio_semantic.sound_events(text))


def to_int16(audio: Audio) -> npt.NDArray[np.int16]:
    """(n,) float32 -> (n, 1) int16, what the recorder and the sound card take."""
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16).reshape(-1, 1)
