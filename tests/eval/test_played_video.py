import numpy as np
import pytest

from m3e.eval.played_video import as_frames, equal_rate_arm, equal_rate_stream, rate_controlled_h265
from m3e.media.offline import picture, view
from m3e.restore.keyframe_player import PlayedPicture

SIZE = (320, 240)


def _clip(n: int) -> list[np.ndarray]:
    return [view(picture("astronaut"), i / (n - 1), "pan", SIZE) for i in range(n)]


def test_played_pictures_become_one_frame_per_source_frame() -> None:
    a, b = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    frames = as_frames([PlayedPicture(1, a, None), PlayedPicture(3, b, None)], 5, b * 9)
    assert [int(f[0, 0, 0]) for f in frames] == [9, 0, 0, 1, 1]


@pytest.mark.parametrize("kbps", [8.0, 30.0])
def test_rate_controlled_h265_meets_its_rate(kbps: float) -> None:
    frames = _clip(90)  # 3 s
    packets = rate_controlled_h265(frames, kbps, 2, 10.0)
    actual = 8 * sum(len(p) for p in packets) / 1000 / 3.0
    assert len(packets) == 30 and actual <= kbps * 1.1


def test_equal_rate_arm_reports_its_format_and_every_frame() -> None:
    frames = _clip(60)
    row, shown = equal_rate_arm(frames, equal_rate_stream(frames, 10.0), 20.0, seed=0, keyframes=[0, 30])
    assert len(shown) == 60 and shown[0].shape == frames[0].shape
    assert row["scheme"] == "h265-equal-rate" and row["kbps"] <= 11.0 and "@" in row["format"]
    assert 0.3 < row["ssim_all_frames"] <= 1.0 and 0.3 < row["ssim"] <= 1.0
