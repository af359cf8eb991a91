import numpy as np

from m3e.restore.smoothing import PositionSmoother


def _track(speed_px_s: float, seed: int, n: int = 300, dt: float = 0.1) -> tuple[float, float]:
    """RMS error of raw and smoothed horizontal positions: a pan at ``speed_px_s`` measured
    every ``dt`` with 2 px of estimation noise (after a 1 s warm-up)."""
    rng = np.random.default_rng(seed)
    smoother = PositionSmoother(720)
    raw, smooth = [], []
    for i in range(1, n):
        true = speed_px_s * i * dt
        measured = true + rng.normal(0, 2.0)
        out = smoother(np.array([[1, 0, measured], [0, 1, 0]], np.float32), dt)
        if i > 10:
            raw.append(measured - true)
            smooth.append(out[0, 2] - true)
    return float(np.sqrt(np.mean(np.square(raw)))), float(np.sqrt(np.mean(np.square(smooth))))


def test_still_picture_shakes_less() -> None:
    raw, smooth = _track(0.0, seed=1)
    assert smooth < 0.8 * raw


def test_pan_is_followed_without_extra_lag() -> None:
    for speed in (100.0, 300.0):
        raw, smooth = _track(speed, seed=2)
        assert smooth < 1.1 * raw, (speed, raw, smooth)


def test_reset_starts_from_the_identity() -> None:
    smoother = PositionSmoother(320)
    smoother(np.array([[1, 0, 50], [0, 1, 0]], np.float32), 0.1)
    smoother.reset()
    still = smoother(np.array([[1, 0, 0], [0, 1, 0]], np.float32), 0.1)
    np.testing.assert_allclose(still, [[1, 0, 0], [0, 1, 0]], atol=1e-6)
