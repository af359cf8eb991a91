"""Traditional text source codecs, the baselines of the semantic text link (paper Fig. 5):
UTF-8, Huffman (a fixed code both ends build from the same English corpus), 5-bit packing
(lower-case letters, space and 5 punctuation marks) and Brotli. Decoders never raise: damaged
bytes give whatever text they still spell."""

from __future__ import annotations

import functools
from typing import Protocol

import brotli
import numpy as np
from dahuffman import HuffmanCodec

FIVE_BIT_ALPHABET = " abcdefghijklmnopqrstuvwxyz.,:'?"  # 32 symbols; anything else becomes "?"
_FIVE_BIT_SUBSTITUTES = {'"': "'", "!": ".", ";": ",", "-": " "}
_CORPUS = (
    "a person is speaking and a cat is sitting on the sofa near the window. the astronaut is talking "
    "about the mission to the moon. a dog is barking in the garden while a car is driving past. "
    "please send the pictures of the rocket to the team. a cup of coffee stands on the table, "
    "and a motorcycle is parked outside. nothing recognised. someone is speaking: hello, how are you? "
    "the train is passing, an airplane is flying over the city, the phone is ringing! "
    '0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ "-:;()'
)


class TextCodec(Protocol):
    name: str

    def encode(self, text: str) -> bytes: ...
    def decode(self, data: bytes) -> str: ...


class Utf8:
    name = "utf8"

    def encode(self, text: str) -> bytes:
        return text.encode()

    def decode(self, data: bytes) -> str:
        return data.decode(errors="replace")


class Huffman:
    name = "huffman"

    def __init__(self) -> None:
        # every byte value appears at least once, so any text can be coded
        corpus = _CORPUS.encode() + bytes(range(256))
        self._codec = HuffmanCodec.from_data(corpus)

    def encode(self, text: str) -> bytes:
        return bytes(self._codec.encode(text.encode()))

    def decode(self, data: bytes) -> str:
        try:
            return bytes(self._codec.decode(data)).decode(errors="replace")
        except Exception:  # a damaged code stream can end inside a code word
            return ""


class FiveBit:
    name = "5bit"

    def encode(self, text: str) -> bytes:
        index = {c: i for i, c in enumerate(FIVE_BIT_ALPHABET)}
        text = "".join(_FIVE_BIT_SUBSTITUTES.get(c, c) for c in text.lower())
        codes = [index.get(c, FIVE_BIT_ALPHABET.index("?")) for c in text]
        bits = np.array([[(c >> (4 - k)) & 1 for k in range(5)] for c in codes], dtype=np.uint8).reshape(-1)
        # a 16-bit length prefix tells the decoder where the padding starts
        header = np.unpackbits(np.frombuffer(len(codes).to_bytes(2, "big"), dtype=np.uint8))
        return np.packbits(np.concatenate([header, bits])).tobytes()

    def decode(self, data: bytes) -> str:
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        if bits.size < 16:
            return ""
        n = min(int.from_bytes(np.packbits(bits[:16]).tobytes(), "big"), (bits.size - 16) // 5)
        codes = bits[16 : 16 + 5 * n].reshape(n, 5) @ (1 << np.arange(4, -1, -1))
        return "".join(FIVE_BIT_ALPHABET[c] for c in codes)


class Brotli:
    name = "brotli"

    def encode(self, text: str) -> bytes:
        return bytes(brotli.compress(text.encode(), quality=11))

    def decode(self, data: bytes) -> str:
        try:
            return bytes(brotli.decompress(data)).decode(errors="replace")
        except brotli.error:
            return ""


TEXT_CODECS: dict[str, type] = {c.name: c for c in (Utf8, Huffman, FiveBit, Brotli)}


@functools.cache
def text_codec(name: str) -> TextCodec:
    try:
        return TEXT_CODECS[name]()
    except KeyError:
        raise ValueError(f"unknown text codec {name!r}; expected one of {list(TEXT_CODECS)}") from None
