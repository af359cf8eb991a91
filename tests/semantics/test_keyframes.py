import itertools

import numpy as np
import pytest

from m3e.semantics.keyframes import KeyframeSelector, luma_thumbnail, ncc, select_keyframes_batch, shifted_ncc


def test_ncc_is_eq1(rng: np.random.Generator) -> None:
    a = rng.random((48, 64)).astype(np.float32)
    b = rng.random((48, 64)).astype(np.float32)
    assert ncc(a, a) == pytest.approx(1.0)
    assert ncc(a, 3 * a + 7) == pytest.approx(1.0)  # invariant to gain and offset
    assert ncc(a, -a) == pytest.approx(-1.0)
    da, db = a - a.mean(), b - b.mean()
    assert ncc(a, b) == pytest.approx(
        float((da * db).sum() / np.sqrt((da**2).sum() * (db**2).sum())), rel=1e-5
    )
    flat = np.full((48, 64), 10, np.float32)
    assert ncc(flat, flat) == 1.0 and ncc(flat, a) == 0.0


def test_shift_tolerance_keeps_a_pan_together(natural: dict[str, np.ndarray]) -> None:
    img = natural["chelsea"]
    a = luma_thumbnail(img[:, :380])
    b = luma_thumbnail(img[:, 30:410])  # the camera moved 30 px
    other = luma_thumbnail(natural["coffee"][:300, :380])
    assert ncc(a, b) < shifted_ncc(a, b)
    assert shifted_ncc(a, b) > 0.8 > 0.5 > shifted_ncc(a, other)


def test_streaming_selector_finds_cuts_and_respects_intervals(natural: dict[str, np.ndarray]) -> None:
    scenes = [luma_thumbnail(natural[n][:300, :400]) for n in ("chelsea", "coffee", "astronaut")]
    sel = KeyframeSelector(min_interval_s=0.5, max_interval_s=3.0)
    keys = [t for t in range(90) if sel.update(scenes[min(2, t // 30)], t / 30)]
    assert keys == [0, 30, 60]
    sel = KeyframeSelector(max_interval_s=1.0)
    assert [t for t in range(90) if sel.update(scenes[0], t / 30)] == [0, 30, 60]  # max interval
    sel = KeyframeSelector(min_interval_s=0.5)
    flips = [t for t in range(30) if sel.update(scenes[t % 2], t / 30)]
    assert all(b - a >= 15 for a, b in itertools.pairwise(flips))  # min interval


def test_a_forced_keyframe_waits_for_the_min_interval(natural: dict[str, np.ndarray]) -> None:
    still = luma_thumbnail(natural["chelsea"][:300, :400])
    sel = KeyframeSelector(min_interval_s=0.5, max_interval_s=10.0)
    keys = [t for t in range(60) if sel.update(still, t / 30, force=t in (10, 20, 45))]
    assert keys == [0, 20, 45]  # frame 10 is 0.33 s after the first


def test_batch_definition(natural: dict[str, np.ndarray]) -> None:
    a, b = luma_thumbnail(natural["chelsea"]), luma_thumbnail(natural["coffee"])
    assert select_keyframes_batch([a, a, b, b, a]) == [0, 2]  # a seen before: not new


def test_any_size_and_black_frames(rng: np.random.Generator) -> None:
    sel = KeyframeSelector()
    for i, shape in enumerate([(16, 16, 3), (2160, 3840, 3), (480, 720, 3)]):
        sel.update(luma_thumbnail(np.zeros(shape, np.uint8)), float(i))
    assert luma_thumbnail(rng.integers(0, 255, (7, 9), dtype=np.uint8)).shape == (48, 64)
    with pytest.raises(ValueError):
        luma_thumbnail(np.zeros((0, 5), np.uint8))
    with pytest.raises(ValueError):
        KeyframeSelector(min_interval_s=5, max_interval_s=1)
