"""CRC-24A / CRC-24B / CRC-16 of TS 38.212 §5.1 (no reflection, zero init, no final xor).

Works on bytes: every block this project codes carries a whole number of bytes, so a
byte-wise table (run by numba: a video frame is tens of kilobytes) is simple and fast.
CRC-24 guards transport blocks; CRC-16 (38.212's choice for blocks of ≤ 3824 bits) guards the
text difference, a few bytes that carry their own 24-bit sentence check besides.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

# name -> (generator polynomial without its leading term, width in bits)
POLYNOMIALS = {"crc24a": (0x864CFB, 24), "crc24b": (0x800063, 24), "crc16": (0x1021, 16)}


def _table(poly: int, width: int) -> list[int]:
    top, mask = 1 << (width - 1), (1 << width) - 1
    table = []
    for byte in range(256):
        reg = byte << (width - 8)
        for _ in range(8):
            reg = ((reg << 1) ^ poly) if reg & top else (reg << 1)
        table.append(reg & mask)
    return table


_TABLES = {name: np.array(_table(*spec), dtype=np.uint32) for name, spec in POLYNOMIALS.items()}


@numba.njit(cache=True, nogil=True)
def _crc_kernel(data: npt.NDArray[np.uint8], table: npt.NDArray[np.uint32], width: int) -> int:
    reg, mask = 0, (1 << width) - 1
    for byte in data:
        reg = ((reg << 8) & mask) ^ table[(reg >> (width - 8)) ^ byte]
    return reg


def crc_bytes(kind: str = "crc24b") -> int:
    """How many bytes the CRC ``kind`` appends."""
    try:
        return POLYNOMIALS[kind][1] // 8
    except KeyError:
        raise ValueError(f"unknown CRC {kind!r}; expected one of {sorted(POLYNOMIALS)}") from None


def crc(data: bytes, kind: str = "crc24b") -> int:
    """The CRC ``kind`` of ``data`` as an int (its parity bits, MSB first)."""
    width = 8 * crc_bytes(kind)
    return int(_crc_kernel(np.frombuffer(data, dtype=np.uint8), _TABLES[kind], width))


def attach_crc(data: bytes, kind: str = "crc24b") -> bytes:
    """``data`` followed by its CRC."""
    return data + crc(data, kind).to_bytes(crc_bytes(kind), "big")


def check_crc(block: bytes, kind: str = "crc24b") -> bool:
    """True when the last bytes of ``block`` are the CRC of the rest."""
    n = crc_bytes(kind)
    if len(block) < n:
        return False
    return crc(block[:-n], kind) == int.from_bytes(block[-n:], "big")
