"""A payload through the physical layer with HARQ, in process (the code the processes run):
CRC + 5G LDPC + QAM behind pilots, block fading + AWGN, LMMSE estimation, incremental
redundancy of the code blocks still failing (as a NACK names them) until every CRC passes or
the transmissions run out."""

from __future__ import annotations

from m3e.phy.channels import BlockFadingChannel
from m3e.phy.estimation import PilotLayout
from m3e.phy.harq import redundancy_version
from m3e.phy.link import TransportCoder

PILOTS = PilotLayout(256, 4)  # the sender's default layout


def send_payload(
    payload: bytes,
    snr_db: float,
    channel: BlockFadingChannel,
    coder: TransportCoder,
    max_transmissions: int = 4,
    best_effort: bool = False,
) -> tuple[bytes | None, int]:
    """-> the payload the receiver decoded (None when lost; with ``best_effort`` the damaged
    bits instead, as a semantic decoder takes them) and the channel symbols spent."""
    if not payload:
        return payload, 0
    rx = coder.receiver(len(payload))
    symbols = 0
    for attempt in range(max_transmissions):
        rv = redundancy_version("ir", attempt)
        blocks = rx.missing if attempt else ()  # a resend carries what the NACK named
        out = channel(coder.encode(payload, rv, blocks), snr_db)
        symbols += out.y.shape[0]
        decoded = rx.receive(out.y, out.no, None, rv, blocks)  # h from the pilots
        if decoded is not None:
            return decoded, symbols
    return (rx.best_effort() if best_effort else None), symbols


def transport(modulation: str, rate: float = 0.75) -> TransportCoder:
    return TransportCoder(modulation, rate, pilots=PILOTS)
