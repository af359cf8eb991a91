import numpy as np
import pytest

from m3e.phy.channels import BlockFadingChannel
from m3e.phy.harq import redundancy_version
from m3e.phy.link import MAX_BLOCK_BYTES, TransportCoder


@pytest.mark.parametrize("n_bytes", [0, 1, 500, MAX_BLOCK_BYTES, 3 * MAX_BLOCK_BYTES + 7])
def test_payload_roundtrip_at_high_snr(n_bytes: int, rng: np.random.Generator) -> None:
    coder = TransportCoder("16qam", 0.75)
    payload = rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
    out = BlockFadingChannel("awgn", seed=1)(coder.encode(payload), 30.0)
    assert coder.receiver(n_bytes).receive(out.y, out.no) == payload


@pytest.mark.parametrize("rate", [0.2, 0.25, 0.3, 1 / 3])
def test_rates_below_a_third_use_base_graph_2_blocks(rate: float, rng: np.random.Generator) -> None:
    """Base graph 1's mother code is rate 1/3: below it every block must be small enough for
    base graph 2 (a 13.7 kB payload at rate 0.25 failed with 'k <= 3840')."""
    coder = TransportCoder("qpsk", rate)
    payload = rng.integers(0, 256, 13_700, dtype=np.uint8).tobytes()
    plan = coder.plan(len(payload))
    assert plan.k <= 3824 if rate < 1 / 3 else plan.k > 3824
    assert plan.k / plan.n <= rate + 1e-3
    out = BlockFadingChannel("awgn", seed=4)(coder.encode(payload), 10.0)
    assert coder.receiver(len(payload)).receive(out.y, out.no) == payload


def test_harq_recovers_payload_over_rayleigh(rng: np.random.Generator) -> None:
    coder = TransportCoder("qpsk", 0.75)
    payload = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    ch = BlockFadingChannel("rayleigh", coherence=200, seed=3)
    rx = coder.receiver(len(payload))
    results = []
    for attempt in range(4):
        rv = redundancy_version("ir", attempt)
        out = ch(coder.encode(payload, rv), 4.0)
        results.append(rx.receive(out.y, out.no, out.h, rv))
    assert results[0] is None  # deep fades sink some blocks of the first transmission
    assert payload in results


def test_crc16_blocks_are_smaller_and_round_trip(rng: np.random.Generator) -> None:
    short, usual = TransportCoder("qpsk", 0.5, crc="crc16"), TransportCoder("qpsk", 0.5)
    assert usual.n_symbols(8) - short.n_symbols(8) == 8  # one CRC byte fewer: 8 bits at 1 bit a symbol
    payload = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    out = BlockFadingChannel("awgn", seed=2)(short.encode(payload), 10.0)
    assert short.receiver(8).receive(out.y, out.no) == payload
    garbled = BlockFadingChannel("awgn", seed=2)(short.encode(payload), -20.0)
    assert short.receiver(8).receive(garbled.y, garbled.no) is None
    with pytest.raises(ValueError, match="unknown CRC"):
        TransportCoder("qpsk", 0.5, crc="crc7")


def test_plan_and_wrong_symbol_count() -> None:
    coder = TransportCoder("64qam", 0.5)
    plan = coder.plan(2500)
    assert plan.n_blocks == 3 and plan.n % 6 == 0 and plan.k / plan.n <= 0.5
    with pytest.raises(ValueError, match="expected"):
        coder.receiver(2500).receive(np.zeros(10, dtype=np.complex64), 0.1)
    with pytest.raises(ValueError, match="code rate"):
        TransportCoder("qpsk", 1.2)


def test_payload_with_pilots_over_rayleigh(rng: np.random.Generator) -> None:
    from m3e.phy.estimation import PilotLayout

    coder = TransportCoder("16qam", 0.5, pilots=PilotLayout(spacing=64, n_pilots=4))
    payload = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    x = coder.encode(payload)
    assert x.shape == (coder.n_symbols(len(payload)),)
    out = BlockFadingChannel("rayleigh", coherence=64, seed=5)(x, 25.0)
    assert coder.receiver(len(payload)).receive(out.y, out.no) == payload
