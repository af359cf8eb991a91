"""Frame stamps: a frame number drawn into the picture, read back after a real codec.

``bench.call --browser`` feeds Chromium's fake camera a clip whose every frame carries its
number; the call process reads it from each frame WebRTC delivers, which ties a frame that
reached the machine to the moment the sending page captured it (glass-to-glass latency on one
clock) and to the clip frame it was (SSIM of what the other side shows).

The stamp is a row of ``BITS`` black or white squares at the top left, each 1/``PER_WIDTH``
of the picture's width (so it reads the same after the sender's encoder scales the picture
down under load): two marker squares (white, black), 16 bits of the number (most significant
first) and 4 bits of its parity per nibble, so a frame without a stamp (a real camera) reads
as None.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PER_WIDTH = 40  # a square is this fraction of the width (16 px at 640)
DATA_BITS = 16
BITS = 2 + DATA_BITS + 4  # marker, number, nibble parities


def _bits(n: int) -> list[int]:
    data = [(n >> (DATA_BITS - 1 - i)) & 1 for i in range(DATA_BITS)]
    parity = [sum(data[4 * k : 4 * k + 4]) & 1 for k in range(4)]
    return [1, 0, *data, *parity]


def draw_stamp(rgb: npt.NDArray[np.uint8], n: int) -> None:
    """Draw frame number ``n`` (mod 2**16) into ``rgb`` (H, W, 3), in place."""
    block = rgb.shape[1] / PER_WIDTH
    for i, bit in enumerate(_bits(n % (1 << DATA_BITS))):
        rgb[: round(block), round(i * block) : round((i + 1) * block)] = 255 if bit else 0


def read_stamp(luma: npt.NDArray[np.uint8]) -> int | None:
    """The frame number in ``luma`` (H, W) (the Y plane, or any grey picture), or None when
    there is no valid stamp. Each square is read at its centre, so codec ringing at its edges
    does not matter."""
    block = luma.shape[1] / PER_WIDTH
    if block < 4 or luma.shape[0] < block:
        return None
    centres = np.array(
        [
            luma[
                round(block * 0.3) : round(block * 0.7), round((i + 0.3) * block) : round((i + 0.7) * block)
            ].mean()
            for i in range(BITS)
        ]
    )
    if np.any(np.abs(centres - 127.5) < 50):  # a grey square: not a stamp
        return None
    bits = [int(c > 127.5) for c in centres]
    data = bits[2 : 2 + DATA_BITS]
    if bits[:2] != [1, 0] or bits != _bits(int("".join(map(str, data)), 2)):
        return None
    return int("".join(map(str, data)), 2)
