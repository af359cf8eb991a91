"""The genie judge: true ξ (eq 9, texts only) of every decoded sentence against the clean
sentence the sender put in the burst's genie field, and with ``retransmit_by="genie"`` the
ACK/NACK decision itself (the paper's simulation). No protobuf here.

The judge's sentence encoder (MiniLM) loads lazily, on a thread of its own, so an emulator
that carries no sentences never loads it: in genie mode when the emulator starts, while the
processes around start up (every decision waits on it); in receiver mode when a stream that
will carry sentences begins (``stream_starts``: its sender is then still loading its own
models), at the latest with the first sentence. Loading it only when the first sentence came
stalled the relaying of every stream by seconds, in the middle of a call (transformers'
imports hold the GIL).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import threading

from m3e.config import Settings
from m3e.wire.messages import Burst, ChannelStats, Feedback, FeedbackKind, Modality

# the defaults are the command line's (``m3e.config.Settings``): one source
RETRANSMIT_BY: str = Settings.model_fields["retransmit_by"].default
XI_THRESHOLD: float = Settings.model_fields["xi_threshold"].default
MAX_RETRIES: int = Settings.model_fields["max_retries"].default


def _load_sentence_encoder() -> None:
    from m3e.semantics.similarity import sentence_encoder

    sentence_encoder()


@functools.cache
def warm_up() -> threading.Thread:
    """Start loading the sentence encoder in the background (once per process)."""
    loader = threading.Thread(target=_load_sentence_encoder, name="judge-loader", daemon=True)
    loader.start()
    return loader


class GenieJudge:
    """True ξ of every decoded sentence against the sender's genie text, and in genie mode the
    retransmission decision: NACK while ξ < threshold and retransmissions remain."""

    MAX_KEPT = 1024  # sentences remembered per emulator

    def __init__(
        self,
        stats: ChannelStats,
        retransmit_by: str = RETRANSMIT_BY,
        xi_threshold: float = XI_THRESHOLD,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        if retransmit_by not in ("receiver", "genie"):
            raise ValueError(f"retransmit_by must be 'receiver' or 'genie', got {retransmit_by!r}")
        self.stats, self.genie_decides = stats, retransmit_by == "genie"
        self.xi_threshold, self.max_retries = xi_threshold, max_retries
        stats.retransmit_by = retransmit_by
        self._texts: collections.OrderedDict[tuple[str, int], tuple[str, int]] = collections.OrderedDict()

    def stream_starts(self, text_scheme: str) -> None:
        """A stream begins (its header's text scheme): one that carries semantic texts will
        need the encoder; it starts loading now."""
        if text_scheme == "m3e-text":
            warm_up()

    def remember(self, burst: Burst) -> None:
        """Keep the clean sentence of a text burst (before the channel strips it)."""
        if burst.modality == Modality.TEXT and burst.genie:
            warm_up()  # the first sentence: its answer will need the encoder
            self._texts[(burst.session_id, burst.seq)] = (burst.genie.decode(errors="replace"), burst.attempt)
            while len(self._texts) > self.MAX_KEPT:
                self._texts.popitem(last=False)

    def knows(self, session_id: str, seq: int) -> bool:
        return (session_id, seq) in self._texts

    def judge(self, fb: Feedback) -> Feedback:
        """The receiver's answer about a remembered sentence, with the true ξ (and the genie's
        decision in genie mode). Runs the sentence encoder: call it off the event loop. In
        receiver mode the answer is forwarded without waiting and only the statistics use it."""
        entry = self._texts.get((fb.session_id, fb.seq))
        if entry is None or fb.kind not in (FeedbackKind.ACK, FeedbackKind.NACK, FeedbackKind.GIVE_UP):
            return fb
        from m3e.semantics.similarity import xi

        reference, attempt = entry
        true_xi = float(xi([reference], [fb.decoded_text])[0])
        damaged = true_xi < self.xi_threshold
        s = self.stats
        s.texts_judged += 1
        s.true_xi_mean += (true_xi - s.true_xi_mean) / s.texts_judged
        s.true_damaged += damaged
        s.receiver_nacks += fb.kind == FeedbackKind.NACK
        receiver_low = fb.xi is not None and fb.xi < self.xi_threshold
        s.decisions_agreed += receiver_low == damaged
        fb = dataclasses.replace(fb, true_xi=true_xi)
        if not self.genie_decides:
            return fb
        if damaged and attempt < self.max_retries:
            s.genie_nacks += 1
            kind = FeedbackKind.NACK
        else:
            kind = FeedbackKind.GIVE_UP if damaged else FeedbackKind.ACK
        return dataclasses.replace(fb, kind=kind, from_emulator=True)
