"""Frames between two decoded keyframes (paper eq 10): optical flow both ways (OpenCV DIS,
no weights) and a blend of the two keyframes, each warped part of the way along its flow.

For an intermediate time with fraction α from keyframe A to B, a pixel x is taken from A at
x − α·F_AB(x) and from B at x + (1 − α)·F_AB(x) (backward warping with the forward flow, a
standard approximation for smooth motion), blended (1 − α)·A′ + α·B′.
Images are (H, W, 3) uint8.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


def flow(a: Image, b: Image) -> npt.NDArray[np.float32]:
    """Dense flow (H, W, 2) from a to b, computed on half-size grey images."""
    h, w = a.shape[:2]
    ga, gb = (cv2.cvtColor(cv2.resize(im, (w // 2, h // 2)), cv2.COLOR_RGB2GRAY) for im in (a, b))
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    f = dis.calc(ga, gb, np.zeros((h // 2, w // 2, 2), np.float32))
    return np.asarray(cv2.resize(f, (w, h)) * 2.0, np.float32)


def interpolate(a: Image, b: Image, t_a: float, t_b: float, n: int) -> list[tuple[float, Image]]:
    """``n`` frames strictly between keyframes a (at t_a) and b (at t_b), evenly spaced:
    [(t, frame)] with increasing t. ValueError for mismatched sizes or t_b <= t_a."""
    if a.shape != b.shape:
        raise ValueError(f"keyframes of different sizes: {a.shape} and {b.shape}")
    if not t_b > t_a:
        raise ValueError(f"the second keyframe must come later ({t_a} -> {t_b})")
    if n <= 0:
        return []
    f = flow(a, b)
    h, w = a.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = []
    for i in range(1, n + 1):
        alpha = i / (n + 1)
        wa = cv2.remap(
            a,
            gx - alpha * f[..., 0],
            gy - alpha * f[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        wb = cv2.remap(
            b,
            gx + (1 - alpha) * f[..., 0],
            gy + (1 - alpha) * f[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        frame = ((1 - alpha) * wa.astype(np.float32) + alpha * wb + 0.5).astype(np.uint8)
        out.append((t_a + alpha * (t_b - t_a), frame))
    return out
