import numpy as np
import pytest

from m3e.media.offline import picture, view
from m3e.restore.interpolation import interpolate


def test_requested_count_with_monotone_timestamps_and_motion_halfway() -> None:
    a = view(picture("astronaut"), 0.0, "pan", (320, 240))
    b = np.roll(a, 12, axis=1)  # the camera panned 12 px
    frames = interpolate(a, b, 1.0, 2.0, 5)
    times = [t for t, _ in frames]
    assert len(frames) == 5 and all(1.0 < t < 2.0 for t in times) and times == sorted(times)
    middle = frames[2][1]
    expected = np.roll(a, 6, axis=1)
    inner = (slice(10, -10), slice(30, -30))
    blend = (a.astype(float) + b) / 2  # what a plain cross-fade would show
    err = np.abs(middle[inner].astype(float) - expected[inner]).mean()
    assert err < np.abs(blend[inner] - expected[inner]).mean() / 2


def test_degenerate_requests() -> None:
    a = np.zeros((48, 64, 3), np.uint8)
    assert interpolate(a, a, 0.0, 1.0, 0) == []
    with pytest.raises(ValueError):
        interpolate(a, a, 1.0, 1.0, 3)
    with pytest.raises(ValueError):
        interpolate(a, np.zeros((32, 64, 3), np.uint8), 0.0, 1.0, 3)
