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
