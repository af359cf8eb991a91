import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from m3e.codecs.difference import VQReplenishment, X265Difference, fit_crf
from m3e.codecs.vq import VQImageCodec, VQTokens
from m3e.media.offline import picture, view


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return view(picture("coffee"), 0.0, "pan", (320, 240))


def test_x265_difference_honours_the_budget_and_improves_with_it(frame: np.ndarray) -> None:
    coder, grey = X265Difference(finest_crf=10), np.full_like(frame, 128)
    quality = []
    for budget in (300, 1500, 6000):
        data = coder.encode(frame, grey, budget)
        assert 0 < len(data) <= budget
        quality.append(structural_similarity(frame, coder.decode(grey, data), channel_axis=2))
    assert quality[0] < quality[1] < quality[2] and quality[2] > 0.85


def test_a_good_prediction_costs_less(frame: np.ndarray) -> None:
    coder = X265Difference()
    near = np.clip(frame.astype(int) + 3, 0, 255).astype(np.uint8)
    assert len(coder.encode(frame, near, 6000)) < len(coder.encode(frame, np.full_like(frame, 128), 6000)) / 3


def test_a_scene_already_shown_costs_only_its_change(frame: np.ndarray) -> None:
    grey, budget = np.full_like(frame, 128), 20000
    shown = X265Difference().decode(grey, X265Difference().encode(frame, grey, 3000))
    moved = view(picture("coffee"), 0.05, "pan", (320, 240))
    floored, unbounded = (
        X265Difference().encode(moved, shown, budget),
        X265Difference(finest_crf=10).encode(moved, shown, budget),
    )
    assert floored[0] == X265Difference.INTER and floored[1] == 40
    assert len(floored) < len(unbounded) / 4  # not the whole budget spent on refining it
    # and the picture is about as good as the one first shown
    ssim_shown = structural_similarity(frame, shown, channel_axis=2)
    assert (
        structural_similarity(moved, X265Difference().decode(shown, floored), channel_axis=2)
        > ssim_shown - 0.05
    )


def test_differences_round_trip_deterministically_and_reject_garbage(frame: np.ndarray) -> None:
    coder, grey = X265Difference(), np.full_like(frame, 128)
    data = coder.encode(frame, grey, 2000)
    assert data == coder.encode(frame, grey, 2000)
    assert np.array_equal(coder.decode(grey, data), coder.decode(grey, data))
    assert coder.decode(grey, b"") is grey  # nothing arrived: the prediction stands
    for bad in (b"\x07" + data[1:], b"\x00garbage"):
        with pytest.raises(ValueError):
            coder.decode(grey, bad)


def test_a_p_frame_over_a_scene_seen_before_beats_an_intra_picture(frame: np.ndarray) -> None:
    coder, grey = X265Difference(), np.full_like(frame, 128)
    earlier = coder.decode(grey, coder.encode(view(picture("coffee"), 0.2, "pan", (320, 240)), grey, 3000))
    seen = np.asarray(cv2.warpAffine(earlier, np.float32([[1, 0, 6], [0, 1, 0]]), (320, 240)), np.uint8)
    over_seen, intra = coder.encode(frame, seen, 1500), coder.encode(frame, grey, 1500)
    assert over_seen[0] == X265Difference.INTER and intra[0] == 0
    assert structural_similarity(frame, coder.decode(seen, over_seen), channel_axis=2) > (
        structural_similarity(frame, coder.decode(grey, intra), channel_axis=2) + 0.02
    )


def test_a_p_frame_decodes_only_over_its_own_reference(frame: np.ndarray) -> None:
    coder = X265Difference()
    near = np.clip(frame.astype(int) + 3, 0, 255).astype(np.uint8)
    data = coder.encode(frame, near, 2000)
    assert data == coder.encode(frame, near, 2000)
    assert np.array_equal(coder.decode(near, data), coder.decode(near, data))
    other = np.clip(frame.astype(int) - 3, 0, 255).astype(np.uint8)
    for prediction, bad in ((other, data), (near, data[:5]), (near, data[:6] + b"garbage")):
        with pytest.raises(ValueError):
            coder.decode(prediction, bad)


def test_fit_crf_finds_the_lowest_crf_that_fits_in_few_tries() -> None:
    tries: list[int] = []

    def code(crf: int) -> bytes:  # an encoder whose size halves every 5 crf
        tries.append(crf)
        return bytes(int(100 * 2 ** ((51 - crf) / 5)))

    for budget in (150, 2500, 20000):
        tries.clear()
        crf, data = fit_crf(code, budget)
        assert len(data) <= budget < len(code(crf - 1)) and len(tries) <= 6
    assert fit_crf(code, 50) == (51, b"")
    assert fit_crf(code, 10**9)[0] == 10
    tries.clear()
    assert fit_crf(code, 10**9, finest=40)[0] == 40 and tries == [40]  # the floor holds


def test_vq_replenishment_orders_by_importance_within_the_budget(frame: np.ndarray) -> None:
    import torch

    torch.manual_seed(0)  # an untrained codec is enough for the bookkeeping
    coder = VQReplenishment(VQImageCodec().eval())
    grey = np.full_like(frame, 128)
    small, large = coder.encode(frame, grey, 200), coder.encode(frame, grey, 2000)
    assert len(small) <= 200 and len(large) <= 2000 and len(small) < len(large)
    # the smaller budget keeps the head of the same importance order
    assert large[2 : len(small)] == small[2:]
    assert coder.decode(grey, large).shape == frame.shape
    with pytest.raises(ValueError):
        coder.decode(grey, large[:-1])


def test_vq_tokens_pack_and_unpack() -> None:
    rng = np.random.default_rng(0)
    tokens = VQTokens(rng.integers(0, 512, (60, 90)).astype(np.int16), 512)
    data = tokens.to_bytes()
    assert len(data) == 4 + 60 * 90 * 9 // 8
    assert np.array_equal(VQTokens.from_bytes(data, 512).indices, tokens.indices)
    with pytest.raises(ValueError):
        VQTokens.from_bytes(data[:-1], 512)
