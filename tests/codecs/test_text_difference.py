import pytest
from hypothesis import given
from hypothesis import strategies as st

from m3e.codecs.text_difference import MAX_BYTES, MIN_BYTES, TextDifference, detokenize, sentence_check

TRICKY = [
    'a person is speaking: "Let us meet at the train station at 5:30, Mr. O\'Neill!"',
    "Café in Zürich costs $4.50 (tax included).",
    "I don't think NASA launched 3 rockets in 1969; it was more.",
    "she said  two   spaces",
    "",
]


def test_detokenize_spacing() -> None:
    assert detokenize(["don", "'", "t", "go", "!"]) == "don't go!"
    assert detokenize(["at", "5", ":", "30", ",", "mr", "."]) == "at 5:30, mr."
    assert detokenize(["speaking", ":", '"', "hi", "there", '"']) == 'speaking: "hi there"'
    assert detokenize(["zur", "##ich", "costs", "$", "4", ".", "50"]) == "zurich costs $4.50"


@pytest.mark.parametrize("sentence", TRICKY)
def test_difference_restores_the_exact_sentence_from_a_lossy_base(sentence: str) -> None:
    base = sentence.lower().replace("é", "e").replace("ü", "u").replace(": ", " : ")
    diff = TextDifference.between(sentence, [1, 2, 3], [1, 9, 3], base)
    assert diff.corrections == ((1, 2),)
    again = TextDifference.from_bytes(diff.to_bytes())
    assert again == diff
    assert again.apply_text(base) == sentence
    assert sentence_check(again.apply_text(base)) == diff.check


def test_a_plain_sentence_costs_only_its_counts_and_check() -> None:
    diff = TextDifference.between("A cat on a sofa", [5, 6], [5, 6], "a cat on a sofa")
    assert len(diff.to_bytes()) == 4  # the counts' byte + 24-bit check


@pytest.mark.parametrize(
    "sentence", ["I think it will rain. Take an umbrella!", 'He said: "yes." Then i left?', "5 cats. Okay"]
)
def test_sentence_case_costs_nothing_and_other_capitals_are_flipped(sentence: str) -> None:
    base = sentence.lower()
    diff = TextDifference.between(sentence, [], [], base)
    assert diff.apply_text(base) == sentence
    plain = sentence in ("I think it will rain. Take an umbrella!", "5 cats. Okay")
    assert (len(diff.to_bytes()) == MIN_BYTES) == plain


def test_an_oversized_difference_drops_its_edits() -> None:
    sentence = "x" * 400
    diff = TextDifference.between(sentence, [], [], "")
    assert diff.edits == () and diff.check == sentence_check(sentence)
    assert len(diff.to_bytes()) <= MAX_BYTES


@given(
    st.lists(st.tuples(st.integers(0, 47), st.integers(0, 30521)), max_size=8),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 5), st.text(max_size=6)), max_size=5),
    st.lists(st.integers(0, 200), max_size=8),
    st.integers(0, 2**24 - 1),
)
def test_serialisation_round_trip(corrections, edits, flips, check) -> None:  # type: ignore[no-untyped-def]
    diff = TextDifference(
        tuple(sorted(dict(corrections).items())), tuple(sorted(edits)), tuple(sorted(set(flips))), check
    )
    assert TextDifference.from_bytes(diff.to_bytes()) == diff


@pytest.mark.parametrize("bad", [b"", b"\x00\x00", b"\x05\x00\x00abc", b"\xff\xff\xff\xff\xff\xff\xff"])
def test_malformed_bytes_are_refused(bad: bytes) -> None:
    with pytest.raises(ValueError):
        TextDifference.from_bytes(bad)
