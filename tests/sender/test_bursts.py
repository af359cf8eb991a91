"""BurstMaker: payloads into bursts that the receiver's transport decodes, indexes and
sequence numbers, and HARQ's next transmission."""

import numpy as np

from m3e.phy.link import TransportCoder
from m3e.schemes.base import Outgoing
from m3e.wire.messages import Modality
from sender.bursts import BurstMaker
from sender.config import SenderConfig


def _maker() -> BurstMaker:
    return BurstMaker(SenderConfig(modulation="qpsk", code_rate=0.5, pilot_spacing=64, pilot_count=4))


def test_burst_decodes_at_the_receiver_and_numbers_advance() -> None:
    maker = _maker()
    payload = bytes(range(200))
    first = maker.burst(Outgoing(Modality.VIDEO, "h265", 0.5, payload, 1.0))
    second = maker.burst(Outgoing(Modality.VIDEO, "h265", 0.6, payload, 1.0))
    explicit = maker.burst(Outgoing(Modality.VIDEO, "m3e", 0.7, payload, 1.0, index=9, coding="robust"))
    assert (first.seq, second.seq, explicit.seq) == (0, 1, 2)
    assert (first.index, second.index, explicit.index) == (0, 1, 9)
    assert (explicit.modulation, explicit.code_rate) == ("qpsk", 0.5)
    coder = maker.coders["stream"]
    assert coder.receiver(len(payload)).receive(first.iq, 1e-6, None, 0) == payload


def test_retransmission_is_the_next_redundancy_version_and_combines() -> None:
    maker = _maker()
    payload = b"semantic " * 40
    burst = maker.burst(Outgoing(Modality.AUDIO, "aac", 0.0, payload, 0.0))
    again = maker.again(burst, payload, "stream")
    assert (again.seq, again.attempt) == (burst.seq, 1) and again.rv != burst.rv
    coder = TransportCoder("qpsk", 0.5, pilots=maker.pilots)
    rng = np.random.default_rng(0)
    sigma = 0.7  # ≈ 0 dB: neither copy decodes alone, the two combined do
    copies = [
        b.iq + sigma * (rng.normal(size=b.iq.shape) + 1j * rng.normal(size=b.iq.shape))
        for b in (burst, again)
    ]
    copies = [y.astype(np.complex64) for y in copies]
    for y, b in zip(copies, (burst, again), strict=True):
        assert coder.receiver(len(payload)).receive(y, 2 * sigma**2, None, b.rv) is None
    rx = coder.receiver(len(payload))
    assert rx.receive(copies[0], 2 * sigma**2, None, burst.rv) is None
    assert rx.receive(copies[1], 2 * sigma**2, None, again.rv) == payload


def test_analog_symbols_go_behind_pilots_and_are_resent_unchanged() -> None:
    maker = _maker()
    symbols = (np.arange(100) * (1 + 1j) / 100).astype(np.complex64)
    out = Outgoing(Modality.TEXT, "m3e-text", 1.0, b"", 0.0, coding="analog", symbols=symbols, size=11)
    burst = maker.burst(out)
    assert burst.modulation == "analog" and burst.payload_bytes == 11
    assert np.array_equal(maker.pilots.split(burst.iq)[1], symbols)
    again = maker.again(burst, b"", "analog")
    assert again.attempt == 1 and np.array_equal(again.iq, burst.iq)


def test_a_resend_carries_only_the_blocks_asked_for() -> None:
    maker = _maker()
    payload = bytes(range(256)) * 12  # three code blocks
    burst = maker.burst(Outgoing(Modality.VIDEO, "h265", 0.0, payload, 0.0))
    again = maker.again(burst, payload, "stream", (2,))
    assert again.blocks == (2,) and 2 * len(again.iq) < len(burst.iq)
    coder = maker.coders["stream"]
    rx = coder.receiver(len(payload))
    assert rx.receive(coder.encode(payload, 0, (0,)), 1e-6, None, 0, (0,)) is None
    assert rx.missing == (1, 2)
    assert rx.receive(burst.iq, 1e-6, None, 0) == payload
    nonsense = maker.again(burst, payload, "stream", (7,))  # a NACK naming blocks it has not
    assert nonsense.blocks == () and len(nonsense.iq) == len(burst.iq)
