import numpy as np
import pytest

from m3e.phy.modulation import BITS_PER_SYMBOL, Constellation, hard_decision

MODS = list(BITS_PER_SYMBOL)


@pytest.mark.parametrize("mod", MODS)
def test_unit_average_energy(mod: str) -> None:
    assert np.mean(np.abs(Constellation(mod).points) ** 2) == pytest.approx(1.0)


@pytest.mark.parametrize("mod", ["16qam", "64qam"])
def test_gray_nearest_neighbours_differ_in_one_bit(mod: str) -> None:
    c = Constellation(mod)
    pts = c.points
    d = np.abs(pts[:, None] - pts[None, :])
    dmin = d[d > 0].min()
    for a, b in zip(*np.nonzero(np.isclose(d, dmin)), strict=True):
        assert bin(a ^ b).count("1") == 1


def test_points_match_sionna_38211() -> None:
    torch = pytest.importorskip("torch")
    from sionna.phy.mapping import Constellation as SionnaConstellation

    for q in (2, 4, 6):
        ref = SionnaConstellation("qam", q)()
        ref = ref.numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
        assert np.allclose(Constellation({2: "qpsk", 4: "16qam", 6: "64qam"}[q]).points, ref, atol=1e-6)


@pytest.mark.parametrize("mod", MODS)
@pytest.mark.parametrize("method", ["maxlog", "exact"])
def test_noiseless_roundtrip(mod: str, method: str, rng: np.random.Generator) -> None:
    c = Constellation(mod)
    bits = rng.integers(0, 2, 600 * c.q)
    h = (rng.standard_normal(600) + 1j * rng.standard_normal(600)).astype(np.complex64)
    llr = c.demap(h * c.map(bits), 1e-7, h=h, method=method)
    assert np.array_equal(hard_decision(llr), bits)


@pytest.mark.parametrize("mod", ["qpsk", "16qam", "64qam"])
def test_exact_llr_matches_full_search(mod: str, rng: np.random.Generator) -> None:
    """The per-dimension demapper against a brute-force sum over all 2^q points."""
    c = Constellation(mod)
    y = (rng.standard_normal(50) + 1j * rng.standard_normal(50)) * 0.8
    no = 0.3
    llr = c.demap(y, no, method="exact").reshape(50, c.q)
    lik = np.exp(-(np.abs(y[:, None] - c.points[None, :]) ** 2) / no)
    labels = np.arange(2**c.q)
    for i in range(c.q):
        one = (labels >> (c.q - 1 - i)) & 1
        ref = np.log(lik[:, one == 0].sum(1)) - np.log(lik[:, one == 1].sum(1))
        assert np.allclose(llr[:, i], ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mod", ["qpsk", "16qam", "64qam"])
@pytest.mark.parametrize("faded", [False, True])
def test_maxlog_llr_matches_full_search(mod: str, faded: bool, rng: np.random.Generator) -> None:
    """Max-log (closed form for QPSK / 16-QAM) against the best point of each bit value, with
    a per-symbol channel and noise."""
    c = Constellation(mod)
    y = (rng.standard_normal(200) + 1j * rng.standard_normal(200)) * 0.9
    h = (rng.standard_normal(200) + 1j * rng.standard_normal(200)) / np.sqrt(2) if faded else None
    no = rng.uniform(0.05, 2.0, 200)
    llr = c.demap(y, no, h=h, method="maxlog").reshape(200, c.q)
    gain = 1.0 if h is None else h
    dist = -(np.abs(y[:, None] - np.asarray(gain).reshape(-1, 1) * c.points[None, :]) ** 2) / no[:, None]
    labels = np.arange(2**c.q)
    for i in range(c.q):
        one = (labels >> (c.q - 1 - i)) & 1
        ref = dist[:, one == 0].max(1) - dist[:, one == 1].max(1)
        assert np.allclose(llr[:, i], ref, rtol=1e-4, atol=1e-3)


def test_maxlog_close_to_exact_at_high_snr(rng: np.random.Generator) -> None:
    c = Constellation("16qam")
    x = c.map(rng.integers(0, 2, 4000))
    y = x + 0.01 * (rng.standard_normal(1000) + 1j * rng.standard_normal(1000))
    a, b = c.demap(y, 1e-3, method="maxlog"), c.demap(y, 1e-3, method="exact")
    assert np.allclose(a, b, rtol=1e-3, atol=1e-2)


def test_erased_symbols_give_zero_llr() -> None:
    c = Constellation("16qam")
    llr = c.demap(np.array([0.3 + 0.1j, 0.0]), 0.1, h=np.array([1.0, 0.0]))
    assert np.all(llr[4:] == 0) and np.all(llr[:4] != 0)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="unknown modulation"):
        Constellation("8psk")
    with pytest.raises(ValueError, match="multiple of 4"):
        Constellation("16qam").map(np.zeros(6))
    with pytest.raises(ValueError, match="noise variance"):
        Constellation("qpsk").demap(np.ones(2), float("nan"))
    with pytest.raises(ValueError, match="demapping method"):
        Constellation("qpsk").demap(np.ones(2), 1.0, method="app")
