import numpy as np
import pytest

from m3e.eval.video_quality import all_frame_scores
from m3e.media.offline import picture, view

SIZE = (192, 128)


def _pan(n: int) -> list[np.ndarray]:
    return [view(picture("astronaut"), i / (n - 1), "pan", SIZE) for i in range(n)]


def test_identical_video_scores_perfect_and_moves_like_the_source() -> None:
    source = _pan(8)
    s = all_frame_scores(source, source)
    assert s["ssim_all_frames"] == pytest.approx(1.0) and s["psnr_all_frames"] == 60.0
    assert s["moving_fraction"] == s["source_moving_fraction"] == 1.0
    assert s["temporal_error"] == 0.0


def test_a_slideshow_does_not_move_and_follows_the_motion_worse() -> None:
    source = _pan(8)
    held = [source[0]] * len(source)
    s = all_frame_scores(source, held)
    assert s["moving_fraction"] == 0.0 and s["source_moving_fraction"] == 1.0
    assert s["temporal_error"] > 0.5 and s["ssim_all_frames"] < 0.99


def test_a_smeared_border_raises_the_edge_error_ratio() -> None:
    source = _pan(4)
    smeared = []
    for f in source:  # right, but the last 24 columns a stretched copy of the one before them
        g = f.copy()
        g[:, -24:] = g[:, -25:-24]
        smeared.append(g)
    assert all_frame_scores(source, smeared)["edge_error_ratio"] > 1.5
    noisy = [np.clip(f.astype(int) + 8, 0, 255).astype(np.uint8) for f in source]  # even error
    assert all_frame_scores(source, noisy)["edge_error_ratio"] == pytest.approx(1.0, abs=0.1)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="as many"):
        all_frame_scores(_pan(3), _pan(2))
