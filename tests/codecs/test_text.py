import numpy as np
import pytest

from m3e.codecs.text import TEXT_CODECS, text_codec

SENTENCE = 'a person is speaking: "The astronaut is talking about the mission to the moon."'


@pytest.mark.parametrize("name", list(TEXT_CODECS))
def test_roundtrip(name: str) -> None:
    codec = text_codec(name)
    decoded = codec.decode(codec.encode(SENTENCE))
    expected = SENTENCE.lower().replace('"', "'") if name == "5bit" else SENTENCE
    assert decoded == expected


def test_compression_order() -> None:
    size = {n: len(text_codec(n).encode(SENTENCE)) for n in TEXT_CODECS}
    assert size["huffman"] < size["5bit"] < size["utf8"]
    assert size["brotli"] < size["utf8"]


@pytest.mark.parametrize("name", list(TEXT_CODECS))
def test_damaged_bytes_never_raise(name: str, rng: np.random.Generator) -> None:
    codec = text_codec(name)
    for _ in range(50):
        assert isinstance(
            codec.decode(rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8).tobytes()), str
        )


def test_unknown_codec() -> None:
    with pytest.raises(ValueError, match="unknown text codec"):
        text_codec("lzma")
