"""The text difference: the M3E idea (paper eq 11–17) applied to the sentence itself.

The semantic symbols of a sentence regenerate its meaning, but not always its letter: a rare
name can come back as a neighbouring WordPiece, and the uncased tokenizer forgets capitals,
accents and some spacing. The sender runs the receiver's own decoder on the clean symbols, so
it knows exactly what the receiver will get wrong when the channel is kind, and sends only that,
as a small digital payload (CRC + LDPC + QPSK, like the other side information):

- ``corrections``: (token position, WordPiece id) where the clean decode differs from the sentence;
- ``edits``: (character position, characters deleted, text inserted) that turn the lower-cased
  detokenised sentence into the original (punctuation spacing, accents, what fell outside the
  token budget), applied first;
- ``flips``: character positions whose case differs from English sentence case (a capital
  first letter, after . ! ? and in the word "I"), applied last: most sentences need none;
- ``check``: a 24-bit hash of the exact sentence, so the receiver knows when it has it (ξ = 1),
  and can try its next-best tokens where it is least sure until the hash matches.

Serialised as one byte of counts (corrections ≤ 3, edits ≤ 3, flips ≤ 14; else 0xFF and three
varints), then unsigned LEB128 varints (positions as deltas): a sentence with a name costs
4–8 bytes before channel coding.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass

CHECK_BYTES = 3
MIN_BYTES = 1 + CHECK_BYTES  # the counts' byte and the check
MAX_BYTES = 255  # beyond this the edits, then the corrections are dropped: the sentence will not be exact
_NO_SPACE_BEFORE = set(".,!?;:%)]}")
_NO_SPACE_AFTER = set("([{$")
_LONG_COUNTS = 0xFF  # the counts' byte when one of them does not fit its bits
_CAPITALISED = re.compile(r"^[^\w]*(\w)|[.!?][\"')\]]*\s+[^\w\s]*(\w)|\b(i)\b(?!\.)")


def sentence_check(sentence: str) -> int:
    """24-bit hash of the exact sentence (its UTF-8)."""
    return int.from_bytes(hashlib.sha1(sentence.encode()).digest()[:CHECK_BYTES], "big")


def detokenize(pieces: list[str]) -> str:
    """WordPiece strings -> text with English spacing ("don ' t" -> "don't", "5 : 30" -> "5:30")."""
    words: list[str] = []
    for p in pieces:
        if p.startswith("##") and words:
            words[-1] += p[2:]
        else:
            words.append(p)
    out = ""
    quote_open = False
    for i, w in enumerate(words):
        prev = words[i - 1] if i else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        space = bool(out)
        if w in _NO_SPACE_BEFORE or (prev and prev in _NO_SPACE_AFTER):
            space = False
        if w == "'" and prev[-1:].isalnum() and nxt[:1].isalpha():
            space = False
        if prev == "'" and i >= 2 and words[i - 2][-1:].isalnum() and w[:1].isalpha():
            space = False
        if w == ":" or (prev in (":", ".", ",") and i >= 2 and words[i - 2].isdigit() and w.isdigit()):
            space = False  # 5:30, 4.50, 1,000
        if w == '"':
            space = space and not quote_open
            quote_open = not quote_open
        elif prev == '"' and quote_open:
            space = False
        out += (" " if space else "") + w
    return out


def sentence_case(text: str) -> set[int]:
    """Character positions English capitalises by rule: the first letter, the first after
    . ! or ? and a space, and the word "i"."""
    return {m.start(g) for m in _CAPITALISED.finditer(text) for g in (1, 2, 3) if m.start(g) >= 0}


def _casable(c: str) -> bool:
    """A lower-case letter with a one-character capital."""
    return len(c.upper()) == 1 and c.upper() != c


def _fold(sentence: str) -> str:
    """Lower-case each character that upper-cases back to itself (positions stay put)."""
    return "".join(c.lower() if len(c.lower()) == 1 and c.lower().upper() == c else c for c in sentence)


def _put(out: bytearray, n: int) -> None:
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def varint(self) -> int:
        n = shift = 0
        while True:
            if self.at >= len(self.data) or shift > 28:
                raise ValueError("truncated or malformed text difference")
            byte = self.data[self.at]
            self.at += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return n

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ValueError("truncated text difference")
        self.at += n
        return self.data[self.at - n : self.at]


@dataclass(frozen=True)
class TextDifference:
    corrections: tuple[tuple[int, int], ...]  # (token position, WordPiece id), increasing positions
    edits: tuple[tuple[int, int, str], ...]  # (char position in the base text, deleted, inserted)
    flips: tuple[int, ...]  # char positions in the edited text whose case differs from sentence_case
    check: int

    @classmethod
    def between(cls, sentence: str, true_ids: list[int], decoded_ids: list[int], base: str) -> TextDifference:
        """The difference that turns the receiver's clean decode (``decoded_ids``) into ``sentence``,
        whose tokens are ``true_ids`` and whose detokenised lower-case text is ``base``."""
        corrections = tuple(
            (i, t) for i, (t, d) in enumerate(zip(true_ids, decoded_ids, strict=True)) if t != d
        )
        folded = _fold(sentence)
        edits = []
        matcher = difflib.SequenceMatcher(None, base, folded, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op != "equal":
                edits.append((i1, i2 - i1, folded[j1:j2]))
        upper = {i for i, (a, b) in enumerate(zip(folded, sentence, strict=True)) if a != b}
        rule = {i for i in sentence_case(folded) if _casable(folded[i])}
        flips = tuple(sorted(upper ^ rule))
        check = sentence_check(sentence)
        for diff in (cls(corrections, tuple(edits), flips, check), cls(corrections, (), (), check)):
            if len(diff.to_bytes()) <= MAX_BYTES:
                return diff
        return cls((), (), (), check)

    def apply_text(self, base: str) -> str:
        """Edits, then sentence case with its flips, on the detokenised decode (positions past
        its end are skipped)."""
        out, at = [], 0
        for pos, deleted, inserted in self.edits:
            if pos < at or pos > len(base):
                continue
            out.append(base[at:pos])
            out.append(inserted)
            at = pos + deleted
        out.append(base[at:])
        text = "".join(out)
        chars = list(text)
        for i in sentence_case(text).symmetric_difference(self.flips):
            if i < len(chars) and _casable(chars[i]):
                chars[i] = chars[i].upper()
        return "".join(chars)

    def to_bytes(self) -> bytes:
        counts = len(self.corrections), len(self.edits), len(self.flips)
        if counts[0] <= 3 and counts[1] <= 3 and counts[2] <= 14:
            out = bytearray([counts[0] | counts[1] << 2 | counts[2] << 4])
        else:
            out = bytearray([_LONG_COUNTS])
            for n in counts:
                _put(out, n)
        last = 0
        for pos, token in self.corrections:
            _put(out, pos - last)
            _put(out, token)
            last = pos
        last = 0
        for pos, deleted, inserted in self.edits:
            raw = inserted.encode()
            _put(out, pos - last)
            _put(out, deleted)
            _put(out, len(raw))
            out += raw
            last = pos
        last = 0
        for pos in self.flips:
            _put(out, pos - last)
            last = pos
        return bytes(out) + self.check.to_bytes(CHECK_BYTES, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> TextDifference:
        """ValueError for bytes that are no text difference."""
        if len(data) < MIN_BYTES:
            raise ValueError(f"a text difference has at least {MIN_BYTES} bytes")
        r = _Reader(data[:-CHECK_BYTES])
        head = r.take(1)[0]
        if head == _LONG_COUNTS:
            n_corr, n_edit, n_flip = r.varint(), r.varint(), r.varint()
        else:
            n_corr, n_edit, n_flip = head & 3, head >> 2 & 3, head >> 4
        if max(n_corr, n_edit, n_flip) > MAX_BYTES:
            raise ValueError("malformed text difference")
        corrections, edits, flips = [], [], []
        pos = 0
        for _ in range(n_corr):
            pos += r.varint()
            corrections.append((pos, r.varint()))
        pos = 0
        for _ in range(n_edit):
            pos += r.varint()
            deleted = r.varint()
            edits.append((pos, deleted, r.take(r.varint()).decode(errors="replace")))
        pos = 0
        for _ in range(n_flip):
            pos += r.varint()
            flips.append(pos)
        return cls(tuple(corrections), tuple(edits), tuple(flips), int.from_bytes(data[-CHECK_BYTES:], "big"))
