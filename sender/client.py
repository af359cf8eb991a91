"""The sender process: source -> traditional codecs -> channel coding -> Link stream.

A producer thread reads the source (in real time for live and paced files), encodes every
frame and audio packet and turns each into a burst of symbols. The event loop streams the
bursts, reads feedback, retransmits on NACK with the next redundancy version (HARQ IR),
and reconnects with backoff when the link drops (forcing a keyframe so the receiver can
resynchronise).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import grpc
import numpy as np
import numpy.typing as npt
from av.video.frame import PictureType

from m3e.codecs import M3E_SCHEMES, SMALL_LAYER_CODING
from m3e.codecs.audio_semantic import RATE as AUDIO_RATE
from m3e.codecs.traditional import AudioEncoder, Packet, VideoEncoder
from m3e.media.sources import AudioItem, MediaSource, SourceConfig
from m3e.phy.estimation import PilotLayout
from m3e.phy.harq import redundancy_version
from m3e.phy.link import TransportCoder
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import burst_to_proto, feedback_from_proto, header_to_proto
from m3e.wire.grpc_util import TlsFiles, client_channel
from m3e.wire.messages import Burst, Feedback, FeedbackKind, Modality, StreamHeader

if TYPE_CHECKING:  # torch and the recognisers load only when semantics are sent
    from m3e.codecs.m3e_keyframe import KeyframeSender
    from m3e.codecs.semantic_text import SentenceBurst
    from m3e.semantics.extractor import KeyframeSemantics

log = logging.getLogger("m3e.sender")


@dataclass
class SenderConfig:
    target: str = "127.0.0.1:50051"
    source: str = "testsrc"
    media: SourceConfig = field(default_factory=SourceConfig)
    video_scheme: str = "h265"
    audio_scheme: str = "aac"
    modulation: str = "16qam"
    code_rate: float = 0.75
    pilot_spacing: int = 256
    pilot_count: int = 4
    gop: int = 30
    crf: int = 28
    realtime: bool = True
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    reconnect_timeout_s: float = 30.0
    tls: TlsFiles | None = None
    semantics: bool = False  # also send each keyframe's text (MODALITY_TEXT)
    m3e_budget: int = 5000  # M3E schemes: at most this many bytes of V′ per keyframe (docs/m3e.md)
    low_latency: bool = False  # M3E: pictures at once and motion per frame, sentences later
    text_scheme: str = "m3e-text"  # "m3e-text" (learned semantic symbols) or "json" (UTF-8 + LDPC)
    direction: str = ""  # the emulator's route for this stream (a call: "a-b" or "b-a")


@dataclass
class SenderStats:
    bursts: int = 0
    retransmissions: int = 0
    acks: int = 0
    nacks: int = 0
    given_up: int = 0
    rejected: int = 0
    symbols: int = 0
    reconnects: int = 0
    genie_nacks: int = 0  # NACKs the emulator's genie asked for (--retransmit-by genie)
    last_receiver: dict[str, float] = field(default_factory=dict)


@dataclass
class _Unacked:
    burst: Burst
    payload: bytes
    sent_at: float


class Sender:
    def __init__(self, config: SenderConfig) -> None:
        self.config = config
        self.stats = SenderStats()
        c = config
        self.source = MediaSource(c.source, c.media)
        self.pilots = PilotLayout(c.pilot_spacing, c.pilot_count)
        self.coder = TransportCoder(c.modulation, c.code_rate, pilots=self.pilots)
        # low-latency M3E pictures and motion descriptions are stale if late: robust coding
        self.robust = TransportCoder("qpsk", 0.5, pilots=self.pilots)
        self.small_layer = TransportCoder(*SMALL_LAYER_CODING, pilots=self.pilots)  # T′
        m = c.media
        # M3E schemes send no video stream: keyframes as text + side information + V′
        self.m3e = c.video_scheme in M3E_SCHEMES
        if self.m3e:
            c.semantics, c.text_scheme = True, "m3e-text"
        if c.low_latency and c.video_scheme != "m3e":
            raise ValueError("--low-latency needs --scheme m3e (the ablations wait for the text)")
        self.video = (
            VideoEncoder(c.video_scheme, m.width, m.height, m.fps, gop=c.gop, crf=c.crf)
            if self.source.has_video and not self.m3e
            else None
        )
        # M3E audio is regenerated from the sentences: only T′ per keyframe goes (m3e-audio)
        self.m3e_audio = self.m3e and self.source.has_audio and bool(c.audio_scheme)
        self.audio = (
            AudioEncoder(c.audio_scheme, m.sample_rate, m.channels)
            if self.source.has_audio and c.audio_scheme and not self.m3e
            else None
        )
        if not self.source.has_video:
            raise ValueError(f"{c.source} has no video stream")
        if c.text_scheme not in ("json", "m3e-text"):
            raise ValueError(f"unknown text scheme {c.text_scheme!r}; expected 'json' or 'm3e-text'")
        self.header = StreamHeader(
            session_id=c.session_id,
            width=m.width,
            height=m.height,
            fps=m.fps,
            sample_rate=m.sample_rate if self.audio else AUDIO_RATE if self.m3e_audio else 0,
            audio_channels=m.channels if self.audio else 1 if self.m3e_audio else 0,
            video_scheme=c.video_scheme,
            audio_scheme=c.audio_scheme if self.audio else "m3e-audio" if self.m3e_audio else "",
            audio_config=self.audio.config if self.audio else b"",
            text_scheme=c.text_scheme if c.semantics else "",
            low_latency=c.low_latency,
            direction=c.direction,
        )
        self._seq = 0
        self._index = {Modality.VIDEO: 0, Modality.AUDIO: 0, Modality.TEXT: 0}
        self._unacked: collections.OrderedDict[int, _Unacked] = collections.OrderedDict()
        self._force_keyframe = threading.Event()
        # M3E keyframes sent / confirmed: (index, text, the keyframe the receiver rebuilt)
        self._m3e_pending: dict[int, tuple[int, str, npt.NDArray[np.uint8]]] = {}
        self._confirmed: queue.SimpleQueue[tuple[int, str, npt.NDArray[np.uint8]]] = queue.SimpleQueue()
        self._pictures = 0  # low-latency M3E: keyframe pictures sent, and the latest one
        self._latest_picture: tuple[int, npt.NDArray[np.uint8]] | None = None
        self._wake = asyncio.Event()  # something new to send (a burst or a retransmission)
        self._source_done = False  # the producer has put its last burst in the queue
        self._end_pts = 0.0  # media time of the last frame produced
        self.coder.warm_up()

    # ------------------------------------------------------------- producing
    def _burst(
        self,
        packet: Packet,
        modality: Modality,
        scheme: str,
        capture_time: float,
        coder: TransportCoder | None = None,
    ) -> Burst:
        c = self.config
        coder = coder or self.coder
        return Burst(
            session_id=c.session_id,
            seq=self._next_seq(),
            pts=packet.pts,
            modality=modality,
            scheme=scheme,
            modulation=coder.modulation,
            code_rate=coder.rate,
            payload_bytes=len(packet.data),
            iq=coder.encode(packet.data, 0),
            pilot_spacing=c.pilot_spacing,
            pilot_count=c.pilot_count,
            capture_time=capture_time,
            keyframe=packet.keyframe,
            index=self._next_index(modality),
        )

    def _sentence_burst(self, sentence: SentenceBurst, text: str, pts: float, capture_time: float) -> Burst:
        """m3e-text: the sentence's learned symbols behind pilots; the clean text rides in the
        genie field for the emulator's measurements (it never reaches the receiver)."""
        c = self.config
        return Burst(
            session_id=c.session_id,
            seq=self._next_seq(),
            pts=pts,
            modality=Modality.TEXT,
            scheme="m3e-text",
            modulation="analog",
            code_rate=0.0,
            payload_bytes=sentence.difference_bytes,
            iq=self.pilots.insert(sentence.symbols),
            pilot_spacing=c.pilot_spacing,
            pilot_count=c.pilot_count,
            capture_time=capture_time,
            keyframe=True,
            genie=text.encode(),
            index=self._next_index(Modality.TEXT),
        )

    def _send_m3e_keyframe(
        self,
        keyframes: KeyframeSender,
        k: KeyframeSemantics,
        index: int,
        captured: float,
        put: Callable[[Burst, bytes], None],
        lock: threading.Lock,
    ) -> None:
        """Side information and V′ of keyframe ``index`` as a video burst with the same index as
        its sentence. Runs on the semantic worker, which also owns the knowledge base: keyframes
        the receiver confirmed are added here, before the next prediction."""
        self._learn_confirmed(keyframes)
        assert k.rgb is not None
        message, rebuilt = keyframes.encode(k.rgb, k.text, self.config.m3e_budget)
        packet = Packet(message.payload(), k.time_s, True)
        with lock:
            burst = dataclasses.replace(
                self._burst(packet, Modality.VIDEO, self.config.video_scheme, captured), index=index
            )
        self._m3e_pending[burst.seq] = (index, k.text, rebuilt)
        put(burst, packet.data)

    def _send_audio_difference(
        self,
        k: KeyframeSemantics,
        index: int,
        captured: float,
        put: Callable[[Burst, bytes], None],
        lock: threading.Lock,
    ) -> None:
        """T′ of the keyframe's audio interval as an audio burst with its sentence's index; the
        receiver speaks the transcript and sounds the events the sentence names, shaped by it."""
        from m3e.codecs.audio_semantic import encode_difference

        assert k.audio is not None
        packet = Packet(encode_difference(k.audio), k.time_s, True)
        with lock:
            # T′ is small (≈ 250 bit/s): strong coding costs little, and on 16-QAM 3/4 at
            # 8 dB Rayleigh enough of it was lost to take the timbre from 0.83 to 0.71
            burst = dataclasses.replace(
                self._burst(packet, Modality.AUDIO, "m3e-audio", captured, self.small_layer), index=index
            )
        put(burst, packet.data)

    def _m3e_picture_or_motion(
        self,
        keyframes: KeyframeSender,
        rgb: npt.NDArray[np.uint8],
        t: float,
        is_keyframe: bool,
        captured: float,
        put: Callable[[Burst, bytes], None],
        lock: threading.Lock,
    ) -> None:
        """Low-latency M3E, for every examined frame: a keyframe's picture at once (side
        information and V′ against references that need no text), otherwise 12 bytes of motion
        from the latest picture, which the receiver warps forward. The sentence follows later."""
        from m3e.restore.generator import Prediction, estimate_motion

        self._learn_confirmed(keyframes)
        if is_keyframe:
            message, rebuilt = keyframes.encode(rgb, None, self.config.m3e_budget)
            index, payload = self._pictures, message.payload()
            self._pictures += 1
        elif self._latest_picture is not None:
            index, picture = self._latest_picture
            payload = Prediction(index, estimate_motion(picture, rgb)).to_bytes()
        else:
            return
        packet = Packet(payload, t, is_keyframe)
        with lock:  # stale when late, pictures too: no time for a retransmission (docs/m3e.md)
            burst = dataclasses.replace(
                self._burst(packet, Modality.VIDEO, self.config.video_scheme, captured, self.robust),
                index=index,
            )
        if is_keyframe:
            self._m3e_pending[burst.seq] = (index, "", rebuilt)
            self._latest_picture = (index, rebuilt)
        put(burst, payload)

    def _learn_confirmed(self, keyframes: KeyframeSender) -> None:
        """Keyframes the receiver confirmed become references (on the semantic worker, which
        owns the knowledge base)."""
        while not self._confirmed.empty():
            keyframes.remember(*self._confirmed.get_nowait())

    def _coder_of(self, burst: Burst) -> TransportCoder:
        for coder in (self.robust, self.small_layer):
            if (burst.modulation, burst.code_rate) == (coder.modulation, coder.rate):
                return coder
        return self.coder

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq - 1

    def _next_index(self, modality: Modality) -> int:
        self._index[modality] += 1
        return self._index[modality] - 1

    def _produce(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[tuple[Burst, bytes] | None],
        stop: threading.Event,
    ) -> None:
        """Producer thread: source -> encoders -> bursts, paced in real time if asked."""
        lock = threading.Lock()  # the semantic worker makes bursts too

        def put(burst: Burst, payload: bytes) -> None:
            asyncio.run_coroutine_threadsafe(queue.put((burst, payload)), loop).result()
            loop.call_soon_threadsafe(self._wake.set)

        def enqueue(packet: Packet, modality: Modality, scheme: str, captured: float) -> None:
            with lock:
                burst = self._burst(packet, modality, scheme, captured)
            put(burst, packet.data)

        def send_semantics(k: KeyframeSemantics) -> None:
            if self.config.text_scheme == "json":
                enqueue(Packet(semantics_payload(k), k.time_s), Modality.TEXT, "json", time.time())
                return
            assert text_link is not None
            captured = time.time()
            (sentence,) = text_link.encode_bursts([k.text])
            with lock:
                burst = self._sentence_burst(sentence, k.text, k.time_s, captured)
            put(burst, b"")
            if keyframes is not None and k.rgb is not None and not self.config.low_latency:
                self._send_m3e_keyframe(keyframes, k, burst.index, captured, put, lock)
            if self.m3e_audio and k.audio is not None:
                self._send_audio_difference(k, burst.index, captured, put, lock)

        def send_picture_or_motion(
            rgb: npt.NDArray[np.uint8], t: float, is_keyframe: bool, captured: float
        ) -> None:
            assert keyframes is not None
            self._m3e_picture_or_motion(keyframes, rgb, t, is_keyframe, captured, put, lock)

        worker = live = None
        if self.config.semantics:
            from m3e.codecs.semantic_text import TextLink
            from sender.semantic import LiveWorker, SemanticWorker, examined, semantics_payload

            text_link = TextLink() if self.config.text_scheme == "m3e-text" else None
            keyframes = None
            if self.m3e:
                from m3e.codecs.m3e_keyframe import KeyframeSender

                keyframes = KeyframeSender(
                    self.config.video_scheme, (self.config.media.width, self.config.media.height)
                )
            m = self.config.media
            worker = SemanticWorker(m.fps, m.sample_rate, send_semantics)
            if self.m3e and self.config.low_latency:
                live = LiveWorker(send_picture_or_motion)
        start = time.monotonic()  # after the models have loaded: no catching up on the source
        try:
            for item in self.source:
                if stop.is_set():
                    break
                if not isinstance(item, AudioItem):
                    self._end_pts = item.pts
                if self.config.realtime:
                    delay = start + item.pts - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                captured = time.time()
                if worker is not None:
                    if isinstance(item, AudioItem):
                        worker.offer_audio(item.samples)
                    elif examined(item.index, self.config.media.fps):
                        rgb = np.asarray(item.frame.to_ndarray(format="rgb24"), np.uint8)
                        worker.offer_frame(rgb, item.index, item.pts)
                        if live is not None:
                            live.offer_frame(rgb, item.pts, captured)
                if isinstance(item, AudioItem):
                    if self.audio is None:
                        continue
                    packets, modality, scheme = (
                        self.audio.encode(item.samples),
                        Modality.AUDIO,
                        self.config.audio_scheme,
                    )
                elif self.video is None:
                    continue  # M3E: the semantic worker sends the keyframes
                else:
                    if self._force_keyframe.is_set():
                        self._force_keyframe.clear()
                        item.frame.pict_type = PictureType.I
                    packets, modality, scheme = (
                        self.video.encode(item.frame),
                        Modality.VIDEO,
                        self.config.video_scheme,
                    )
                for p in packets:
                    enqueue(p, modality, scheme, captured)
        finally:
            if worker is not None:
                worker.close()  # its last keyframes go out before the end of the stream
            if live is not None:
                live.close()
            asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()
            loop.call_soon_threadsafe(self._wake.set)

    # ------------------------------------------------------------- streaming
    async def run(self) -> SenderStats:
        """Stream the whole source; returns the statistics when the receiver has it all."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[Burst, bytes] | None] = asyncio.Queue(maxsize=64)
        stop = threading.Event()
        producer = loop.run_in_executor(None, self._produce, loop, queue, stop)
        retransmit: asyncio.Queue[Burst] = asyncio.Queue()
        backoff, down_since = 0.2, time.monotonic()
        try:
            while True:
                answered = self.stats.acks + self.stats.nacks + self.stats.given_up
                try:
                    await self._stream_once(queue, retransmit)
                    return self.stats
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in (
                        grpc.StatusCode.UNAVAILABLE,
                        grpc.StatusCode.CANCELLED,
                        grpc.StatusCode.INTERNAL,
                        grpc.StatusCode.UNKNOWN,
                    ):
                        raise
                    if self.stats.acks + self.stats.nacks + self.stats.given_up > answered:
                        backoff, down_since = 0.2, time.monotonic()  # the link worked for a while
                    if time.monotonic() - down_since > self.config.reconnect_timeout_s:
                        raise ConnectionError(f"cannot reach {self.config.target}: {exc.details()}") from None
                    log.warning("link down (%s); reconnecting in %.1f s", exc.code().name, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(2.0, backoff * 2)
                    self.stats.reconnects += 1
                    self._force_keyframe.set()
                    self._unacked.clear()  # what was in flight is gone with the old link
        finally:
            stop.set()
            while not queue.empty():
                queue.get_nowait()
            await producer

    async def _stream_once(
        self, queue: asyncio.Queue[tuple[Burst, bytes] | None], retransmit: asyncio.Queue[Burst]
    ) -> None:
        async def outgoing() -> AsyncIterator[pb.Uplink]:
            yield pb.Uplink(header=header_to_proto(self.header))
            while True:
                # retransmissions first: a frame behind a missing one is held at the receiver
                if not retransmit.empty():
                    yield self._send(retransmit.get_nowait())
                elif not queue.empty():
                    item = queue.get_nowait()
                    if item is None:
                        self._source_done = True
                        continue
                    burst, payload = item
                    self._unacked[burst.seq] = _Unacked(burst, payload, time.monotonic())
                    while len(self._unacked) > 512:
                        self._unacked.popitem(last=False)
                    yield self._send(burst)
                elif self._source_done and not self._unacked:
                    yield pb.Uplink(
                        end=pb.StreamEnd(session_id=self.config.session_id, end_pts=self._end_pts)
                    )
                    return
                else:
                    try:  # after the source ended, stop when the receiver stops answering
                        await asyncio.wait_for(self._wake.wait(), 10.0 if self._source_done else None)
                    except TimeoutError:
                        yield pb.Uplink(
                            end=pb.StreamEnd(session_id=self.config.session_id, end_pts=self._end_pts)
                        )
                        return
                    self._wake.clear()

        async with client_channel(self.config.target, self.config.tls) as channel:
            call = rpc.LinkStub(channel).Stream(outgoing())
            async for msg in call:
                self._on_feedback(feedback_from_proto(msg), retransmit)

    def _send(self, burst: Burst) -> pb.Uplink:
        self.stats.bursts += 1
        self.stats.symbols += burst.iq.shape[0]
        return pb.Uplink(burst=burst_to_proto(burst))

    def _on_feedback(self, fb: Feedback, retransmit: asyncio.Queue[Burst]) -> None:
        if fb.stats is not None:
            self.stats.last_receiver = {k: float(v) for k, v in vars(fb.stats).items()}
        entry = self._unacked.get(fb.seq)
        if fb.kind == FeedbackKind.ACK:
            self.stats.acks += 1
            self._unacked.pop(fb.seq, None)
            if fb.seq in self._m3e_pending:  # the receiver has this keyframe: a reference now
                self._confirmed.put(self._m3e_pending.pop(fb.seq))
        elif fb.kind == FeedbackKind.NACK and entry is not None:
            self.stats.nacks += 1
            self.stats.genie_nacks += fb.from_emulator
            b = entry.burst
            attempt = b.attempt + 1
            if b.scheme == "m3e-text":  # the same symbols again: the receiver combines them (MRC)
                again = dataclasses.replace(b, attempt=attempt)
            else:
                rv = redundancy_version("ir", attempt)
                again = dataclasses.replace(
                    b, attempt=attempt, rv=rv, iq=self._coder_of(b).encode(entry.payload, rv)
                )
            entry.burst = again
            self.stats.retransmissions += 1
            retransmit.put_nowait(again)
            self._wake.set()
        elif fb.kind == FeedbackKind.GIVE_UP:
            self.stats.given_up += 1
            self._unacked.pop(fb.seq, None)
        elif fb.kind == FeedbackKind.REJECTED:
            self.stats.rejected += 1
            self._unacked.pop(fb.seq, None)
            log.warning("burst %d rejected: %s", fb.seq, fb.reason)
