"""Digital payload path: bytes -> CRC-24B (or CRC-16) code blocks -> 5G LDPC -> QAM symbols, and
back from received symbols to bytes (with HARQ soft combining).

This is what a traditional scheme (H.265, JPEG, AAC, ...) sends through the channel.
A payload of L bytes is cut into C equal code blocks of at most 1053 bytes
(8448 bits with the CRC); each block is coded at ``rate`` and carries its own CRC, so a
receiver knows exactly which blocks to ask for again.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from m3e.phy.crc import attach_crc, check_crc, crc_bytes
from m3e.phy.estimation import PilotLayout, estimate_channel
from m3e.phy.harq import HarqProcess
from m3e.phy.ldpc import BG2_ANY_RATE_K, K_MAX, LdpcDecoder, LdpcEncoder
from m3e.phy.modulation import Constellation, DemapMethod

MAX_BLOCK_BYTES = K_MAX // 8 - crc_bytes()  # with the default CRC-24B (``TransportCoder.max_block_bytes``)
# the smallest a code block gets (rates below 1/3): what bounds the number of blocks in a payload
SMALLEST_BLOCK_BYTES = BG2_ANY_RATE_K // 8 - crc_bytes()


@dataclass(frozen=True)
class BlockPlan:
    """How a payload of ``n_bytes`` is cut: ``n_blocks`` blocks of ``block_bytes``
    (zero-padded), k = 8·(block_bytes + CRC bytes) info bits and n coded bits each."""

    n_bytes: int
    n_blocks: int
    block_bytes: int
    k: int
    n: int

    @property
    def n_bits(self) -> int:
        return self.n_blocks * self.n


class TransportCoder:
    """Channel coding and modulation of byte payloads.

    Args:
        modulation: "bpsk", "qpsk", "16qam" or "64qam".
        rate: LDPC code rate k/n (1/3 … 5/6 is the useful range).
        demap: "maxlog" or "exact" LLRs.
        pilots: pilot layout inserted into the symbols (None: the receiver is given h).
        crc: each block's CRC, "crc24b" or "crc16" (``m3e.phy.crc.POLYNOMIALS``).
    """

    def __init__(
        self,
        modulation: str = "16qam",
        rate: float = 0.75,
        demap: DemapMethod = "maxlog",
        pilots: PilotLayout | None = None,
        crc: str = "crc24b",
    ) -> None:
        self.constellation = Constellation(modulation)
        if not (math.isfinite(rate) and 0.2 <= rate <= 0.95):
            raise ValueError(f"code rate must lie in [0.2, 0.95], got {rate!r}")
        self.rate = rate
        self.demap_method = demap
        self.pilots = pilots
        self.crc, self.crc_bytes = crc, crc_bytes(crc)
        # below base graph 1's mother rate 1/3 only base graph 2 (mother rate 1/5) codes:
        # blocks small enough that 38.212 selects it at any rate
        self.max_block_bytes = (K_MAX if rate >= 1 / 3 else BG2_ANY_RATE_K) // 8 - self.crc_bytes
        # LDPC codes per block size (k, n), the least recently used dropped beyond MAX_CODES:
        # video payloads come in many sizes, and an unbounded cache (a method cache kept every
        # coder ever made alive, too) grew an evaluation worker to 12 GB
        self._codes: collections.OrderedDict[tuple[int, int], tuple[LdpcEncoder, LdpcDecoder]] = (
            collections.OrderedDict()
        )

    @property
    def modulation(self) -> str:
        return self.constellation.modulation

    def n_symbols(self, n_bytes: int, n_blocks: int | None = None) -> int:
        """Symbols on air for a payload of ``n_bytes`` (only ``n_blocks`` of its code blocks
        when given), pilots included."""
        p = self.plan(n_bytes)
        n_data = (p.n_blocks if n_blocks is None else n_blocks) * p.n // self.constellation.q
        return n_data if self.pilots is None else self.pilots.n_transmitted(n_data)

    def plan(self, n_bytes: int) -> BlockPlan:
        if n_bytes < 0:
            raise ValueError(f"payload length must be >= 0, got {n_bytes}")
        n_blocks = max(1, -(-n_bytes // self.max_block_bytes))
        block_bytes = -(-n_bytes // n_blocks)
        k = 8 * (block_bytes + self.crc_bytes)
        q = self.constellation.q
        n = -(-math.ceil(k / self.rate) // q) * q
        return BlockPlan(n_bytes, n_blocks, block_bytes, k, n)

    MAX_CODES = 512  # ~0.4 MB each; a stream of one kind of payload rarely has more sizes

    def _codec(self, k: int, n: int) -> tuple[LdpcEncoder, LdpcDecoder]:
        code = self._codes.pop((k, n), None)
        if code is None:
            enc = LdpcEncoder(k, n, qm=self.constellation.q)
            code = (enc, LdpcDecoder(enc))
        self._codes[(k, n)] = code  # the most recently used last
        while len(self._codes) > self.MAX_CODES:
            self._codes.popitem(last=False)
        return code

    def encode(self, payload: bytes, rv: int = 0, blocks: Sequence[int] = ()) -> npt.NDArray[np.complex64]:
        """payload -> (n_symbols(len(payload), len(blocks) or None),) complex64 unit-energy
        symbols of the code blocks ``blocks`` (in that order; () = all of them)."""
        p = self.plan(len(payload))
        chosen = _checked_blocks(blocks, p.n_blocks)
        padded = payload.ljust(p.n_blocks * p.block_bytes, b"\0")
        coded = [attach_crc(padded[i * p.block_bytes : (i + 1) * p.block_bytes], self.crc) for i in chosen]
        bits = np.unpackbits(np.frombuffer(b"".join(coded), dtype=np.uint8)).reshape(len(chosen), p.k)
        enc, _ = self._codec(p.k, p.n)
        symbols = self.constellation.map(enc(bits, rv).reshape(-1))
        return symbols if self.pilots is None else self.pilots.insert(symbols)

    def warm_up(self) -> None:
        """Load the compiled kernels (numba's cache) now rather than on the first live burst."""
        payload = bytes(64)
        y = self.encode(payload)
        h = None if self.pilots else np.ones(y.shape[0], dtype=np.complex64)
        self.receiver(len(payload)).receive(y, 1e-3, h)

    def receiver(self, n_bytes: int) -> PayloadReceiver:
        """A HARQ receiver for one payload of ``n_bytes``."""
        p = self.plan(n_bytes)
        return PayloadReceiver(self, p, HarqProcess(self._codec(p.k, p.n)[1], p.n_blocks))


class PayloadReceiver:
    """Soft-combines every transmission of one payload until all its blocks pass CRC."""

    def __init__(self, coder: TransportCoder, plan: BlockPlan, harq: HarqProcess) -> None:
        self.coder = coder
        self.plan = plan
        self.harq = harq
        self.block_ok = np.zeros(plan.n_blocks, dtype=bool)
        self._blocks: list[bytes | None] = [None] * plan.n_blocks
        self._latest: list[bytes] = [bytes(plan.block_bytes)] * plan.n_blocks

    @property
    def missing(self) -> tuple[int, ...]:
        """The code blocks that have not passed their CRC yet: all a resend needs to carry."""
        return tuple(int(i) for i in np.nonzero(~self.block_ok)[0])

    def receive(
        self,
        y: npt.ArrayLike,
        no: npt.ArrayLike,
        h: npt.ArrayLike | None = None,
        rv: int = 0,
        blocks: Sequence[int] = (),
    ) -> bytes | None:
        """Add one received transmission and try to decode.

        Args:
            y: (n_symbols,) received symbols of this payload (pilots included if the coder has them).
            no: noise variance (scalar or per data symbol).
            h: channel per data symbol; None with pilots (estimated from them) or for AWGN.
            rv: redundancy version the sender used.
            blocks: the code blocks the transmission carries, in order (() = all).
        Returns:
            the payload when every block passed its CRC, else None (ask again).
        """
        y = np.asarray(y)
        carried = _checked_blocks(blocks, self.plan.n_blocks)
        expected = self.coder.n_symbols(self.plan.n_bytes, len(carried))
        if y.shape != (expected,):
            raise ValueError(f"expected {expected} symbols for this payload, got {y.shape}")
        pilots = self.coder.pilots
        if pilots is not None and h is None:
            no_scalar = float(np.mean(np.asarray(no, dtype=np.float64)))
            y, h, err = estimate_channel(y, pilots, no_scalar)
            no = no_scalar + err  # estimation error adds to the noise the demapper expects
        llr = self.coder.constellation.demap(y, no, h, self.coder.demap_method)
        # blocks that passed their CRC are kept as they are
        waiting = np.array([i for i in carried if not self.block_ok[i]], dtype=np.int64)
        result = self.harq.receive(llr.reshape(len(carried), self.plan.n), rv, carried, waiting)
        packed = np.packbits(result.bits, axis=1)
        for row, i in enumerate(waiting):
            block = packed[row].tobytes()
            self._latest[i] = data = block[: -self.coder.crc_bytes]
            if result.ok[row] and check_crc(block, self.coder.crc):
                self.block_ok[i] = True
                self._blocks[i] = data
        if not self.block_ok.all():
            return None
        return b"".join(b for b in self._blocks if b is not None)[: self.plan.n_bytes]

    def best_effort(self) -> bytes:
        """The payload as decoded so far, damaged blocks included (what a receiver without
        retransmission would hand to its source decoder)."""
        blocks = [
            ok if ok is not None else latest for ok, latest in zip(self._blocks, self._latest, strict=True)
        ]
        return b"".join(blocks)[: self.plan.n_bytes]


def _checked_blocks(blocks: Sequence[int], n_blocks: int) -> list[int]:
    """The code block numbers of a transmission (() = all ``n_blocks``), checked."""
    if not blocks:
        return list(range(n_blocks))
    chosen = [int(i) for i in blocks]
    if chosen != sorted(set(chosen)) or not 0 <= chosen[0] <= chosen[-1] < n_blocks:
        raise ValueError(f"blocks must be increasing numbers below {n_blocks}, got {list(blocks)[:8]}")
    return chosen
