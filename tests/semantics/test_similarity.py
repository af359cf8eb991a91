import numpy as np
import pytest

from m3e.semantics.similarity import sentence_encoder, xi


def test_embeddings_are_unit_384d() -> None:
    e = sentence_encoder()(["a cat", "a dog is barking"])
    assert e.shape == (2, 384)
    assert abs(float((e * e).sum(1).max()) - 1) < 1e-5


def test_xi_orders_meaning() -> None:
    ref = "a cat is sitting on a sofa"
    same, paraphrase, unrelated, empty = xi(
        [ref] * 4, [ref, "a kitten rests on the couch", "a rocket launches", ""]
    )
    assert same == pytest.approx(1.0, abs=1e-5)
    assert 0.6 < paraphrase < 1.0
    assert unrelated < 0.3
    assert empty == 0.0
    with pytest.raises(ValueError, match="decoded"):
        xi([ref], [])


def test_a_sentence_embedded_again_is_not_run_again_and_is_the_same() -> None:
    encoder = sentence_encoder()
    sentence = "a man is reading the quarterly report to his daughter"
    first = encoder([sentence])
    calls = []
    model = encoder.model
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        again = encoder([sentence])
        batch = encoder([sentence, "a dog is barking"])
    finally:
        hook.remove()
    assert calls == [1]  # the batch ran the model; the second single call did not
    assert np.array_equal(first, again)
    assert np.allclose(batch[0], first[0], atol=1e-5)
    again[0, 0] = 9.0  # a copy: the kept one is not changed through it
    assert np.array_equal(encoder([sentence]), first)
