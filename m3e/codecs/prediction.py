"""R(·): a keyframe from its text (paper eq 11–12), with what a receiver can hold.

No text-to-image model exists offline, so the generator is a **knowledge base** keyed by text
embeddings (MiniLM, as ξ): exemplar pictures labelled once by our own recogniser, and every
keyframe the receiver has decoded in this session. The text picks the nearest entry; the
sender may name a better one (a keyframe of the same scene) and add a global motion (a
4-parameter similarity warp) so that a scene already seen costs a few bytes. When the picked
picture does not show what the text says (the classifier's top-5 misses every noun of the
text), a few steps of classifier guidance (gradient ascent of those nouns' ImageNet classes
on a low-frequency change to the picture) make it show it: that is what "text only" can do
here, and ``bench.m3e`` reports how far it is from the real keyframe.

Images are (H, W, 3) uint8.
"""

from __future__ import annotations

import functools
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from m3e.loading import announce
from m3e.semantics.vocabulary import imagenet_noun

Image = npt.NDArray[np.uint8]
IDENTITY = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
BLANK = -(2**30)  # the reference a sender names when nothing known resembles the keyframe: mid-grey


@dataclass
class Memory:
    key: int  # keyframe index (>= 0) or exemplar (< 0)
    text: str
    embedding: npt.NDArray[np.float32]  # (384,)
    image: Image

    # made once per picture, not once per keyframe sent: a low-latency sender compares every
    # new picture with all 64 it remembers, which took half of a picture's time
    @functools.cached_property
    def coarse(self) -> npt.NDArray[np.float32]:
        """``coarse(image)``."""
        return coarse(self.image)

    @functools.cached_property
    def motion(self) -> MotionReference:
        return MotionReference(self.image)


class KnowledgeBase:
    """Exemplars and decoded keyframes at one frame size, nearest by text embedding."""

    def __init__(self, size: tuple[int, int], exemplars: list[Memory], capacity: int = 64) -> None:
        self.size = size  # (width, height)
        self.exemplars = [Memory(m.key, m.text, m.embedding, fit(m.image, size)) for m in exemplars]
        self.keyframes: OrderedDict[int, Memory] = OrderedDict()
        self.capacity = capacity

    def add(self, key: int, text: str, image: Image) -> None:
        # a low-latency picture has no text yet: nothing to find it by (and no encoder run)
        embedding = embed([text])[0] if text else np.zeros(384, np.float32)
        self.keyframes[key] = Memory(key, text, embedding, image)
        while len(self.keyframes) > self.capacity:
            self.keyframes.popitem(last=False)

    def get(self, key: int) -> Memory | None:
        if key == BLANK:
            return self.blank()
        if key >= 0:
            return self.keyframes.get(key)
        return next((m for m in self.exemplars if m.key == key), None)

    def blank(self) -> Memory:
        """Mid-grey: the base a sender names when nothing known resembles the keyframe."""
        w, h = self.size
        return Memory(BLANK, "", np.zeros(384, np.float32), np.full((h, w, 3), 128, np.uint8))

    def nearest(self, text: str, keyframes: bool = True) -> Memory:
        """The entry whose text is closest to ``text`` (the latest keyframe on ties)."""
        pool = self.exemplars + (list(self.keyframes.values()) if keyframes else [])
        e = embed([text])[0]
        scores = [float(m.embedding @ e) + 1e-6 * i for i, m in enumerate(pool)]
        return pool[int(np.argmax(scores))]


def coarse(image: Image) -> npt.NDArray[np.float32]:
    """(H, W, 3) -> (H/8, W/8, 3) float32: the coarse picture a prediction is judged by."""
    h, w = image.shape[:2]
    return np.asarray(cv2.resize(image, (w // 8, h // 8), interpolation=cv2.INTER_AREA), np.float32)


def fit(image: Image, size: tuple[int, int]) -> Image:
    """Cover-crop and resize to (width, height)."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    cw, ch = round(w / scale), round(h / scale)
    y0, x0 = (ih - ch) // 2, (iw - cw) // 2
    return np.asarray(
        cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_AREA), np.uint8
    )


def embed(texts: list[str]) -> npt.NDArray[np.float32]:
    from m3e.semantics.similarity import sentence_encoder

    return sentence_encoder()(texts)


@functools.cache
@announce("the knowledge base (exemplar pictures)")
def exemplar_library() -> tuple[Memory, ...]:
    """Offline pictures the test clips do not use (scikit-image's and frames of Big Buck
    Bunny; never the real clips of the evaluation), each described once by our recogniser in
    the sender's sentence form (the texts are cached per machine: describing them takes ~20 s)."""
    import json
    import os
    from pathlib import Path

    from m3e.media.offline import TRAINING_PICTURES, TRAINING_VIDEOS, picture, sample_videos, video_frames

    pictures = [picture(n) for n in TRAINING_PICTURES]
    pictures += [f for path in sample_videos(TRAINING_VIDEOS) for f in video_frames(path, every=40)]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "m3e" / "exemplars.json"
    texts: list[str] = json.loads(cache.read_text()) if cache.exists() else []
    if len(texts) != len(pictures):
        from m3e.semantics.fusion import fuse
        from m3e.semantics.vision import ImageRecognizer

        recognise = ImageRecognizer()
        texts = [fuse(recognise(p), []).text for p in pictures]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(texts))
    embeddings = embed(texts)
    return tuple(
        Memory(-1 - i, t, embeddings[i], p) for i, (t, p) in enumerate(zip(texts, pictures, strict=True))
    )


# ---------------------------------------------------------------- motion (sender -> receiver)
class MotionReference:
    """A picture that frames are measured against, again and again (the sender's keyframe,
    ten times a second): its ORB features and small luma are computed once, not per frame,
    which halves the motion estimate's cost on the sender's real-time thread. Results are the
    same as ``estimate_motion`` / ``camera_motion`` on the picture."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self._scale = 0.5 if image.shape[1] >= 640 else 1.0  # half size for frames 640 wide or more
        small = self._gray(image)
        self._patch = 31 if min(small.shape) >= 200 else 15  # small pictures: features nearer the border
        self._features = self._orb().detectAndCompute(small, None)
        h, w = image.shape[:2]
        self._quarter_size = (max(1, w // 4), max(1, h // 4))
        self._quarter = self._quarter_luma(image)

    def _gray(self, im: Image) -> npt.NDArray[np.uint8]:
        s = self._scale
        return np.asarray(cv2.cvtColor(cv2.resize(im, None, fx=s, fy=s), cv2.COLOR_RGB2GRAY), np.uint8)

    def _orb(self) -> cv2.ORB:
        return cv2.ORB.create(800, edgeThreshold=self._patch, patchSize=self._patch)

    def _quarter_luma(self, im: Image) -> npt.NDArray[np.float32]:
        small = cv2.resize(im, self._quarter_size, interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), np.float32)

    def estimate(self, real: Image) -> npt.NDArray[np.float32]:
        """A similarity warp (2, 3) taking the picture onto ``real`` (ORB matches, RANSAC); the
        identity when too few points agree."""
        k1, d1 = self._features
        k2, d2 = self._orb().detectAndCompute(self._gray(real), None)
        if d1 is None or d2 is None or len(k1) < 8 or len(k2) < 8:
            return IDENTITY.copy()
        matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d1, d2)
        if len(matches) < 8:
            return IDENTITY.copy()
        src = np.array([k1[m.queryIdx].pt for m in matches], np.float32) / self._scale
        dst = np.array([k2[m.trainIdx].pt for m in matches], np.float32) / self._scale
        warp, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=4.0)
        if warp is None or inliers is None or int(inliers.sum()) < 8:
            return IDENTITY.copy()
        return warp.astype(np.float32)

    def camera_motion(self, frame: Image) -> npt.NDArray[np.float32]:
        """The warp the receiver should move the picture by to show ``frame``: ``estimate``'s
        when it brings the picture closer to the frame (mean luma error at 1/4 size, over the
        pixels it keeps inside), else the identity. Features on a moving head or hand can
        outvote a still background; moving the whole picture with them is worse than holding
        it (on the talking-head clip, all-frame SSIM 0.73 moved against 0.78 held)."""
        return self.motion_and_error(frame)[0]

    def motion_and_error(self, frame: Image) -> tuple[npt.NDArray[np.float32], float]:
        """``camera_motion``'s warp and what it leaves: the mean absolute luma error (0–255) at
        1/4 size between the frame and the picture moved by it, over the pixels it keeps
        inside (what a global motion cannot show: a face talking, a hand moving)."""
        warp = self.estimate(frame)
        ref, cur, size = self._quarter, self._quarter_luma(frame), self._quarter_size
        quarter = warp.copy()
        quarter[:, 2] /= 4
        moved = cv2.warpAffine(ref, quarter, size, borderMode=cv2.BORDER_REFLECT101)
        inside = cv2.warpAffine(np.ones_like(ref), quarter, size) > 0.999
        held = float(np.abs(ref - cur).mean())
        if not inside.any():
            return IDENTITY.copy(), held
        error = float(np.abs(moved - cur)[inside].mean())
        return (warp, error) if error < float(np.abs(ref - cur)[inside].mean()) else (IDENTITY.copy(), held)


def estimate_motion(reference: Image, real: Image) -> npt.NDArray[np.float32]:
    """``MotionReference(reference).estimate(real)``, for a reference used once."""
    return MotionReference(reference).estimate(real)


def camera_motion(keyframe: Image, frame: Image) -> npt.NDArray[np.float32]:
    """``MotionReference(keyframe).camera_motion(frame)``, for a keyframe used once."""
    return MotionReference(keyframe).camera_motion(frame)


def apply_motion(image: Image, warp: npt.NDArray[np.float32]) -> Image:
    h, w = image.shape[:2]
    return np.asarray(cv2.warpAffine(image, warp, (w, h), borderMode=cv2.BORDER_REPLICATE), np.uint8)


# ---------------------------------------------------------------- classifier guidance
def text_classes(text: str) -> list[int]:
    """ImageNet classes whose noun appears in the text ("a cat is meowing" -> the cat classes)."""
    words = set(re.findall(r"[a-z]+(?: [a-z]+)?", text.lower().split(":")[0]))
    words |= {w for phrase in list(words) for w in phrase.split()}
    return [i for i in range(1000) if imagenet_noun(i) in words]


def guide(image: Image, classes: list[int], steps: int = 30, strength: float = 0.3) -> Image:
    """Gradient ascent of the classes' log-probability on a smooth change of the picture (a
    56×56 grid upsampled to full size), through the classifier's own 224² resize, until one
    of them is in its top 3 (a margin over the top 5 the caller checks after rounding)."""
    import torch
    import torch.nn.functional as F

    from m3e.semantics.vision import _classifier

    if not classes:
        return image
    net = _classifier()
    h, w = image.shape[:2]
    base = torch.from_numpy(np.ascontiguousarray(image)).float().permute(2, 0, 1)[None]
    delta = torch.zeros(1, 3, 56, 56, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=4.0)
    target = torch.tensor(classes)

    def picture() -> torch.Tensor:
        change = F.interpolate(delta, size=(h, w), mode="bicubic", align_corners=False)
        return (base + change).clamp(0, 255)

    with torch.enable_grad():
        for _ in range(steps):
            x = F.interpolate(
                picture(), size=(224, 224), mode="bilinear", antialias=True, align_corners=False
            )
            logits = net((x - 127.0) / 128.0)[0]
            if set(logits.topk(3).indices.tolist()) & set(classes):
                break  # the classifier sees it now
            loss = -torch.log_softmax(logits, 0)[target].logsumexp(0) + 1e-4 * delta.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                delta.clamp_(-255 * strength, 255 * strength)
    with torch.no_grad():
        return picture()[0].permute(1, 2, 0).round().to(torch.uint8).numpy()


def shows(image: Image, classes: list[int]) -> bool:
    """Does the classifier's top-5 contain one of the classes?"""
    from m3e.semantics.vision import ImageRecognizer

    top5 = np.argsort(ImageRecognizer().class_probabilities(image))[::-1][:5]
    return bool(set(int(i) for i in top5) & set(classes))


# ---------------------------------------------------------------- side information
@dataclass(frozen=True)
class Prediction:
    """What the sender tells the receiver besides the text: which memory to start from
    (``reference``; None: the receiver picks by the text) and the global motion onto it."""

    reference: int | None
    warp: npt.NDArray[np.float32]

    def to_bytes(self) -> bytes:
        """12 bytes: i32 reference (or INT32_MIN for none) and the 4 similarity parameters."""
        ref = -(2**31) if self.reference is None else self.reference
        a, b, tx, ty = self.warp[0, 0], self.warp[1, 0], self.warp[0, 2], self.warp[1, 2]
        return struct.pack("<i", ref) + np.array([a, b, tx / 8, ty / 8], "<f2").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Prediction:
        if len(data) != 12:
            raise ValueError(f"prediction side information is 12 bytes, got {len(data)}")
        ref = struct.unpack("<i", data[:4])[0]
        a, b, tx, ty = (float(v) for v in np.frombuffer(data[4:], "<f2"))
        if not all(np.isfinite([a, b, tx, ty])):
            raise ValueError("non-finite motion parameters")
        warp = np.array([[a, -b, tx * 8], [b, a, ty * 8]], np.float32)
        return cls(None if ref == -(2**31) else ref, warp)


def generate(
    kb: KnowledgeBase,
    text: str,
    prediction: Prediction | None = None,
    guided: bool = True,
    final: bool = False,
) -> Image:
    """R(text): the named (or nearest) memory, moved by the warp, guided to show the text when
    it is an exemplar or was only picked by the text (a keyframe the sender named is what it
    wants: V′ will correct it, and guidance would only add to what V′ must undo; mid-grey is
    meant to stay grey). ``final``: no V′ follows (the ablation without differences), so a
    named keyframe is guided too when it does not show what the text says."""
    memory = kb.get(prediction.reference) if prediction and prediction.reference is not None else None
    named = memory is not None
    if memory is None:
        memory = kb.nearest(text)
    image = memory.image
    if prediction is not None:
        image = apply_motion(image, prediction.warp)
    classes = text_classes(text)
    may_guide = memory.key != BLANK and (memory.key < 0 or not named or final)
    if guided and may_guide and classes and not shows(image, classes):
        image = guide(image, classes)
    return image
