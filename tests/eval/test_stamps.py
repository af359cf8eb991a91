"""Frame stamps survive a real codec and a smaller picture; an unstamped picture reads None."""

import av
import numpy as np

from m3e.eval.stamps import draw_stamp, read_stamp


def test_a_stamp_reads_back_after_vp8_at_a_lower_resolution() -> None:
    rng = np.random.default_rng(0)
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.bit_rate = 300_000
    decoder = av.CodecContext.create("libvpx", "r")
    numbers = [5, 6, 7, 40_000, 65_535, 1]
    packets = []
    for n in numbers:
        rgb = rng.integers(0, 256, (480, 640, 3), np.uint8)  # noise: the hardest picture around it
        draw_stamp(rgb, n)
        packets += encoder.encode(
            av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(320, 240, "yuv420p")
        )
    packets += encoder.encode(None)
    read = [read_stamp(f.to_ndarray()[:240]) for p in packets for f in decoder.decode(p)]
    assert read == numbers


def test_a_picture_without_a_stamp_reads_none() -> None:
    rng = np.random.default_rng(1)
    assert read_stamp(rng.integers(0, 256, (480, 640), np.uint8)) is None
    assert read_stamp(np.full((480, 640), 128, np.uint8)) is None
    assert read_stamp(np.zeros((8, 100), np.uint8)) is None
