import cv2
import numpy as np
import pytest

from m3e.codecs.prediction import estimate_motion
from m3e.eval.video_quality import all_frame_scores
from m3e.media.offline import picture, view
from m3e.restore.interpolation import IDENTITY, Interpolator, MotionTrack, frames_between, kept_rect, warp


def test_eq10_halfway_shows_the_motion_halfway() -> None:
    a = view(picture("astronaut"), 0.0, "pan", (320, 240))
    b = np.roll(a, 12, axis=1)  # the camera panned 12 px
    middle = Interpolator(a, b).at(0.5)
    expected = np.roll(a, 6, axis=1)
    inner = (slice(10, -10), slice(30, -30))
    blend = (a.astype(float) + b) / 2  # what a plain cross-fade would show
    err = np.abs(middle[inner].astype(float) - expected[inner]).mean()
    assert err < np.abs(blend[inner] - expected[inner]).mean() / 2
    assert np.array_equal(Interpolator(a, b).at(0.0)[inner], a[inner])


def test_keyframes_of_different_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="different sizes"):
        Interpolator(np.zeros((48, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8))


def _camera_pan(n: int, step: int = 4, size: tuple[int, int] = (240, 160)) -> list[np.ndarray]:
    """A camera panning right ``step`` px a frame across a big picture (new content enters)."""
    big = picture("astronaut")
    w, h = size
    return [np.ascontiguousarray(big[100 : 100 + h, 40 + i * step : 40 + i * step + w]) for i in range(n)]


def test_motion_track_interpolates_between_samples_and_holds_after() -> None:
    shift = np.array([[1, 0, -9], [0, 1, 0]], np.float32)
    track = MotionTrack(10, {13: shift})
    assert np.allclose(track(10), IDENTITY) and np.allclose(track(11)[0, 2], -3)
    assert np.allclose(track(20), shift)


def test_frames_between_follow_the_camera_without_a_smeared_border() -> None:
    frames = _camera_pan(13)
    samples = {f: estimate_motion(frames[0], frames[f]) for f in (3, 6, 9)}
    a_to_b = estimate_motion(frames[0], frames[12])
    moved = [p.image() for p in frames_between(frames[0], frames[12], MotionTrack(0, samples), 1, 11, a_to_b)]
    scores = all_frame_scores(frames[1:12], moved)
    held = all_frame_scores(frames[1:12], [frames[0]] * 11)
    assert scores["ssim_all_frames"] > held["ssim_all_frames"] + 0.1
    assert scores["moving_fraction"] == 1.0
    assert scores["edge_error_ratio"] < 1.5  # the entering border comes from the next keyframe
    cut = frames_between(frames[0], None, MotionTrack(0, samples), 1, 11)  # no next keyframe
    cut_images = [p.image() for p in cut]
    assert all_frame_scores(frames[1:12], cut_images)["ssim_all_frames"] > held["ssim_all_frames"]


def _similarity(rng: np.random.Generator) -> np.ndarray:
    angle, scale = rng.normal(0, 0.05), 1 + rng.normal(0, 0.05)
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, rng.normal(0, 20)], [s, c, rng.normal(0, 20)]], np.float32)


def test_kept_rectangle_lies_inside_the_moved_picture() -> None:
    w, h = 160, 120
    rng = np.random.default_rng(1)
    for _ in range(200):
        m = _similarity(rng)
        mask = cv2.warpAffine(np.ones((h, w), np.float32), m, (w, h), borderMode=cv2.BORDER_CONSTANT)
        top, bottom, left, right = kept_rect(m, w, h)
        assert (mask[top:bottom, left:right] == 1).all()
        # and it is most of what is inside: the bands outside it are the softened border
        assert (bottom - top) * (right - left) >= 0.8 * (mask == 1).sum() - 4 * (w + h)
    assert kept_rect(np.array([[-1, 0, w - 1], [0, 1, 0]], np.float32), w, h) == (0, 0, 0, 0)  # a mirror


def test_moving_picture_softens_only_what_came_from_outside() -> None:
    image = view(picture("astronaut"), 0.0, "pan", (320, 240))
    rng = np.random.default_rng(2)
    for _ in range(20):
        m = _similarity(rng)
        sharp = cv2.warpAffine(image, m, (320, 240), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        moved, inside = warp(image, m)
        assert np.array_equal(moved[inside == 1], sharp[inside == 1])
        outside = inside == 0
        if outside.sum() > 500:  # a blurred border: far less detail than the mirrored copy
            detail = [np.abs(cv2.Laplacian(x, cv2.CV_32F))[outside].mean() for x in (moved, sharp)]
            assert detail[0] < 0.5 * detail[1]
