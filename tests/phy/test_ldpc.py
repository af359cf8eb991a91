import numpy as np
import pytest

from m3e.phy.channels import awgn, snr_db_to_no
from m3e.phy.crc import attach_crc, check_crc, crc
from m3e.phy.harq import HarqProcess, redundancy_version
from m3e.phy.ldpc import LdpcDecoder, LdpcEncoder, make_code
from m3e.phy.modulation import Constellation

CODES = [(6000, 8000), (8448, 10000), (100, 300), (1000, 2000), (3000, 6000), (40, 200)]


def _parity_ok(enc: LdpcEncoder, cw: np.ndarray) -> bool:
    code = enc.code
    z = code.z
    for r in range(code.bm.shape[0]):
        acc = np.zeros((cw.shape[0], z), dtype=np.uint8)
        for col in np.nonzero(code.bm[r] >= 0)[0]:
            acc ^= np.roll(cw[:, col * z : (col + 1) * z], -int(code.bm[r, col]), axis=1)
        if acc.any():
            return False
    return True


@pytest.mark.parametrize(("k", "n"), CODES)
def test_codewords_satisfy_every_check(k: int, n: int, rng: np.random.Generator) -> None:
    enc = LdpcEncoder(k, n)
    assert _parity_ok(enc, enc.encode_mother(rng.integers(0, 2, (3, k))))


def test_both_base_graphs_and_largest_lifting() -> None:
    assert make_code(8448, 10000).bg == 1 and make_code(8448, 10000).z == 384
    assert make_code(1000, 2000).bg == 2
    assert make_code(3824, 5000).bg == 1


@pytest.mark.parametrize(("k", "n"), CODES)
def test_noiseless_decode_is_exact(k: int, n: int, rng: np.random.Generator) -> None:
    enc = LdpcEncoder(k, n)
    u = rng.integers(0, 2, (4, k))
    llr = np.where(enc(u) == 0, 4.0, -4.0)
    result = LdpcDecoder(enc)(llr)
    assert np.array_equal(result.bits, u) and result.ok.all()


@pytest.mark.parametrize(("k", "n"), CODES[:4])
def test_codewords_equal_sionna_for_every_rv(k: int, n: int, rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    u = rng.integers(0, 2, (3, k))
    ref = LDPC5GEncoder(k, n)(torch.tensor(u, dtype=torch.float32), rv=[0, 1, 2, 3]).numpy()
    enc = LdpcEncoder(k, n)
    mine = np.stack([enc(u, rv) for rv in range(4)], axis=1)
    assert np.array_equal(mine, ref.astype(np.uint8))


def test_bit_interleaver_matches_sionna(rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    u = rng.integers(0, 2, (2, 1200))
    ref = LDPC5GEncoder(1200, 1600, num_bits_per_symbol=4)(torch.tensor(u, dtype=torch.float32)).numpy()
    assert np.array_equal(LdpcEncoder(1200, 1600, qm=4)(u), ref.astype(np.uint8))


def test_decoder_bler_close_to_sionna(rng: np.random.Generator) -> None:
    """Same LLRs into both decoders; min-sum may lose a little to Sionna's sum-product."""
    torch = pytest.importorskip("torch")
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    k, n, snr = 1200, 1600, 4.6
    const = Constellation("qpsk")
    enc = LdpcEncoder(k, n)
    u = rng.integers(0, 2, (300, k))
    no = snr_db_to_no(snr)
    llr = const.demap(awgn(const.map(enc(u).reshape(-1)), no, rng), no).reshape(300, n)
    ours = np.mean(np.any(LdpcDecoder(enc)(llr).bits != u, axis=1))
    sdec = LDPC5GDecoder(LDPC5GEncoder(k, n), hard_out=True)
    theirs = np.mean(np.any(sdec(torch.tensor(-llr)).numpy().astype(np.uint8) != u, axis=1))
    assert 0 < theirs < 0.9  # the point is in the waterfall, so the comparison means something
    assert ours <= theirs + 0.1


def test_fixed_point_decoder_matches_the_float_reference(rng: np.random.Generator) -> None:
    """The C kernel (int16) against the previous float32 decoder on the same waterfall LLRs:
    no worse BLER, and one block per call decodes exactly as the batch does."""
    from bench.ldpc_reference import FloatLdpcDecoder

    k, n, snr = 6000, 8000, 10.0  # 16-QAM rate 3/4 at its waterfall (BLER ≈ 0.2-0.6)
    const = Constellation("16qam")
    enc = LdpcEncoder(k, n, qm=4)
    u = rng.integers(0, 2, (120, k))
    no = snr_db_to_no(snr)
    llr = const.demap(awgn(const.map(enc(u).reshape(-1)), no, rng), no).reshape(120, n)
    ours = LdpcDecoder(enc)(llr)
    float_bler = np.mean(np.any(FloatLdpcDecoder(enc)(llr).bits != u, axis=1))
    assert 0.05 < float_bler < 0.95
    assert np.mean(np.any(ours.bits != u, axis=1)) <= float_bler + 0.05
    single = [LdpcDecoder(enc)(llr[i]) for i in range(0, 120, 40)]
    assert all(np.array_equal(s.bits[0], ours.bits[i * 40]) for i, s in enumerate(single))


def test_a_stalled_block_stops_early_and_the_waterfall_keeps_its_bler(rng: np.random.Generator) -> None:
    """The stall rule gives up on blocks far below the threshold after a few iterations, and
    on the waterfall decodes every block that 20 full iterations decode."""
    k, n = 6000, 8000
    const = Constellation("16qam")
    enc = LdpcEncoder(k, n, qm=4)
    u = rng.integers(0, 2, (60, k))
    for snr, hopeless in ((7.0, True), (10.1, False)):
        no = snr_db_to_no(snr)
        llr = const.demap(awgn(const.map(enc(u).reshape(-1)), no, rng), no).reshape(60, n)
        full, stalled = LdpcDecoder(enc, stall=0)(llr), LdpcDecoder(enc, stall=4)(llr)
        if hopeless:
            assert not full.ok.any() and (full.iterations == 20).all()
            assert stalled.iterations.mean() < 12 and not stalled.ok.any()
        else:
            assert 0 < full.ok.mean() < 1  # the waterfall
            assert np.array_equal(stalled.ok, full.ok)
            assert np.array_equal(stalled.bits[full.ok], full.bits[full.ok])


def test_llrs_combine_into_the_rows_they_belong_to() -> None:
    enc = LdpcEncoder(100, 200)
    n = enc.code.n
    llr = np.arange(n, dtype=np.float32)
    buffer = enc.accumulate(enc.new_buffer(3), np.stack([llr, 2 * llr]), 0, rows=[2, 0])
    enc.accumulate(buffer, llr, 0, rows=[2])
    assert np.array_equal(buffer[2, enc.positions(0)], 2 * llr)  # twice into row 2
    assert np.array_equal(buffer[0, enc.positions(0)], 2 * llr)
    assert not buffer[1].any()
    with pytest.raises(ValueError, match="shape"):
        enc.accumulate(buffer, llr, 0, rows=[0, 1])


@pytest.mark.parametrize("sigma", [0.3, 0.03, 3e-3, 3e-5])
def test_confident_llrs_decode(sigma: float, rng: np.random.Generator) -> None:
    """High-SNR bursts give LLRs in the thousands next to faded bits near zero; saturating the
    fixed point must lose nothing (an earlier kernel failed clean 25 dB bursts)."""
    k, n = 1200, 2400
    enc = LdpcEncoder(k, n)
    u = rng.integers(0, 2, (4, k))
    x = 1.0 - 2.0 * enc(u)
    h = np.where(rng.random(x.shape) < 0.2, 0.1 * sigma, 1.0)  # 20 % of the bits in deep fades
    y = h * x + rng.normal(0, sigma, x.shape)
    result = LdpcDecoder(enc)(2 * h * y / sigma**2)  # BPSK LLRs as a demapper gives them
    assert result.ok.all() and np.array_equal(result.bits, u)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="k must be"):
        LdpcEncoder(9000, 12000)
    with pytest.raises(ValueError, match="k must be"):
        LdpcEncoder(5, 20)
    with pytest.raises(ValueError, match="code rate"):
        LdpcEncoder(1000, 1020)
    with pytest.raises(ValueError, match="redundancy version"):
        LdpcEncoder(100, 200).positions(4)
    with pytest.raises(ValueError, match="shape"):
        LdpcEncoder(100, 200)(np.zeros(99))
    with pytest.raises(ValueError, match="shape"):
        LdpcDecoder(LdpcEncoder(100, 200))(np.zeros(150))
    from m3e.phy import _ldpc  # type: ignore[attr-defined]

    enc = LdpcEncoder(100, 200)
    c, g = enc.code, enc._graph
    llr = np.zeros((1, c.n_ldpc), np.float32)
    out = (np.empty((1, c.k), np.uint8), np.empty(1, np.int32), np.empty(1, np.uint8))
    graph = (g.row_ptr, g.col, g.shift, 5, 0)  # max_iter, stall
    with pytest.raises(ValueError, match="hard"):
        _ldpc.decode(llr, c.k, c.kb, c.z, *graph, out[0][:, :-1], *out[1:])
    with pytest.raises(ValueError, match="out of range"):
        _ldpc.decode(llr, c.k, c.kb, 999, *graph, *out)
    with pytest.raises(ValueError, match="does not fit"):
        _ldpc.decode(llr[:, : 4 * c.z], c.k, c.kb, c.z, *graph, *out)


def test_crc_matches_sionna_and_catches_corruption(rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    from sionna.phy.fec.crc import CRCEncoder

    data = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    for kind in ("crc24a", "crc24b", "crc16"):
        bits = np.unpackbits(np.frombuffer(data, np.uint8)).astype(np.float32)
        ref = CRCEncoder(kind.upper())(torch.tensor(bits[None]))[0].numpy().astype(np.uint8)
        assert np.packbits(ref).tobytes() == attach_crc(data, kind)
    block = bytearray(attach_crc(data))
    assert check_crc(bytes(block))
    for bit in rng.choice(len(block) * 8, 200, replace=False):
        bad = bytearray(block)
        bad[bit // 8] ^= 1 << (bit % 8)
        assert not check_crc(bytes(bad))
    for _ in range(200):  # random multi-bit damage
        bad = bytearray(block)
        for i in rng.choice(len(block), 5, replace=False):
            bad[i] ^= int(rng.integers(1, 256))
        assert not check_crc(bytes(bad))
    with pytest.raises(ValueError, match="unknown CRC"):
        crc(b"x", "crc7")


def _harq_bler(mode: str, attempts: int, snr: float, rng: np.random.Generator) -> float:
    k, n, blocks = 1500, 2000, 60
    const = Constellation("16qam")
    enc = LdpcEncoder(k, n, qm=4)
    u = rng.integers(0, 2, (blocks, k))
    harq = HarqProcess(LdpcDecoder(enc), blocks)
    no = snr_db_to_no(snr)
    for a in range(attempts):
        rv = redundancy_version(mode, a)
        llr = const.demap(awgn(const.map(enc(u, rv).reshape(-1)), no, rng), no)
        result = harq.receive(llr.reshape(blocks, n), rv)
    return float(np.mean(np.any(result.bits != u, axis=1)))


def test_incremental_redundancy_decodes_where_one_transmission_fails(rng: np.random.Generator) -> None:
    snr = 7.0  # well below the ~10 dB a single 16-QAM rate-3/4 transmission needs
    assert _harq_bler("ir", 1, snr, rng) > 0.9
    assert _harq_bler("ir", 2, snr, rng) < 0.05


def test_chase_combining_improves_decoding(rng: np.random.Generator) -> None:
    snr = 8.5
    one, two = _harq_bler("chase", 1, snr, rng), _harq_bler("chase", 2, snr, rng)
    assert one > 0.9 and two < 0.1


def test_committed_base_graphs_match_the_reference_tables() -> None:
    import importlib.util
    from pathlib import Path

    from m3e.phy.data.make_base_graphs import SHAPES, read_csv
    from m3e.phy.ldpc import base_graph

    spec = importlib.util.find_spec("sionna")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("sionna not installed")
    codes = Path(spec.submodule_search_locations[0]) / "phy" / "fec" / "ldpc" / "codes"
    for bg, shape in SHAPES.items():
        ref = read_csv(codes / f"5G_bg{bg}.csv", shape)
        for i_ls in range(8):
            assert np.array_equal(base_graph(bg, i_ls), ref[i_ls])
