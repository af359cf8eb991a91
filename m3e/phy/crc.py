"""CRC-24A / CRC-24B of TS 38.212 §5.1 (no reflection, zero init, no final xor).

Works on bytes: every block this project codes carries a whole number of bytes, so a
byte-wise table (run by numba: a video frame is tens of kilobytes) is simple and fast.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

POLYNOMIALS = {"crc24a": 0x864CFB, "crc24b": 0x800063}
CRC_BYTES = 3


def _table(poly: int) -> list[int]:
    table = []
    for byte in range(256):
        reg = byte << 16
        for _ in range(8):
            reg = ((reg << 1) ^ poly) if reg & 0x800000 else (reg << 1)
        table.append(reg & 0xFFFFFF)
    return table


_TABLES = {name: np.array(_table(poly), dtype=np.uint32) for name, poly in POLYNOMIALS.items()}


@numba.njit(cache=True, nogil=True)
def _crc_kernel(data: npt.NDArray[np.uint8], table: npt.NDArray[np.uint32]) -> int:
    reg = 0
    for byte in data:
        reg = ((reg << 8) & 0xFFFFFF) ^ table[(reg >> 16) ^ byte]
    return reg


def crc24(data: bytes, kind: str = "crc24b") -> int:
    """24-bit CRC of ``data`` as an int (the 24 parity bits, MSB first)."""
    try:
        table = _TABLES[kind]
    except KeyError:
        raise ValueError(f"unknown CRC {kind!r}; expected one of {sorted(_TABLES)}") from None
    return int(_crc_kernel(np.frombuffer(data, dtype=np.uint8), table))


def attach_crc(data: bytes, kind: str = "crc24b") -> bytes:
    """``data`` followed by its 3-byte CRC."""
    return data + crc24(data, kind).to_bytes(CRC_BYTES, "big")


def check_crc(block: bytes, kind: str = "crc24b") -> bool:
    """True when the last 3 bytes of ``block`` are the CRC of the rest."""
    if len(block) < CRC_BYTES:
        return False
    return crc24(block[:-CRC_BYTES], kind) == int.from_bytes(block[-CRC_BYTES:], "big")
