"""Physical layer: symbols, not meaning (imports no codec or semantics).

modulation (Gray QAM, LLR demapping) · channels (eq 6–7; noise from a SIMD kernel) · estimation (pilots,
LS/LMMSE, ZF/MMSE) · crc · ldpc (5G NR) · harq · link (bytes <-> symbols) ·
analog (learned symbols, torch) · theory (closed-form BER, capacity).
"""

from m3e.phy.channels import BlockFadingChannel, ChannelOutput, NormalSource, awgn, snr_db_to_no
from m3e.phy.crc import attach_crc, check_crc, crc
from m3e.phy.estimation import PilotLayout, equalize, estimate_channel
from m3e.phy.harq import HarqProcess, redundancy_version
from m3e.phy.ldpc import DecodeResult, LdpcDecoder, LdpcEncoder, make_code
from m3e.phy.link import PayloadReceiver, TransportCoder
from m3e.phy.modulation import Constellation, bits_per_symbol, hard_decision

__all__ = [
    "BlockFadingChannel",
    "ChannelOutput",
    "Constellation",
    "DecodeResult",
    "HarqProcess",
    "LdpcDecoder",
    "LdpcEncoder",
    "NormalSource",
    "PayloadReceiver",
    "PilotLayout",
    "TransportCoder",
    "attach_crc",
    "awgn",
    "bits_per_symbol",
    "check_crc",
    "crc",
    "equalize",
    "estimate_channel",
    "hard_decision",
    "make_code",
    "redundancy_version",
    "snr_db_to_no",
]
