"""One received stream, from bursts to played frames and audio.

Transport only: channel decoding, HARQ (soft combining, ξ̂ for sentences), the feedback,
statistics and sinks. What a payload means is the scheme decoders' business
(``m3e.schemes``). Synchronous on purpose: the servicer runs it on one worker thread so that
the heavy parts (LDPC decoding, H.265 decoding, MP4 encoding) never block the event loop,
and the order of bursts is kept.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from m3e import schemes
from m3e.media.sinks import sound_card_present
from m3e.phy.estimation import PilotLayout
from m3e.phy.link import PayloadReceiver, TransportCoder
from m3e.schemes.base import DecoderOptions, PlayedFrame
from m3e.wire.messages import Burst, Feedback, FeedbackKind, Modality, ReceiverStats, StatusCode, StreamHeader
from receiver.config import ReceiverConfig
from receiver.playback import Playback

if TYPE_CHECKING:
    from m3e.codecs.semantic_text import SentenceEstimate

log = logging.getLogger("m3e.receiver")
MAX_PENDING = 256  # payloads kept for soft combining while waiting for a retransmission
MAX_PENDING_SYMBOLS = 4_000_000  # and their symbols together: the soft bits held stay ≈ 100 MB
MAX_ANSWERED = 64  # sentences answered, remembered so that a later copy is not counted again
MAX_SETTLED = 1024  # payloads decoded or given up, remembered: a copy sent again (its answer was
# lost on the way back, and the sender's feedback timer fired) gets the same answer, undecoded


def _late(decoder: object) -> int:
    """Payloads a play-out-buffered decoder dropped for coming after their time (0 for others)."""
    buffer = getattr(decoder, "buffer", None)
    return int(getattr(buffer, "late", 0))


@dataclass
class _Pending:
    rx: PayloadReceiver
    attempts: int = 0
    symbols: int = 0


class ReceiverSession:
    """State of one session; survives reconnects (a new stream with the same session id)."""

    def __init__(
        self,
        header: StreamHeader,
        config: ReceiverConfig,
        on_frame: Callable[[PlayedFrame], None] | None = None,
        on_audio: Callable[[npt.NDArray[np.int16]], None] | None = None,
        on_start: Callable[[ReceiverSession], None] | None = None,
        watched: Callable[[], bool] | None = None,
    ) -> None:
        """``on_start(session)`` runs once, when the first frame or audio is played, before the
        recording is opened (nothing is written for a session without media). ``watched``:
        whether ``on_frame`` and ``on_audio`` reach someone now (the viewer showing this
        session); without it they always do."""
        schemes.check_header(header)
        self.header = header
        self.config = config
        self.stats = ReceiverStats()
        self._transmissions = self._failed = 0  # for the block error rate
        self._coders: dict[tuple[str, float, int, int], TransportCoder] = {}
        self._pending: dict[int, _Pending] = {}
        # who hears the audio: a recording or the sound card always; the page while it shows
        # this session (``watched``), or always when that is not known
        always = bool(config.out or (config.sound_card and sound_card_present()))
        if watched is None or always:
            watched = functools.partial(bool, always or on_audio is not None)  # () -> that
        options = DecoderOptions(config.playout_delay_s, listened=watched)
        self._video = schemes.video_decoder(header, options)
        self._audio = schemes.audio_decoder(header, options) if header.audio_scheme else None
        self._text = schemes.text_decoder(header, options) if header.text_scheme else None
        self._answered: OrderedDict[int, None] = OrderedDict()  # sentences answered (seq)
        self._settled: OrderedDict[int, FeedbackKind] = OrderedDict()  # payloads done with (seq)
        self.playback = Playback(
            header, config.out, config.sound_card, on_frame, on_audio, on_start=self._starts
        )
        self._on_start = on_start
        self._pending_symbols = 0
        self.payload_bytes = 0
        self._closed = False
        self._last_pts = 0.0  # the latest media time of any burst (M3E holds its last keyframe until it)
        self.texts: list[dict[str, object]] = []  # keyframe semantics received, in arrival order

    # ----------------------------------------------------------------- bursts
    def on_burst(self, burst: Burst) -> Feedback:
        """Decode one transmission; returns the feedback for the sender."""
        if self.decodes_sentences(burst):
            return self.on_sentence(burst, self.decode_sentence(burst))
        try:
            coder = self._coder(burst)
        except ValueError as exc:
            return self._reject(burst, exc)
        self.stats.bursts += 1
        settled = self._settled.get(burst.seq)
        if settled is not None:  # its answer was lost: the same answer again
            return Feedback(burst.session_id, burst.seq, settled, stats=self.stats)
        self._transmissions += 1
        self._last_pts = max(self._last_pts, burst.pts)
        pending = self._pending.get(burst.seq)
        if pending is None:
            pending = self._pending[burst.seq] = _Pending(
                coder.receiver(burst.payload_bytes), symbols=coder.n_symbols(burst.payload_bytes)
            )
            self._pending_symbols += pending.symbols
            # the oldest go first: the sender stopped resending them, or a flood pushes them out
            while len(self._pending) > MAX_PENDING or (
                self._pending_symbols > MAX_PENDING_SYMBOLS and len(self._pending) > 1
            ):
                self._forget(next(iter(self._pending)))
        pending.attempts += 1
        try:
            payload = pending.rx.receive(burst.iq, max(burst.noise_var, 1e-9), None, burst.rv, burst.blocks)
        except ValueError as exc:
            return self._reject(burst, exc)
        now = time.monotonic()
        decoded_text = ""
        decoder = self._video if burst.modality == Modality.VIDEO else self._audio
        if payload is not None:
            self._forget(burst.seq)
            self.stats.payloads_ok += 1
            self.payload_bytes += len(payload)
            kind = FeedbackKind.ACK
            if burst.modality == Modality.TEXT:
                decoded_text = self._on_text(burst, payload)
            elif decoder is not None:
                late = _late(decoder)
                decoder.payload(burst, payload, now)
                if burst.modality == Modality.VIDEO and _late(decoder) > late:
                    # it came after its play-out time: the frame froze and the ones that refer
                    # to it cannot be decoded; GIVE_UP tells the sender to send a keyframe
                    kind = FeedbackKind.GIVE_UP
        else:
            self._failed += 1
            if burst.attempt + 1 >= self.config.max_retries + 1:
                self._forget(burst.seq)
                self.stats.payloads_lost += 1
                if burst.modality != Modality.TEXT and decoder is not None:
                    decoder.lost(burst)
                kind = FeedbackKind.GIVE_UP
            else:
                self.stats.nacks += 1
                kind = FeedbackKind.NACK
        if kind != FeedbackKind.NACK:
            self._settled[burst.seq] = kind
            while len(self._settled) > MAX_SETTLED:
                self._settled.popitem(last=False)
        self._play(now)
        self._update_stats()
        return Feedback(
            burst.session_id,
            burst.seq,
            kind,
            stats=self.stats,
            decoded_text=decoded_text,
            missing_blocks=pending.rx.missing if kind == FeedbackKind.NACK else (),
        )

    def _forget(self, seq: int) -> None:
        pending = self._pending.pop(seq, None)
        if pending is not None:
            self._pending_symbols -= pending.symbols

    def _starts(self) -> None:
        if self._on_start is not None:
            self._on_start(self)
        self.playback.out = self.config.out

    @property
    def has_media(self) -> bool:
        """Whether a burst was accepted (decoded or not) or anything played: a session with
        nothing of the kind (a header alone) writes no statistics and finishes no ``--once``."""
        return self.playback.started or self.stats.bursts > 0

    def _reject(self, burst: Burst, exc: ValueError) -> Feedback:
        """A malformed burst: INVALID_ARGUMENT for it, and the stream goes on."""
        self.stats.rejected += 1
        code = StatusCode.INVALID_ARGUMENT
        return Feedback(burst.session_id, burst.seq, FeedbackKind.REJECTED, reason=str(exc), status_code=code)

    def decodes_sentences(self, burst: Burst) -> bool:
        """Whether ``burst`` is an analog sentence (``decode_sentence`` + ``on_sentence``)."""
        return burst.modality == Modality.TEXT and self._text is not None and self._text.analog

    def decode_sentence(self, burst: Burst) -> SentenceEstimate | ValueError:
        """The heavy half of a sentence burst: combine it with earlier copies and decode.
        Touches only the text decoder, so it may run on a thread of its own (one thread for
        all sentences, in arrival order). A malformed burst: its ValueError."""
        assert self._text is not None
        try:
            return self._text.receive(burst)
        except ValueError as exc:
            return exc

    def on_sentence(self, burst: Burst, estimate: SentenceEstimate | ValueError) -> Feedback:
        """Judge ξ̂ and the check of the decoded sentence; ask again while it ``wants_again``."""
        if isinstance(estimate, ValueError):
            return self._reject(burst, estimate)
        self.stats.bursts += 1
        self._transmissions += 1
        first_answer = burst.seq not in self._answered
        c = self.config
        if estimate.wants_again(c.xi_threshold, c.until_exact) and burst.attempt < c.max_retries:
            kind = FeedbackKind.NACK
            self.stats.nacks += 1
            self._failed += 1
        elif estimate.xi_hat >= c.xi_threshold:
            kind = FeedbackKind.ACK
            self.stats.payloads_ok += first_answer
        else:
            kind = FeedbackKind.GIVE_UP  # shown anyway: the best the receiver has
            self.stats.payloads_lost += first_answer
            self._failed += 1
        if kind != FeedbackKind.NACK:
            self._answered[burst.seq] = None
            while len(self._answered) > MAX_ANSWERED:
                self._answered.popitem(last=False)
            if first_answer:
                self._sentence(burst, estimate.text)
        record = {
            "index": burst.index,
            "time_s": burst.pts,
            "captured": burst.capture_time,
            "arrived": time.time(),  # (wall clock, as captured) of the transmission that settled it
            "text": estimate.text,
            "xi_hat": round(estimate.xi_hat, 3),
            "exact": estimate.exact,
            "transmissions": estimate.transmissions,
        }
        previous = next((t for t in self.texts if t.get("seq") == burst.seq), None)
        if previous is None:
            self.texts.append({"seq": burst.seq, **record})
        else:
            previous.update(record)
        log.info(
            "keyframe %.2f s: %s (ξ̂ %.2f%s, transmission %d)",
            burst.pts,
            estimate.text,
            estimate.xi_hat,
            ", exact" if estimate.exact else "",
            estimate.transmissions,
        )
        self._update_stats()
        return Feedback(
            burst.session_id,
            burst.seq,
            kind,
            xi=estimate.xi_hat,
            stats=self.stats,
            decoded_text=estimate.text,
        )

    def _on_text(self, burst: Burst, payload: bytes) -> str:
        """A digital keyframe text arrived: keep it (and show it); returns the sentence."""
        assert self._text is not None
        try:
            item = self._text.decode(payload)
        except ValueError as exc:
            log.warning("%s", exc)
            return ""
        self.texts.append({**item, "captured": burst.capture_time, "arrived": time.time()})
        text = str(item["text"])
        log.info("keyframe %.2f s: %s", burst.pts, text)
        self._sentence(burst, text)
        return text

    def _sentence(self, burst: Burst, text: str) -> None:
        """A keyframe's sentence is settled: the decoders that regenerate from it get it."""
        for decoder in (self._video, self._audio):
            if decoder is not None:
                decoder.sentence(burst.index, text, burst.pts, burst.capture_time)
        self._play(time.monotonic())

    def _coder(self, burst: Burst) -> TransportCoder:
        expected = {
            Modality.VIDEO: self.header.video_scheme,
            Modality.AUDIO: self.header.audio_scheme,
            Modality.TEXT: self.header.text_scheme,
        }
        if burst.modality not in expected or burst.scheme != expected[burst.modality]:
            raise ValueError(f"unexpected scheme {burst.scheme!r} for {burst.modality.name.lower()}")
        key = (burst.modulation, round(burst.code_rate, 6), burst.pilot_spacing, burst.pilot_count)
        coder = self._coders.get(key)
        if coder is None:
            pilots = PilotLayout(burst.pilot_spacing, burst.pilot_count) if burst.pilot_count else None
            coder = self._coders[key] = TransportCoder(burst.modulation, burst.code_rate, pilots=pilots)
        n_blocks = coder.plan(burst.payload_bytes).n_blocks
        if burst.blocks and burst.blocks[-1] >= n_blocks:
            raise ValueError(f"block {burst.blocks[-1]} of a payload with {n_blocks} code blocks")
        n_symbols = coder.n_symbols(burst.payload_bytes, len(burst.blocks) or None)
        if burst.iq.shape[0] != n_symbols:
            raise ValueError(
                f"{burst.iq.shape[0]} symbols do not match a {burst.payload_bytes}-byte payload "
                f"({n_symbols} expected)"
            )
        return coder

    # --------------------------------------------------------------- play-out
    def waiting(self) -> int:
        """Video frames decoded and waiting for their play-out time (M3E's paced frames)."""
        return self._video.waiting()

    @property
    def clocked(self) -> bool:
        """Whether frames fall due between bursts: the low-latency picture held at the frame
        rate, or paced frames waiting."""
        return self.header.low_latency or self.waiting() > 0

    def tick(self) -> None:
        """Play what is due now between bursts (``clocked``)."""
        if not self._closed:
            self._play(time.monotonic())

    def _play(self, now: float) -> None:
        for frame in self._video.ready(now):
            self.playback.frame(frame)
        for samples in self._audio.ready(now) if self._audio is not None else []:
            self.playback.audio(samples)

    def _update_stats(self) -> None:
        self.playback.update(self.stats)
        # frames decoded and only waiting for their play-out time count as received: the
        # sender judges delivery by this, and M3E's paced frames wait seconds (the last of a
        # stream wait until it closes, after the sender's last feedback)
        self.stats.frames += self.waiting()
        self.stats.bler = self._failed / max(1, self._transmissions)

    def end_at(self, pts: float) -> None:
        """The media time of the sender's last frame (M3E holds its last keyframe until it)."""
        self._last_pts = max(self._last_pts, pts)

    def close(self) -> dict[str, object]:
        """Play out what is left and finish the recording (it stays playable); returns the
        session's summary (statistics, every frame's play-out, the texts)."""
        self._closed = True
        self._update_stats()
        self.stats.fps = self.playback.mean_fps()  # the held end frames come in a burst below
        for frame in self._video.flush(self._last_pts):
            self.playback.frame(frame)
        for samples in self._audio.flush(self._last_pts) if self._audio is not None else []:
            self.playback.audio(samples)
        self.playback.close()
        played = self.playback.played
        frozen = sum(1 for p in played if p[2])
        return {
            **dataclasses.asdict(self.stats),
            "payload_bytes": self.payload_bytes,
            "frames_frozen": frozen,
            # frames played with their own picture: what was delivered (the rest froze)
            "delivered_fraction": round((len(played) - frozen) / len(played), 4) if played else 0.0,
            "played": [list(p) for p in self.playback.played],
            "first_shown": sorted(self._video.first_shown().items()),
            "texts": self.texts,
        }
