"""The sender process: source -> scheme encoders -> channel coding (``BurstMaker``) -> Link stream.

A producer thread reads the source (in real time for live and paced files) and hands every
frame and audio packet, and every keyframe's semantics, to the schemes' encoders
(``m3e.schemes``); each payload they emit becomes a burst of symbols. The event loop streams
the bursts, reads feedback, retransmits on NACK with the next redundancy version (HARQ IR),
and reconnects with backoff when the link drops (the encoders restart so the receiver can
resynchronise).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import grpc
import numpy as np

from m3e import schemes
from m3e.media.sources import AudioItem, MediaSource
from m3e.schemes.base import Coding, EncoderOptions, Examined, Outgoing, Resend, SchemeEncoder
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import feedback_from_proto, uplink
from m3e.wire.grpc_util import client_channel
from m3e.wire.messages import Burst, Feedback, FeedbackKind, Modality, StreamHeader
from sender.bursts import BurstMaker
from sender.config import SenderConfig, SenderStats

if TYPE_CHECKING:  # torch and the recognisers load only when semantics are sent
    from m3e.semantics.extractor import KeyframeSemantics

log = logging.getLogger("m3e.sender")
# a live frame this old when its turn comes is skipped: under load the video gets fewer frames
# (fewer motion updates) instead of a backlog that delays everything after it
LIVE_LAG_S = 0.25


@dataclass
class _Unacked:
    burst: Burst
    payload: bytes
    coding: Coding
    sent_at: float = 0.0  # monotonic time of its latest transmission (0: not sent yet)
    first_sent: float = 0.0
    # send times of its transmissions not answered yet, oldest first: an answer is taken to be
    # the oldest one's (a feedback does not say which transmission it answers)
    outstanding: collections.deque[float] = field(default_factory=collections.deque)
    by_timer: bool = False  # the latest transmission was the timer's (no RTT sample from it)
    queued: bool = False  # a retransmission waits in the queue
    missing: tuple[int, ...] = ()  # code blocks the latest NACK named (): all; resends carry these
    resend: Resend | None = None  # analog: what a retransmission carries (Outgoing.again)


# The HARQ timer (docs/robustness.md): a transmission unanswered for RTO is sent again with the
# next redundancy version; RTO follows the feedback delay as TCP's does (RFC 6298).
RTO_MIN_S, RTO_MAX_S, RTO_INITIAL_S = 0.3, 3.0, 1.0
ANALOG_TIMEOUT_S = 5.0  # a sentence's decoding takes long (transformers): its own, longer timer
FEEDBACK_DEADLINE_S = 3.0  # a payload still unanswered this long after its first transmission is given up
TIMER_TICK_S = 0.02
KEYFRAME_EVERY_S = 0.5  # at most this often a lost video payload asks for a keyframe


class FeedbackTimer:
    """Smoothed feedback delay and its variation; ``rto`` is how long to wait for an answer,
    doubled after each expiry until an answer comes (a stalled receiver is not flooded)."""

    def __init__(self, fixed_s: float = 0.0) -> None:
        self.fixed_s = fixed_s
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.backoff = 1

    def sample(self, rtt: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.backoff = 1

    def expired(self) -> None:
        self.backoff = min(8, self.backoff * 2)

    @property
    def base(self) -> float:
        """The RTO before any backoff."""
        if self.fixed_s > 0:
            return self.fixed_s
        if self.srtt is None:
            return RTO_INITIAL_S
        return min(RTO_MAX_S, max(RTO_MIN_S, self.srtt + 4 * self.rttvar))

    @property
    def rto(self) -> float:
        return min(max(RTO_MAX_S, self.base), self.base * self.backoff)


class Sender:
    def __init__(self, config: SenderConfig) -> None:
        self.config = config
        self.stats = SenderStats()
        c = config
        self.source = MediaSource(c.source, c.media)
        if not self.source.has_video:
            raise ValueError(f"{c.source} has no video stream")
        self.bursts = BurstMaker(c)
        self.header, self.encoders = self._encoders()
        self._unacked: collections.OrderedDict[int, _Unacked] = collections.OrderedDict()
        self._on_ack: dict[int, Callable[[], None]] = {}
        # bursts from the producer and the encoders' workers to the streaming loop; thread-safe,
        # so a producer waits only while it is full, never for the loop's turn
        self._outbox: queue.Queue[tuple[Burst, bytes, Coding, Resend | None] | None] = queue.Queue(maxsize=64)
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()  # something new to send (a burst or a retransmission)
        self._source_done = False  # the producer has put its last burst in the queue
        self._end_pts = 0.0  # media time of the last frame produced
        # each keyframe's wall-clock capture time, until its semantics are out (seconds later)
        self._keyframe_captured: collections.OrderedDict[int, float] = collections.OrderedDict()
        self.timer = FeedbackTimer(config.feedback_timeout_ms / 1000)
        self._video_unconfirmed: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._last_forced = 0.0  # when a lost video payload last asked for a keyframe
        self._quiet_until = 0.0  # no timer retransmission before this (one per RTO, until an answer)

    def _encoders(self) -> tuple[StreamHeader, list[SchemeEncoder]]:
        """The stream header and the encoders of its schemes: text first, so that a keyframe's
        sentence leaves before what depends on it. An M3E video scheme brings its own text and
        audio schemes (no video or audio stream goes, docs/m3e.md)."""
        c, m = self.config, self.config.media
        video = schemes.get(Modality.VIDEO, c.video_scheme)
        if c.low_latency and not video.low_latency:
            raise ValueError(f"--low-latency needs --scheme {' or '.join(schemes.low_latency_names())}")
        text = video.text or (c.text_scheme if c.semantics else "")
        audio = (video.audio or c.audio_scheme) if self.source.has_audio and c.audio_scheme else ""
        options = EncoderOptions(
            m, c.gop, c.crf, c.m3e_budget, c.low_latency, c.equal_rate_kbps, c.m3e_refresh_kbps
        )
        chosen = [(Modality.TEXT, text), (Modality.VIDEO, video.name), (Modality.AUDIO, audio)]
        encoders = {mod: schemes.encoder(mod, name, options, self._emit) for mod, name in chosen if name}
        sample_rate, channels, audio_config = encoders[Modality.AUDIO].audio_format if audio else (0, 0, b"")
        header = StreamHeader(
            session_id=c.session_id,
            width=m.width,
            height=m.height,
            fps=m.fps,
            sample_rate=sample_rate,
            audio_channels=channels,
            video_scheme=video.name,
            audio_scheme=audio,
            audio_config=audio_config,
            text_scheme=text,
            low_latency=c.low_latency,
            direction=c.direction,
        )
        return header, list(encoders.values())

    # ------------------------------------------------------------- producing
    def _emit(self, out: Outgoing) -> None:
        """An encoder's payload as a burst into the send queue (any thread)."""
        burst = self.bursts.burst(out)
        if out.on_ack is not None:
            self._on_ack[burst.seq] = out.on_ack
        self._put((burst, out.data, out.coding, out.again))

    def _put(self, item: tuple[Burst, bytes, Coding, Resend | None] | None) -> None:
        """Queue ``item`` for the streaming loop (any thread); waits while the queue is full."""
        assert self._loop is not None
        while True:
            try:
                self._outbox.put(item, timeout=0.2)
                break
            except queue.Full:
                if self._stopping.is_set():  # the stream is over: nobody will take it
                    return
        self._loop.call_soon_threadsafe(self._wake.set)

    def _on_keyframe(self, k: KeyframeSemantics) -> None:
        """A keyframe's semantics (on the semantic worker): one index for all sent about it,
        and the keyframe's capture time (a text's latency is from the camera, not from when
        recognition finished)."""
        captured = self._keyframe_captured.pop(k.index, None) or time.time()
        index = self.bursts.next_index(Modality.TEXT)
        for encoder in self.encoders:
            encoder.keyframe(k, index, captured)

    def _produce(self, stop: threading.Event) -> None:
        """Producer thread: source -> encoders, paced in real time if asked."""
        worker = None
        try:
            for encoder in self.encoders:
                encoder.open()
            if self.header.text_scheme:
                from sender.semantic import SemanticWorker, examined

                m = self.config.media
                worker = SemanticWorker(
                    m.fps, m.sample_rate, self._on_keyframe, keyframe_at_utterance_end=self.config.low_latency
                )
            start = time.monotonic()  # after the models have loaded: no catching up on the source
            for item in self.source:
                if stop.is_set():
                    break
                if self.config.realtime and not self.source.live:
                    delay = start + item.pts - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                captured = time.time() if item.captured is None else item.captured
                if not isinstance(item, AudioItem) and time.time() - captured > LIVE_LAG_S and item.index:
                    self.stats.stale_frames += 1  # behind a live source: skip, never queue
                    continue
                if isinstance(item, AudioItem):
                    if worker is not None:
                        worker.offer_audio(item.samples)
                    for encoder in self.encoders:
                        encoder.audio(item, captured)
                    continue
                self._end_pts = item.pts
                self.stats.source_frames += 1
                seen = None
                if worker is not None and examined(item.index, self.config.media.fps):
                    rgb = np.asarray(item.frame.to_ndarray(format="rgb24"), np.uint8)
                    seen = Examined(rgb, worker.offer_frame(rgb, item.index, item.pts))
                    if seen.keyframe:
                        self._keyframe_captured[item.index] = captured
                        while len(self._keyframe_captured) > 64:  # one the worker dropped
                            self._keyframe_captured.popitem(last=False)
                for encoder in self.encoders:
                    encoder.video(item, seen, captured)
        finally:
            if worker is not None:
                worker.close()  # its last keyframes go out before the end of the stream
            for encoder in self.encoders:
                encoder.close()
            self._put(None)

    # ------------------------------------------------------------- streaming
    async def run(self) -> SenderStats:
        """Stream the whole source; returns the statistics when the receiver has it all."""
        loop = self._loop = asyncio.get_running_loop()
        stop = self._stopping
        producer = loop.run_in_executor(None, self._produce, stop)
        retransmit: asyncio.Queue[Burst] = asyncio.Queue()
        backoff, down_since = 0.2, time.monotonic()
        try:
            while True:
                answered = self.stats.acks + self.stats.nacks + self.stats.given_up
                try:
                    await self._stream_once(retransmit)
                    return self.stats
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in (
                        grpc.StatusCode.UNAVAILABLE,
                        grpc.StatusCode.CANCELLED,
                        grpc.StatusCode.INTERNAL,
                        grpc.StatusCode.UNKNOWN,
                    ):  # the relay or the receiver refused this stream: a reconnect will not help
                        raise ConnectionError(
                            f"{self.config.target} refused the stream: {exc.code().name}: "
                            f"{(exc.details() or '')[:200]}"
                        ) from None
                    if self.stats.acks + self.stats.nacks + self.stats.given_up > answered:
                        backoff, down_since = 0.2, time.monotonic()  # the link worked for a while
                    if time.monotonic() - down_since > self.config.reconnect_timeout_s:
                        raise ConnectionError(f"cannot reach {self.config.target}: {exc.details()}") from None
                    log.warning("link down (%s); reconnecting in %.1f s", exc.code().name, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(2.0, backoff * 2)
                    self.stats.reconnects += 1
                    for encoder in self.encoders:
                        encoder.restart()
                    self._unacked.clear()  # what was in flight is gone with the old link
        finally:
            stop.set()
            while not self._outbox.empty():
                self._outbox.get_nowait()
            await producer

    async def _stream_once(self, retransmit: asyncio.Queue[Burst]) -> None:
        async def outgoing() -> AsyncIterator[pb.Uplink]:
            yield uplink(self.header)
            while True:
                # retransmissions first: a frame behind a missing one is held at the receiver
                if not retransmit.empty():
                    again = retransmit.get_nowait()
                    entry = self._unacked.get(again.seq)
                    if entry is not None:
                        entry.queued = False
                        entry.sent_at = time.monotonic()
                        entry.outstanding.append(entry.sent_at)
                    yield self._send(again)
                elif not self._outbox.empty():
                    item = self._outbox.get_nowait()
                    if item is None:
                        self._source_done = True
                        continue
                    burst, payload, coding, resend = item
                    now = time.monotonic()
                    self._unacked[burst.seq] = _Unacked(
                        burst, payload, coding, now, now, collections.deque([now]), resend=resend
                    )
                    if burst.modality == Modality.VIDEO:
                        self.stats.video_frames += 1
                        self._video_unconfirmed[burst.seq] = None
                        while len(self._video_unconfirmed) > 4096:
                            self._video_unconfirmed.popitem(last=False)
                    while len(self._unacked) > 512:
                        self._unacked.popitem(last=False)
                    yield self._send(burst)
                elif self._source_done and not self._unacked:
                    yield uplink((self.config.session_id, self._end_pts))
                    return
                else:
                    try:  # after the source ended, stop when the receiver stops answering
                        await asyncio.wait_for(self._wake.wait(), 10.0 if self._source_done else None)
                    except TimeoutError:
                        yield uplink((self.config.session_id, self._end_pts))
                        return
                    self._wake.clear()

        async with client_channel(self.config.target, self.config.tls) as channel:
            call = rpc.LinkStub(channel).Stream(outgoing())
            timer = asyncio.create_task(self._harq_timer(retransmit))
            try:
                async for msg in call:
                    self._on_feedback(feedback_from_proto(msg), retransmit)
            finally:
                timer.cancel()

    async def _harq_timer(self, retransmit: asyncio.Queue[Burst]) -> None:
        """Feedback can be lost (``--feedback-loss``): when nothing has been answered for the
        timer's RTO, the oldest unanswered transmission goes again with the next redundancy
        version, as a NACK would have asked (the answer to it shows which others were lost,
        ``_lost_before``), and RTO doubles until an answer comes, as TCP's retransmission timer
        does. A payload at the retry limit or ``FEEDBACK_DEADLINE_S`` is given up here."""
        while True:
            await asyncio.sleep(TIMER_TICK_S)
            now, rto = time.monotonic(), self.timer.rto
            resent = now < self._quiet_until
            deadline = max(FEEDBACK_DEADLINE_S, self.timer.base * (self.config.max_retries + 1))
            for seq, entry in list(self._unacked.items()):
                if entry.queued or entry.sent_at == 0.0:
                    continue
                wait = max(rto, ANALOG_TIMEOUT_S) if entry.coding == "analog" else rto
                if now - entry.sent_at < wait:
                    continue
                if entry.burst.attempt >= self.config.max_retries or now - entry.first_sent > deadline:
                    self.stats.unanswered += 1  # most likely its answers were lost: no keyframe
                    self._unacked.pop(seq, None)
                    self._on_ack.pop(seq, None)
                    continue
                if not resent:
                    resent = True
                    self.stats.timeouts += 1
                    self._again(entry, retransmit, by_timer=True)
                    self.timer.expired()
                    self._quiet_until = now + self.timer.rto

    def _lost_before(self, answered: _Unacked, sent: float, retransmit: asyncio.Queue[Burst]) -> None:
        """Feedback comes back in the order the bursts went (one stream, one decoding worker,
        one delay), sentences apart: an answer to a transmission means the answers to every
        digital transmission sent before it that are still missing were lost. Those go again
        now, not after a timeout (TCP's fast retransmit): in time for their play-out."""
        for entry in list(self._unacked.values()):
            if entry is answered or entry.queued or entry.coding == "analog" or entry.sent_at == 0.0:
                continue
            if entry.outstanding and entry.outstanding[-1] < sent:
                entry.outstanding.clear()  # every answer it waits for was lost
                if entry.burst.attempt >= self.config.max_retries:
                    continue  # the timer gives it up
                self.stats.inferred_lost += 1
                self._again(entry, retransmit, by_timer=True)

    def _payload_lost(self, entry: _Unacked) -> None:
        """A video payload will not arrive: the receiver's decoder has lost its reference, the
        next frame is coded on its own (as RTP's picture loss indication asks), at most one a
        ``KEYFRAME_EVERY_S``."""
        now = time.monotonic()
        if entry.burst.modality != Modality.VIDEO or now - self._last_forced < KEYFRAME_EVERY_S:
            return
        self._last_forced = now
        for encoder in self.encoders:
            encoder.restart()

    def _again(self, entry: _Unacked, retransmit: asyncio.Queue[Burst], by_timer: bool = False) -> None:
        """Queue the next transmission of ``entry`` (HARQ IR's next redundancy version) with the
        code blocks the receiver still misses."""
        again = self.bursts.again(entry.burst, entry.payload, entry.coding, entry.missing, entry.resend)
        entry.burst = again
        entry.by_timer, entry.queued = by_timer, True
        self.stats.retransmissions += 1
        retransmit.put_nowait(again)
        self._wake.set()

    def shortfall(self) -> str | None:
        """One line when less than ``config.min_delivered`` of the video frames were
        delivered (the sender then exits non-zero), else None."""
        st = self.stats
        if st.source_frames == 0 or st.delivered_fraction >= self.config.min_delivered:
            return None
        return (
            f"only {st.delivered_fraction:.0%} of the frames were delivered ({st.frames_delivered} of "
            f"{st.source_frames} played with their picture; --min-delivered {self.config.min_delivered:.0%})"
        )

    def _send(self, burst: Burst) -> pb.Uplink:
        self.stats.bursts += 1
        self.stats.symbols += burst.iq.shape[0]
        return uplink(burst)

    def _on_feedback(self, fb: Feedback, retransmit: asyncio.Queue[Burst]) -> None:
        if fb.stats is not None:
            self.stats.last_receiver = {k: float(v) for k, v in vars(fb.stats).items()}
        entry = self._unacked.get(fb.seq)
        answered = fb.kind in (FeedbackKind.ACK, FeedbackKind.NACK)  # the receiver's answers
        if answered:
            self._quiet_until = 0.0
        if entry is not None and entry.outstanding and answered:
            sent = entry.outstanding.popleft()
            if not entry.by_timer:  # Karn: no delay sample from a copy the timer sent
                self.timer.sample(time.monotonic() - sent)
            if entry.coding != "analog":  # the relay's answers come early: not those
                self._lost_before(entry, sent, retransmit)
        if fb.kind == FeedbackKind.ACK:
            self.stats.acks += 1
            if self._video_unconfirmed.pop(fb.seq, 0) is None:  # a late ACK counts too
                self.stats.video_delivered += 1
            self._unacked.pop(fb.seq, None)
            on_ack = self._on_ack.pop(fb.seq, None)
            if on_ack is not None:
                on_ack()
        elif fb.kind == FeedbackKind.NACK and entry is not None:
            self.stats.nacks += 1
            self.stats.genie_nacks += fb.from_emulator
            entry.missing = fb.missing_blocks or entry.missing
            if not entry.queued:  # the timer has not sent it again already
                self._again(entry, retransmit)
        elif fb.kind == FeedbackKind.GIVE_UP:
            self.stats.given_up += 1
            if entry is not None:
                self._payload_lost(entry)
            self._unacked.pop(fb.seq, None)
            self._on_ack.pop(fb.seq, None)
        elif fb.kind == FeedbackKind.REJECTED:
            self.stats.rejected += 1
            self._unacked.pop(fb.seq, None)
            self._on_ack.pop(fb.seq, None)
            log.warning("burst %d rejected: %s", fb.seq, fb.reason)
