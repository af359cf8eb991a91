"""Quality of the whole received video against the source, frame by frame (aligned by
presentation time: ``received[i]`` is what the receiver played for source frame ``i``).

- ``ssim_all_frames``: mean SSIM of the luma (Gaussian window σ = 1.5, as Wang et al. 2004;
  luma only, so 300 frames take a second);
- ``psnr_all_frames``: mean PSNR (RGB, capped at 60 dB for identical frames);
- ``moving_fraction`` / ``source_moving_fraction``: the share of frames whose mean absolute
  luma change from the frame before exceeds ``MOVING_LEVEL`` (a slideshow is near 0);
- ``temporal_error``: mean absolute difference between the received and the source
  frame-to-frame changes (luma levels: how well the motion follows the source's; 0 is exact);
- ``edge_error_ratio``: mean absolute luma error in the outer ``EDGE`` columns on both sides
  over that of the columns between them (a smeared border band shows as > 1).
"""

from __future__ import annotations

import itertools
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

MOVING_LEVEL = 0.5  # mean |Δ luma| (0–255) above which a frame counts as moving
EDGE = 32  # columns on each side for the edge error
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def luma(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.float32)


def ssim(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """SSIM of two (H, W) luma images (float, 0–255)."""

    def blur(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(cv2.GaussianBlur(x, (11, 11), 1.5), np.float32)

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    s = ((2 * ma * mb + _C1) * (2 * cov + _C2)) / ((ma * ma + mb * mb + _C1) * (va + vb + _C2))
    return float(s.mean())


def psnr(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 60.0 if mse < 1e-6 else min(60.0, 10 * np.log10(255.0**2 / mse))


def moving_fraction(frames: list[npt.NDArray[np.float32]]) -> float:
    """Share of frames (after the first) that differ visibly from the one before (lumas)."""
    if len(frames) < 2:
        return 0.0
    changes = [float(np.abs(b - a).mean()) for a, b in itertools.pairwise(frames)]
    return float(np.mean([c > MOVING_LEVEL for c in changes]))


def all_frame_scores(
    source: list[npt.NDArray[np.uint8]], received: list[npt.NDArray[np.uint8]]
) -> dict[str, Any]:
    """The module's measures for two equally long lists of (H, W, 3) uint8 frames."""
    if len(source) != len(received) or not source:
        raise ValueError(f"need as many received frames as source frames ({len(received)} vs {len(source)})")
    ys, yr = [luma(f) for f in source], [luma(f) for f in received]
    temporal = [
        float(np.abs((r1 - r0) - (s1 - s0)).mean())
        for s0, s1, r0, r1 in zip(ys, ys[1:], yr, yr[1:], strict=False)
    ]
    edge, centre = [], []
    for s, r in zip(ys, yr, strict=True):
        err = np.abs(s - r)
        edge.append(float(np.concatenate([err[:, :EDGE], err[:, -EDGE:]], axis=1).mean()))
        centre.append(float(err[:, EDGE:-EDGE].mean()))
    return {
        "ssim_all_frames": float(np.mean([ssim(s, r) for s, r in zip(ys, yr, strict=True)])),
        "psnr_all_frames": float(np.mean([psnr(s, r) for s, r in zip(source, received, strict=True)])),
        "moving_fraction": moving_fraction(yr),
        "source_moving_fraction": moving_fraction(ys),
        "temporal_error": float(np.mean(temporal)) if temporal else 0.0,
        "edge_error_ratio": float(np.mean(edge)) / max(float(np.mean(centre)), 1e-6),
    }
