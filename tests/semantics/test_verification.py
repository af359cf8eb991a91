import numpy as np
import torch

from m3e.semantics.train_verifier import evaluate
from m3e.semantics.verification import (
    N_INPUTS,
    SequenceVerifier,
    Verifier,
    load_verifier,
    synthetic_sequences,
)


def test_model_is_causal() -> None:
    torch.manual_seed(0)
    model = Verifier().eval()
    x = torch.rand(1, 8, N_INPUTS)
    y = x.clone()
    y[0, 5:] = torch.rand(3, N_INPUTS)  # change the future only
    with torch.no_grad():
        assert torch.allclose(model(x)[0, :5], model(y)[0, :5], atol=1e-6)


def test_committed_weights_reduce_flicker_on_held_out_sequences() -> None:
    x, y = synthetic_sequences(500, 12, np.random.default_rng(12345))
    m = evaluate(load_verifier(), x, y)
    assert m["flicker_verified"] < 0.6 * m["flicker_raw"]
    assert m["accuracy_verified"] > m["accuracy_raw"] + 0.05


def test_streaming_verifier_holds_a_label_through_a_missed_detection() -> None:
    v = SequenceVerifier()
    for _ in range(4):
        labels, _ = v({"cat": 0.9}, {}, continuity=0.9)
        assert labels[0] == "cat"
    labels, _ = v({"dog": 0.3}, {}, continuity=0.95)  # one flickering keyframe in the same scene
    assert labels[0] == "cat"
    labels, _ = v({"cup": 0.9}, {}, continuity=0.0)  # a cut: let go
    assert labels[0] == "cup"
