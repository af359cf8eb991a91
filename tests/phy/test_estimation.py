import numpy as np
import pytest

from m3e.phy.channels import BlockFadingChannel
from m3e.phy.estimation import PilotLayout, equalize, estimate_channel
from m3e.phy.modulation import Constellation, hard_decision


def test_pilot_insert_and_split_roundtrip(rng: np.random.Generator) -> None:
    layout = PilotLayout(spacing=16, n_pilots=2)
    data = (rng.standard_normal(100) + 1j * rng.standard_normal(100)).astype(np.complex64)
    tx = layout.insert(data)
    assert tx.shape[0] == layout.n_transmitted(100) == 100 + 8 * 2
    pilots, back = layout.split(tx)
    assert np.array_equal(back, data) and np.all(pilots == 1)
    assert layout.overhead == pytest.approx(1 / 8)


@pytest.mark.parametrize("method", ["ls", "lmmse"])
def test_estimation_error_matches_theory(method: str, rng: np.random.Generator) -> None:
    layout = PilotLayout(spacing=64, n_pilots=4)
    data = np.ones(63 * 3000, dtype=np.complex64)
    ch = BlockFadingChannel("rayleigh", coherence=64, seed=11)
    out = ch(layout.insert(data), 0.0)
    _, h_hat, err = estimate_channel(out.y, layout, out.no, method=method)
    h_data = layout.split(out.h)[1]
    mse = np.mean(np.abs(h_hat - h_data) ** 2)
    assert mse == pytest.approx(err[0], rel=0.1)
    if method == "lmmse":
        assert err[0] < out.no / layout.n_pilots  # LMMSE beats LS


def test_estimated_csi_decodes_like_perfect_csi(rng: np.random.Generator) -> None:
    c = Constellation("16qam")
    layout = PilotLayout(spacing=128, n_pilots=8)
    bits = rng.integers(0, 2, 4 * 127 * 200)
    out = BlockFadingChannel("rayleigh", coherence=128, seed=2)(layout.insert(c.map(bits)), 25.0)
    data, h_hat, err = estimate_channel(out.y, layout, out.no)
    ber_est = np.mean(hard_decision(c.demap(data, out.no + err, h_hat)) != bits)
    ber_perfect = np.mean(hard_decision(c.demap(data, out.no, layout.split(out.h)[1])) != bits)
    assert ber_est < 2 * ber_perfect + 1e-3


def test_zf_inverts_and_mmse_shrinks() -> None:
    h = np.array([0.5 + 0.5j, 2.0, 0.0])
    x = np.array([1 + 1j, -1.0, 1.0])
    y = h * x
    zf, zf_noise = equalize(y, h, 0.1, "zf")
    assert np.allclose(zf[:2], x[:2]) and zf[2] == 0 and np.isinf(zf_noise[2])
    mmse, mmse_noise = equalize(y, h, 0.1, "mmse")
    assert np.all(np.abs(mmse[:2]) < np.abs(x[:2])) and np.all(mmse_noise <= 1)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="n_pilots"):
        PilotLayout(spacing=4, n_pilots=4)
    with pytest.raises(ValueError, match="same shape"):
        equalize(np.ones(3), np.ones(2), 0.1)
    with pytest.raises(ValueError, match="unknown estimator"):
        estimate_channel(np.ones(8), PilotLayout(8, 1), 0.1, method="dft")
