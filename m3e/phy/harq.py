"""HARQ for LDPC code blocks: chase combining and incremental redundancy.

Every transmission of a block is soft-combined into one buffer in the mother-codeword
domain (see ``m3e.phy.ldpc``). Chase combining resends redundancy version 0, so the
same positions gain energy; incremental redundancy cycles through 0, 2, 3, 1 (the
38.321 order), so later transmissions add new parity and lower the effective rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from m3e.phy.ldpc import DecodeResult, LdpcDecoder

HarqMode = Literal["chase", "ir"]
IR_SEQUENCE = (0, 2, 3, 1)


def redundancy_version(mode: str, attempt: int) -> int:
    """RV of transmission number ``attempt`` (0 = first) under ``mode``."""
    if mode == "chase":
        return 0
    if mode == "ir":
        return IR_SEQUENCE[attempt % len(IR_SEQUENCE)]
    raise ValueError(f"unknown HARQ mode {mode!r}; expected 'chase' or 'ir'")


class HarqProcess:
    """Soft buffer of B code blocks that are retransmitted together.

    Args:
        decoder: decoder of the blocks' code.
        n_blocks: B, the number of code blocks in the buffer.
    """

    def __init__(self, decoder: LdpcDecoder, n_blocks: int = 1) -> None:
        self.decoder = decoder
        self.buffer = decoder.encoder.new_buffer(n_blocks)
        self.transmissions = 0

    def receive(
        self,
        llr: npt.ArrayLike,
        rv: int,
        carried: Sequence[int] | None = None,
        decode: npt.NDArray[np.int64] | None = None,
    ) -> DecodeResult:
        """Combine the LLRs (C, n) of one transmission with version ``rv`` into the blocks
        ``carried`` (indices; all B when None) and decode the blocks ``decode`` (all when None):
        blocks already decoded need no second pass. The result has one row per decoded block."""
        self.decoder.encoder.accumulate(self.buffer, llr, rv, carried)
        self.transmissions += 1
        every = decode is None or np.array_equal(decode, np.arange(self.buffer.shape[0]))
        return self.decoder.decode_buffer(self.buffer if every else self.buffer[decode])
