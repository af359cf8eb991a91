import pytest

from m3e.eval.metrics import word_error_rate, words


def test_word_error_rate() -> None:
    assert words("The cat, the CAT!") == ["the", "cat", "the", "cat"]
    assert word_error_rate("a cat is here", "a cat is here") == 0
    assert word_error_rate("a cat is here", "a dog is here") == pytest.approx(0.25)
    assert word_error_rate("a cat is here", "a cat here") == pytest.approx(0.25)  # deletion
    assert word_error_rate("a cat", "a big cat") == pytest.approx(0.5)  # insertion
    assert word_error_rate("", "") == 0 and word_error_rate("", "x") == 1
