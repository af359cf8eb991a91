import numpy as np
import pytest

from bench.fingerprint_study import cross_validate, replay
from m3e.codecs.semantic_text import CHECK_SYMBOLS, FINGERPRINT_PROJECTION, fingerprint


def _recording(n: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """Transmissions whose decodes sit at a known cosine ξ from what was sent."""
    rng = np.random.default_rng(seed)
    sent = rng.standard_normal((n, 384)).astype(np.float32)
    sent /= np.linalg.norm(sent, axis=1, keepdims=True)
    other = rng.standard_normal((n, 384)).astype(np.float32)
    other -= np.sum(other * sent, 1, keepdims=True) * sent
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    xi = rng.uniform(0.2, 1.0, n).astype(np.float32)
    decoded = xi[:, None] * sent + np.sqrt(1 - xi**2)[:, None] * other
    return {
        "sent": sent,
        "decoded": decoded,
        "xi": xi.astype(np.float64),
        "confidence": np.zeros(n),
        "log_snr": np.full(n, 3.0),
        "exact": np.zeros(n, bool),
        "sentence": np.arange(n) % (n // 2),
    }


def test_replay_without_noise_estimates_xi() -> None:
    rec = _recording()
    f = replay(
        rec, FINGERPRINT_PROJECTION, np.zeros((400, CHECK_SYMBOLS)), np.full((400, CHECK_SYMBOLS), 1e4)
    )
    assert np.std(f - rec["xi"]) < 0.1  # 144 random projections keep angles
    again = replay(rec, FINGERPRINT_PROJECTION[:, :32], np.zeros((400, 16)), np.full((400, 16), 1e4))
    assert np.std(again - rec["xi"]) > np.std(f - rec["xi"])  # fewer projections, coarser


def test_fingerprint_batches_and_takes_other_directions() -> None:
    rec = _recording(4)
    batched = fingerprint(rec["sent"])
    assert batched.shape == (4, CHECK_SYMBOLS)
    np.testing.assert_allclose(batched[2], fingerprint(rec["sent"][2]), rtol=1e-5)
    small = fingerprint(rec["sent"], FINGERPRINT_PROJECTION[:, :32])
    assert small.shape == (4, 16)
    assert np.mean(np.abs(small) ** 2) == pytest.approx(1.0, rel=1e-4)


def test_cross_validation_catches_what_the_estimate_sees() -> None:
    rec = _recording()
    perfect = cross_validate(rec, rec["xi"], recall=0.96)
    assert perfect["recall"] >= 0.9 and perfect["false_nack_rate"] < 0.05
    blind = cross_validate(rec, np.random.default_rng(1).uniform(0, 1, 400), recall=0.96)
    assert blind["false_nack_rate"] > 0.5  # an estimate that knows nothing NACKs nearly everything
