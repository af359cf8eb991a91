"""M3E keyframes: text as the main carrier, plus what the text cannot carry (paper §3.2).

Sender (``KeyframeSender.encode``): picks the memory that predicts the keyframe best (the
receiver's nearest-by-text, or an earlier keyframe of the same scene), estimates the global
motion onto it, generates the prediction P exactly as the receiver will, and codes the
difference V′ within the byte budget. Receiver (``KeyframeReceiver.decode``): P from the text
and the side information, then V′ on top; without V′ (lost, or the ablations) P alone.

Schemes (the paper's ablations): ``m3e`` (text + side information + V′), ``m3e-no-diff``
(text + side information, no V′), ``m3e-text-only`` (the text alone: exemplars only, no
session memory, no side information).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from m3e.codecs import M3E_SCHEMES
from m3e.codecs.difference import DIFFERENCE_CODERS, DifferenceCoder
from m3e.codecs.prediction import (
    IDENTITY,
    Image,
    KnowledgeBase,
    Memory,
    MotionReference,
    Prediction,
    coarse,
    exemplar_library,
    generate,
)

SCHEMES = M3E_SCHEMES
REFRESH_LEVEL = 6.0  # mean |Δ luma| at 1/4 size that the motion leaves, for a new picture
REFRESH_BYTES = 700  # V′ of such a picture
REFRESH_KBPS = 4.0  # such pictures' rate on average, by default


@dataclass(frozen=True)
class KeyframeMessage:
    """One keyframe on the wire: the sentence (sent by the text link), 12 bytes of side
    information (empty for text-only) and V′ (empty without differences)."""

    text: str
    side: bytes
    difference: bytes

    def payload(self) -> bytes:
        """What the video burst carries: u8 length of the side information, it, then V′."""
        return bytes([len(self.side)]) + self.side + self.difference

    @classmethod
    def from_payload(cls, text: str, payload: bytes | None) -> KeyframeMessage:
        """The text with what arrived of the video burst (None or malformed: text only)."""
        if not payload or payload[0] + 1 > len(payload):
            return cls(text, b"", b"")
        n = payload[0]
        return cls(text, payload[1 : 1 + n], payload[1 + n :])


class PictureRefresh:
    """Low latency: when to send the picture again between keyframes. A global motion cannot
    show a face talking or a hand moving; without new pictures the video holds one picture
    until the next cut (ten seconds on a talking head). A frame gets a new picture when what
    the motion leaves (``MotionReference.motion_and_error``) is at least ``level`` luma levels,
    within ``kbps`` of such pictures on average (a token bucket holding at most one second's
    worth). Keyframes (cuts) are not counted: they are sent whatever this says. Such a
    picture's V′ gets ``budget_bytes``: on the real clips 700 bytes kept all-frame SSIM highest
    at a given rate (400 left pictures too coarse, 5000 spent the rate on few pictures;
    docs/m3e.md)."""

    def __init__(self, kbps: float, level: float = REFRESH_LEVEL, budget_bytes: int = REFRESH_BYTES) -> None:
        self.kbps, self.level, self.budget_bytes = kbps, level, budget_bytes
        self._credit = 0.0  # bits
        self._time: float | None = None

    def choose(
        self, anchor: MotionReference | None, frame: Image, cut: bool, t: float, cut_budget: int
    ) -> tuple[int | None, npt.NDArray[np.float32] | None]:
        """What the low-latency sender sends for the examined frame at ``t`` s: ``(V′ budget,
        None)`` for a picture (a cut, or a change the motion from ``anchor`` cannot show), else
        ``(None, warp)`` for motion, or ``(None, None)`` before any picture. ``spent`` after."""
        if cut:
            return cut_budget, None
        if anchor is None:
            return None, None
        warp, error = anchor.motion_and_error(frame)
        return (self.budget_bytes, None) if self.wants(error, t) else (None, warp)

    def wants(self, error: float, t: float) -> bool:
        """Whether the frame at ``t`` s, ``error`` away from the moved picture, gets a picture."""
        self._fill(t)
        return self.kbps > 0 and error >= self.level and self._credit >= 0

    def spent(self, n_bytes: int, t: float) -> None:
        self._fill(t)
        self._credit -= 8 * n_bytes

    def _fill(self, t: float) -> None:
        if self._time is not None:
            self._credit = min(self.kbps * 1000, self._credit + max(0.0, t - self._time) * self.kbps * 1000)
        self._time = t


def _check(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown M3E scheme {scheme!r}; expected one of {SCHEMES}")
    return scheme


class _Side:
    def __init__(
        self, scheme: str, size: tuple[int, int], coder: str = "x265", exemplars: list[Memory] | None = None
    ) -> None:
        self.scheme = _check(scheme)
        self.kb = KnowledgeBase(size, list(exemplar_library()) if exemplars is None else exemplars)
        self.coder: DifferenceCoder = DIFFERENCE_CODERS[coder]()

    def remember(self, key: int, text: str, image: Image) -> None:
        """A keyframe the receiver has (the sender calls it once the receiver confirmed)."""
        if self.scheme != "m3e-text-only":
            self.kb.add(key, text, image)


class KeyframeSender(_Side):
    def encode(
        self, frame: Image, text: str | None, budget_bytes: int = 2000
    ) -> tuple[KeyframeMessage, Image]:
        """-> the message and the keyframe the receiver will rebuild from all of it. Without a
        text (low-latency mode: the picture goes before its sentence) only references the
        receiver can use without the text are chosen: the latest keyframe or mid-grey."""
        if text is None and self.scheme != "m3e":
            raise ValueError(f"{self.scheme} needs the text to rebuild a keyframe")
        if self.scheme == "m3e-text-only":
            assert text is not None
            return KeyframeMessage(text, b"", b""), generate(self.kb, text)
        candidates = [] if text is None else [self.kb.nearest(text)]
        small = coarse(frame)
        if self.kb.keyframes:
            candidates.append(next(reversed(self.kb.keyframes.values())))  # the latest keyframe
            # the earlier keyframe that looks most like this one (a scene seen before, its
            # text maybe worded otherwise: "a cup and a phone" lies nearer "a cat and a phone")
            alike = min(self.kb.keyframes.values(), key=lambda m: prediction_error(small, m.coarse))
            candidates.append(alike)
        if self.scheme == "m3e":
            candidates.append(self.kb.blank())  # when nothing known fits: plain intra coding
        final = self.scheme == "m3e-no-diff"
        best: tuple[float, Prediction] | None = None
        for memory in {m.key: m for m in candidates}.values():
            warp = memory.motion.estimate(frame) if memory.key >= 0 else IDENTITY
            # the receiver decodes the side information: predict from what it will read
            prediction = Prediction.from_bytes(Prediction(memory.key, warp).to_bytes())
            # compared unguided: guidance (30 classifier steps) changes little at 1/8 size
            predicted = generate(self.kb, text or "", prediction, guided=False)
            cost = prediction_error(small, coarse(predicted))
            if best is None or cost < best[0]:
                best = (cost, prediction)
        assert best is not None
        prediction = best[1]
        image = generate(self.kb, text or "", prediction, final=final)
        difference = b""
        if self.scheme == "m3e" and budget_bytes > 0:
            difference = self.coder.encode(frame, image, budget_bytes)
            image = self.coder.decode(image, difference)
        return KeyframeMessage(text or "", prediction.to_bytes(), difference), image


def prediction_error(real: npt.NDArray[np.float32], prediction: npt.NDArray[np.float32]) -> float:
    """Mean square error between two ``coarse`` pictures (1/8 size): what V′ must still carry.
    The fine detail costs V′ about the same whatever P is (a decoded keyframe lacks it too), so
    only the coarse error tells a good prediction from a bad one (a full-size measure chose
    mid-grey even for the same scene a second later)."""
    return float(np.mean((real - prediction) ** 2))


class KeyframeReceiver(_Side):
    def decode(self, message: KeyframeMessage) -> Image:
        """The keyframe from what arrived: a lost or malformed V′ (or side information)
        leaves the text-generated prediction, never an exception."""
        prediction = None
        if message.side and self.scheme != "m3e-text-only":
            try:
                prediction = Prediction.from_bytes(message.side)
            except ValueError:
                prediction = None
        image = generate(self.kb, message.text, prediction, final=self.scheme == "m3e-no-diff")
        if message.difference and self.scheme == "m3e":
            try:
                image = self.coder.decode(image, message.difference)
            except ValueError:
                pass  # damaged differences: the text-generated keyframe stands
        return image
