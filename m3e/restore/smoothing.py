"""Smoothing of object positions across frames (paper §3.3, restoration).

The low-latency mode moves the last keyframe by a similarity warp estimated per examined frame
(ORB + RANSAC at the sender). Estimates of a still or slowly moving scene jitter by a pixel or
two, which shows as shaking; plain averaging would make a fast pan lag. A one-euro filter
(Casiez et al., CHI 2012) has both: its cut-off frequency rises with the estimated speed, so it
smooths hard when the picture is still and follows closely when it moves.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Warp = npt.NDArray[np.float32]  # (2, 3) similarity [[a, -b, tx], [b, a, ty]]


class PositionSmoother:
    """One-euro filter over a warp's four parameters, in pixels (a and b scaled by half the
    picture width, the displacement they cause at its edge).

    Args:
        width: picture width in pixels.
        min_cutoff_hz: cut-off when still (lower: less jitter).
        speed_gain: cut-off added per pixel/s of speed (higher: less lag).
    """

    def __init__(self, width: int, min_cutoff_hz: float = 0.7, speed_gain: float = 0.2) -> None:
        self.scale = np.array([width / 2, width / 2, 1.0, 1.0])
        self.min_cutoff, self.speed_gain, self.d_cutoff = min_cutoff_hz, speed_gain, 1.0
        self.reset()

    def reset(self) -> None:
        """A new reference picture: its own warp starts at the identity, not moving."""
        self._x = np.array([1.0, 0.0, 0.0, 0.0]) * self.scale
        self._dx = np.zeros(4)

    def __call__(self, warp: Warp, dt: float) -> Warp:
        """The smoothed warp for a measurement ``dt`` seconds after the previous one."""
        x = np.array([warp[0, 0], warp[1, 0], warp[0, 2], warp[1, 2]], np.float64) * self.scale
        dt = max(dt, 1e-3)
        self._dx += _alpha(self.d_cutoff, dt) * ((x - self._x) / dt - self._dx)
        cutoff = self.min_cutoff + self.speed_gain * np.abs(self._dx)
        self._x += np.array([_alpha(c, dt) for c in cutoff]) * (x - self._x)
        a, b, tx, ty = self._x / self.scale
        return np.array([[a, -b, tx], [b, a, ty]], np.float32)


def _alpha(cutoff_hz: float, dt: float) -> float:
    """The smoothing factor of a first-order low-pass at ``cutoff_hz`` sampled every ``dt``."""
    tau = 1.0 / (2 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)
