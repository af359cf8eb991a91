"""The semantic extractor: frames and audio in, one ``KeyframeSemantics`` per keyframe out.

Each keyframe's audio is its keyframe interval, from the keyframe to the next one (at most
``max_audio_s``), except that a sentence is never cut: a cut while someone speaks moves to the
next pause (``speech_pauses``), and the next keyframe's audio begins there. A keyframe is
described as soon as its audio is complete (or at ``finish()``), so the text of a keyframe
lags it by 0.5–10 s in a live stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from m3e.semantics.audio import SAMPLE_RATE, AudioRecognizer
from m3e.semantics.fusion import FusionWeights, KeyframeText, fuse
from m3e.semantics.keyframes import KeyframeSelector, luma_thumbnail
from m3e.semantics.speech_pauses import CONTEXT_S, MAX_HOLD_S, WINDOW_S, speech_probability, utterance_end
from m3e.semantics.verification import SequenceVerifier
from m3e.semantics.vision import ImageRecognizer


@dataclass
class KeyframeSemantics:
    """What the sender transmits for keyframe i: objects o_1..o_n and the sentence e_i."""

    index: int  # frame number
    time_s: float
    objects: dict[str, float]
    text: str
    transcript: str
    labels: list[str] = field(default_factory=list)  # verified label set (eq 4)
    raw_labels: list[str] = field(default_factory=list)  # fused objects before verification
    latency_ms: dict[str, float] = field(default_factory=dict)
    rgb: npt.NDArray[np.uint8] | None = field(default=None, repr=False)  # the keyframe itself
    audio: npt.NDArray[np.float32] | None = field(default=None, repr=False)  # its interval, 16 kHz
    audio_start_s: float = 0.0  # when ``audio`` begins: after time_s when the keyframe before spoke on

    def to_json(self) -> dict[str, Any]:
        return {
            "time_s": round(self.time_s, 3),
            "objects": list(self.objects),
            "text": self.text,
            "transcript": self.transcript,
            "labels": self.labels,
        }


@dataclass
class _Pending:
    index: int
    time_s: float
    rgb: npt.NDArray[np.uint8]
    thumb_ms: float
    continuity: float
    end: float | None = None  # nominal end of its audio interval, once the next keyframe is known


class SemanticExtractor:
    def __init__(
        self,
        selector: KeyframeSelector | None = None,
        image: ImageRecognizer | None = None,
        audio: AudioRecognizer | None = None,
        weights: FusionWeights | None = None,
        verify: bool = True,
        max_audio_s: float = 6.0,
        use_image: bool = True,
        use_audio: bool = True,
    ) -> None:
        self.selector = selector or KeyframeSelector()
        self.image = image or ImageRecognizer()
        self.audio = audio or AudioRecognizer()
        self.weights = weights or FusionWeights()
        self.verifier = SequenceVerifier() if verify else None
        self.max_audio_s = max_audio_s
        self.use_image, self.use_audio = use_image, use_audio
        self._audio = np.zeros(0, dtype=np.float32)
        self._audio_start = 0.0  # time of self._audio[0]
        self._heard_until = 0.0  # audio before this went into an earlier keyframe's text
        self._looked_until = -1.0  # audio end when a pause was last looked for
        self._pending: list[_Pending] = []
        self.frame_test_ms: list[float] = []

    def load(self) -> None:
        """Load the recognisers' models now, before the first keyframe needs them."""
        if self.use_image:
            self.image.load()
        if self.use_audio:
            self.audio.load()
            speech_probability(np.zeros(SAMPLE_RATE, np.float32))

    # ---- input
    @property
    def _audio_end(self) -> float:
        return self._audio_start + self._audio.shape[0] / SAMPLE_RATE

    def push_audio(self, samples: npt.NDArray[np.float32]) -> list[KeyframeSemantics]:
        """Append 16 kHz mono float32 audio (continuing the previous samples)."""
        self._audio = np.concatenate([self._audio, np.asarray(samples, dtype=np.float32).reshape(-1)])
        return self._ready()

    def push_frame(self, rgb: npt.NDArray[np.uint8], index: int, time_s: float) -> list[KeyframeSemantics]:
        """Feed every frame; returns the semantics of keyframes whose audio interval is complete."""
        t0 = time.perf_counter()
        is_key = self.selector.update(luma_thumbnail(rgb), time_s)
        test_ms = (time.perf_counter() - t0) * 1000
        self.frame_test_ms.append(test_ms)
        if is_key:
            return self.push_keyframe(rgb, index, time_s, self.selector.continuity, test_ms)
        return self._ready()

    def push_keyframe(
        self, rgb: npt.NDArray[np.uint8], index: int, time_s: float, continuity: float, test_ms: float = 0.0
    ) -> list[KeyframeSemantics]:
        """A keyframe found by a selector outside (the sender's, on its producer thread):
        ``continuity`` is its eq-1 correlation with the keyframe before."""
        if self._pending and self._pending[-1].end is None:
            last = self._pending[-1]
            last.end = min(time_s, last.time_s + self.max_audio_s)
        self._pending.append(_Pending(index, time_s, rgb.copy(), test_ms, continuity))
        return self._ready()

    def finish(self) -> list[KeyframeSemantics]:
        """Describe the keyframes still waiting, with whatever audio followed them."""
        out = []
        while self._pending:
            end = self._audio_end_of(self._pending[0], complete=True)
            assert end is not None  # the audio is complete: always decided
            out.append(self._describe(self._pending.pop(0), end))
        return out

    def _limit(self, p: _Pending) -> float:
        return p.end if p.end is not None else p.time_s + self.max_audio_s

    def _ready(self) -> list[KeyframeSemantics]:
        out = []
        while self._pending and (end := self._audio_end_of(self._pending[0])) is not None:
            out.append(self._describe(self._pending.pop(0), end))
        return out

    def _audio_end_of(self, p: _Pending, complete: bool = False) -> float | None:
        """Where keyframe ``p``'s audio ends: its nominal end, or the pause after it when that
        falls inside speech; None until the audio heard decides."""
        cut = max(self._limit(p), self._heard_until)
        if complete:
            cut = min(cut, max(self._audio_end, self._heard_until, p.time_s))
        elif self._audio_end < cut or self._audio_end < self._looked_until + 0.1:
            return None  # (a pause is looked for at most every 0.1 s of new audio)
        if not self.use_audio:
            return cut
        self._looked_until = self._audio_end
        start = max(self._audio_start, cut - CONTEXT_S)
        speech = speech_probability(self._interval_audio(start, min(self._audio_end, cut + MAX_HOLD_S)))
        end = utterance_end(speech, round((cut - start) / WINDOW_S), complete)
        return None if end is None else max(cut, min(self._audio_end, start + end * WINDOW_S))

    # ---- work
    def _interval_audio(self, start: float, end: float) -> npt.NDArray[np.float32]:
        a = int(max(0.0, start - self._audio_start) * SAMPLE_RATE)
        b = int(max(0.0, end - self._audio_start) * SAMPLE_RATE)
        return self._audio[a:b]

    def _describe(self, k: _Pending, end: float) -> KeyframeSemantics:
        lat: dict[str, float] = {"keyframe_test": k.thumb_ms}
        t = time.perf_counter()
        seen = self.image(k.rgb) if self.use_image else []
        lat["image"] = (time.perf_counter() - t) * 1000
        start = min(max(k.time_s, self._heard_until), end)
        interval = self._interval_audio(start, end)
        self._heard_until, self._looked_until = end, -1.0
        heard, transcript = self.audio(interval) if self.use_audio else ([], "")
        lat.update(self.audio.last_ms if self.use_audio else {})
        t = time.perf_counter()
        fused: KeyframeText = fuse(seen, heard, transcript, self.weights)
        labels = list(fused.objects)
        if self.verifier is not None:
            labels, _ = self.verifier(
                {d.noun: d.confidence for d in seen}, {d.noun: d.confidence for d, _ in heard}, k.continuity
            )
        lat["fusion_verification"] = (time.perf_counter() - t) * 1000
        lat["total"] = sum(lat.values())
        # drop audio no waiting keyframe needs
        oldest = self._pending[0].time_s if self._pending else end
        keep_from = int(max(0.0, min(oldest, end) - self._audio_start) * SAMPLE_RATE)
        self._audio, self._audio_start = self._audio[keep_from:], self._audio_start + keep_from / SAMPLE_RATE
        return KeyframeSemantics(
            k.index,
            k.time_s,
            fused.objects,
            fused.text,
            fused.transcript,
            labels,
            list(fused.objects),
            lat,
            k.rgb,
            interval.copy(),
            start,
        )


def describe_file(
    path: str, extractor: SemanticExtractor | None = None, fps: float = 10.0
) -> list[KeyframeSemantics]:
    """Keyframes and their text for a media file (frames examined at ``fps``)."""
    from m3e.media.sources import AudioItem, MediaSource, SourceConfig, SourceError

    source = MediaSource(path, SourceConfig(width=720, height=480, fps=fps, sample_rate=SAMPLE_RATE))
    if not source.has_video:
        source.close()
        raise SourceError(f"{path} has no video stream (audio only?): there are no keyframes to describe")
    extractor = extractor or SemanticExtractor()
    out: list[KeyframeSemantics] = []
    try:
        for item in source:
            if isinstance(item, AudioItem):
                out += extractor.push_audio((item.samples[:, 0] / 32768).astype(np.float32))
            else:
                rgb = np.asarray(item.frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                out += extractor.push_frame(rgb, item.index, item.pts)
        out += extractor.finish()
    finally:
        source.close()
    return sorted(out, key=lambda k: k.time_s)


def semantics_as_json(items: list[KeyframeSemantics]) -> list[dict[str, Any]]:
    return [k.to_json() for k in items]
