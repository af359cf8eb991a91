"""Text schemes: each keyframe's sentence.

- ``json``: the keyframe's semantics as UTF-8 JSON ({time_s, objects, text, transcript,
  labels}) over the stream's digital coding;
- ``m3e-text``: the learned semantic symbols plus the text difference, sent analog behind
  pilots (docs/text_link.md); a retransmission carries the coded sentence's next redundancy
  version; the receiver combines them and judges ξ̂.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from m3e.phy.estimation import PilotLayout, estimate_channel
from m3e.schemes.base import (
    DecoderOptions,
    Emit,
    EncoderOptions,
    Outgoing,
    Retransmission,
    SchemeEncoder,
    TextSchemeDecoder,
)
from m3e.wire.messages import Burst, Modality, StreamHeader

if TYPE_CHECKING:
    from m3e.codecs.semantic_text import SentenceEstimate, SentenceReceiver, TextLink
    from m3e.semantics.extractor import KeyframeSemantics


def semantics_payload(k: KeyframeSemantics) -> bytes:
    """The json scheme's payload of one keyframe."""
    return json.dumps(k.to_json(), separators=(",", ":")).encode()


class JsonTextEncoder(SchemeEncoder):
    def keyframe(self, k: KeyframeSemantics, index: int, captured: float) -> None:
        self.emit(Outgoing(Modality.TEXT, self.scheme, k.time_s, semantics_payload(k), captured, index=index))


class JsonTextDecoder(TextSchemeDecoder):
    def decode(self, payload: bytes) -> dict[str, object]:
        try:
            item = json.loads(payload)
            item["text"] = str(item["text"])
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"undecodable keyframe text ({len(payload)} bytes)") from None
        return dict(item)


class SentenceEncoder(SchemeEncoder):
    """m3e-text: the sentence's symbols; the clean text rides in the genie field for the
    emulator's measurements."""

    def __init__(self, scheme: str, options: EncoderOptions, emit: Emit) -> None:
        super().__init__(scheme, options, emit)
        self._link: TextLink | None = None

    def open(self) -> None:
        from m3e.codecs.semantic_text import TextLink

        self._link = TextLink()

    def keyframe(self, k: KeyframeSemantics, index: int, captured: float) -> None:
        from m3e.codecs.semantic_text import sentence_rv

        link = self._link
        assert link is not None, "open() first"
        (sentence,) = link.encode_bursts([k.text])

        def again(attempt: int) -> Retransmission:
            return Retransmission(link.again(sentence, attempt), len(sentence.sentence), sentence_rv(attempt))

        self.emit(
            Outgoing(
                Modality.TEXT,
                self.scheme,
                k.time_s,
                b"",
                captured,
                coding="analog",
                index=index,
                symbols=sentence.symbols,
                size=sentence.difference_bytes,  # the burst header carries the difference's size
                genie=k.text.encode(),
                again=again,
            )
        )


class SentenceDecoder(TextSchemeDecoder):
    """One ``SentenceReceiver`` per sentence, kept after the answer (a genie in the emulator
    may still ask for more), so every transmission is combined."""

    analog = True
    MAX_SENTENCES = 64

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        from m3e.codecs.semantic_text import TextLink

        super().__init__(header, options)
        self.link = TextLink()
        self._rx: dict[int, SentenceReceiver] = {}

    def receive(self, burst: Burst) -> SentenceEstimate:
        """ValueError for a burst that is no sentence (scheme, length, pilots, noise variance)."""
        if burst.scheme != self.header.text_scheme:
            raise ValueError(f"unexpected scheme {burst.scheme!r} for text")
        layout = PilotLayout(burst.pilot_spacing, burst.pilot_count)  # m3e-text needs pilots
        y, h_hat, err = estimate_channel(burst.iq, layout, burst.noise_var)
        rx = self._rx.get(burst.seq)
        if rx is None:
            rx = self._rx[burst.seq] = self.link.receiver()
            while len(self._rx) > self.MAX_SENTENCES:
                del self._rx[next(iter(self._rx))]
        noise = burst.noise_var + err
        if burst.attempt > 0:  # the coded sentence; payload_bytes: its size
            return rx.receive_again(y, h_hat, noise, burst.rv, burst.payload_bytes)
        difference_bytes = burst.payload_bytes  # the first transmission: the text difference's size
        n_tokens = self.link.tokens_in_burst(y.shape[0], difference_bytes)
        if rx.n_tokens is None:
            rx.start(n_tokens, difference_bytes)
        return rx.receive(y, h_hat, noise)
