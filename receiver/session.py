"""One received stream, from bursts to played frames and audio.

Synchronous on purpose: the servicer runs it on one worker thread so that the heavy parts
(LDPC decoding, H.265 decoding, MP4 encoding) never block the event loop, and the order of
bursts is kept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import numpy as np
import numpy.typing as npt

from m3e.codecs import M3E_SCHEMES
from m3e.codecs.traditional import AudioDecoder, VideoDecoder, check_audio_scheme, check_video_scheme
from m3e.media.sinks import Mp4Recorder, SoundCard
from m3e.phy.estimation import PilotLayout, estimate_channel
from m3e.phy.link import PayloadReceiver, TransportCoder
from m3e.restore.audio_player import SegmentPlayer, to_int16
from m3e.restore.playout import PlayoutBuffer
from m3e.wire.messages import Burst, Feedback, FeedbackKind, Modality, ReceiverStats, StreamHeader

if TYPE_CHECKING:
    from m3e.codecs.semantic_text import SentenceEstimate, SentenceReceiver

log = logging.getLogger("m3e.receiver")
INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]
MAX_PENDING = 256  # payloads kept for soft combining while waiting for a retransmission
TEXT_SCHEMES = ("", "json", "m3e-text")


@dataclass
class _Pending:
    rx: PayloadReceiver
    attempts: int = 0


@dataclass
class PlayedFrame:
    """What sinks and the viewer get for every frame index."""

    index: int
    rgb: npt.NDArray[np.uint8]
    frozen: bool
    latency_ms: float | None


@dataclass
class ReceiverConfig:
    out: str | None = "received.mp4"
    max_retries: int = 3
    xi_threshold: float = 0.6  # m3e-text: ask again while the estimated ξ̂ is below this
    playout_delay_s: float = 0.3
    sound_card: bool = True
    stats_path: str | None = None  # JSON summary written when the session closes


@dataclass
class _Counters:
    transmissions: int = 0
    failed_transmissions: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=300))
    play_times: deque[float] = field(default_factory=lambda: deque(maxlen=90))
    # the whole session, for the summary: (wall time played, latency ms or None, frozen)
    played: list[tuple[float, float | None, bool]] = field(default_factory=list)


class ReceiverSession:
    """State of one session; survives reconnects (a new stream with the same session id)."""

    def __init__(
        self,
        header: StreamHeader,
        config: ReceiverConfig,
        on_frame: Callable[[PlayedFrame], None] | None = None,
        on_audio: Callable[[npt.NDArray[np.int16]], None] | None = None,
    ) -> None:
        m3e = header.video_scheme in M3E_SCHEMES
        if not m3e:
            check_video_scheme(header.video_scheme)
        elif header.text_scheme != "m3e-text":
            raise ValueError(f"video scheme {header.video_scheme!r} needs the m3e-text text scheme")
        if header.audio_scheme == "m3e-audio" and not m3e:
            raise ValueError("audio scheme 'm3e-audio' needs an M3E video scheme")
        if header.audio_scheme and header.audio_scheme != "m3e-audio":
            check_audio_scheme(header.audio_scheme)
        if header.text_scheme not in TEXT_SCHEMES:
            raise ValueError(
                f"unknown text scheme {header.text_scheme!r}; expected one of {TEXT_SCHEMES[1:]}"
            )
        self.header = header
        self.config = config
        self.stats = ReceiverStats()
        self._c = _Counters()
        self._coders: dict[tuple[str, float, int, int], TransportCoder] = {}
        self._pending: dict[int, _Pending] = {}
        self._video = PlayoutBuffer[tuple[bytes, float]](config.playout_delay_s)
        self._audio = PlayoutBuffer[tuple[bytes, float]](config.playout_delay_s)
        self._video_decoder = None if m3e else VideoDecoder(header.video_scheme)
        self._keyframes = None
        self._live = None  # low-latency M3E
        if m3e and header.low_latency:
            from m3e.restore.keyframe_player import LowLatencyPlayer

            self._live = LowLatencyPlayer(header.width, header.height, header.fps)
        elif m3e:
            from m3e.restore.keyframe_player import KeyframePlayer

            self._keyframes = KeyframePlayer(header.video_scheme, header.width, header.height, header.fps)
        channels = max(1, header.audio_channels)
        self._audio_decoder = (
            AudioDecoder(header.audio_scheme, header.sample_rate, channels, header.audio_config)
            if header.audio_scheme and header.audio_scheme != "m3e-audio"
            else None
        )
        self._segments = SegmentPlayer() if header.audio_scheme == "m3e-audio" else None
        self._last_rgb = np.zeros((header.height, header.width, 3), dtype=np.uint8)
        self.recorder = (
            Mp4Recorder(
                config.out,
                header.width,
                header.height,
                header.fps,
                header.sample_rate if header.audio_scheme else 0,
                channels,
            )
            if config.out
            else None
        )
        self.sound = (
            SoundCard(header.sample_rate, channels) if header.audio_scheme and config.sound_card else None
        )
        self.on_frame = on_frame
        self.on_audio = on_audio
        self.payload_bytes = 0
        self._last_pts = 0.0  # the latest media time of any burst (M3E holds its last keyframe until it)
        self.texts: list[dict[str, object]] = []  # keyframe semantics received, in arrival order
        self._sentences = SemanticTextReceiver() if header.text_scheme == "m3e-text" else None

    # ----------------------------------------------------------------- bursts
    def on_burst(self, burst: Burst) -> Feedback:
        """Decode one transmission; returns the feedback for the sender."""
        if burst.modality == Modality.TEXT and self._sentences is not None:
            return self._on_sentence(burst)
        try:
            coder = self._coder(burst)
        except ValueError as exc:
            return self._reject(burst, exc)
        self.stats.bursts += 1
        self._c.transmissions += 1
        self._last_pts = max(self._last_pts, burst.pts)
        pending = self._pending.get(burst.seq)
        if pending is None:
            pending = self._pending[burst.seq] = _Pending(coder.receiver(burst.payload_bytes))
            while len(self._pending) > MAX_PENDING:  # the sender stopped resending these
                self._pending.pop(next(iter(self._pending)))
        pending.attempts += 1
        try:
            payload = pending.rx.receive(burst.iq, max(burst.noise_var, 1e-9), None, burst.rv)
        except ValueError as exc:
            return self._reject(burst, exc)
        now = time.monotonic()
        buffer = self._video if burst.modality == Modality.VIDEO else self._audio
        decoded_text = ""
        if payload is not None:
            del self._pending[burst.seq]
            self.stats.payloads_ok += 1
            self.payload_bytes += len(payload)
            if burst.modality == Modality.TEXT:
                decoded_text = self._on_text(payload)
            elif burst.modality == Modality.VIDEO and self._live is not None:
                self._play_live(burst, payload)
            elif burst.modality == Modality.VIDEO and self._keyframes is not None:
                self._keyframes.video(burst.index, payload)
            elif burst.modality == Modality.AUDIO and self._segments is not None:
                self._segments.difference(burst.index, payload, burst.pts)
            else:
                buffer.put(burst.index, (payload, burst.capture_time), now)
            kind = FeedbackKind.ACK
        else:
            self._c.failed_transmissions += 1
            if burst.attempt + 1 >= self.config.max_retries + 1:
                del self._pending[burst.seq]
                self.stats.payloads_lost += 1
                if burst.modality == Modality.VIDEO and self._keyframes is not None:
                    self._keyframes.video(burst.index, None)  # the keyframe from its text alone
                elif burst.modality == Modality.AUDIO and self._segments is not None:
                    self._segments.difference(burst.index, None, burst.pts)  # the sentence alone
                elif burst.modality != Modality.TEXT:
                    buffer.give_up(burst.index)
                kind = FeedbackKind.GIVE_UP
            else:
                self.stats.nacks += 1
                kind = FeedbackKind.NACK
        self._play(now)
        self._update_stats()
        return Feedback(burst.session_id, burst.seq, kind, stats=self.stats, decoded_text=decoded_text)

    def _play_live(self, burst: Burst, payload: bytes) -> None:
        assert self._live is not None
        try:
            if burst.keyframe:
                pictures = self._live.picture(burst.index, payload, burst.pts, burst.capture_time)
            else:
                pictures = self._live.motion(payload, burst.pts, burst.capture_time)
        except ValueError as exc:  # a damaged description: the picture holds
            log.debug("M3E burst %d not used: %s", burst.seq, exc)
            return
        for p in pictures:
            self._emit_frame(PlayedFrame(p.index, p.rgb, False, p.latency_ms))

    def _reject(self, burst: Burst, exc: ValueError) -> Feedback:
        """A malformed burst: INVALID_ARGUMENT for it, and the stream goes on."""
        self.stats.rejected += 1
        return Feedback(
            burst.session_id, burst.seq, FeedbackKind.REJECTED, reason=str(exc), status_code=INVALID
        )

    def decodes_sentences(self, burst: Burst) -> bool:
        """Whether ``burst`` is an m3e-text sentence (``decode_sentence`` + ``on_sentence``)."""
        return burst.modality == Modality.TEXT and self._sentences is not None

    def decode_sentence(self, burst: Burst) -> SentenceEstimate | ValueError:
        """The heavy half of an m3e-text burst: combine it with earlier copies and decode.
        Touches only the sentence receivers, so it may run on a thread of its own (one
        thread for all sentences, in arrival order). A malformed burst: its ValueError."""
        assert self._sentences is not None
        try:
            if burst.scheme != "m3e-text":
                raise ValueError(f"unexpected scheme {burst.scheme!r} for text")
            return self._sentences.receive(burst)
        except ValueError as exc:
            return exc

    def _on_sentence(self, burst: Burst) -> Feedback:
        return self.on_sentence(burst, self.decode_sentence(burst))

    def on_sentence(self, burst: Burst, estimate: SentenceEstimate | ValueError) -> Feedback:
        """m3e-text: judge ξ̂ of the decoded sentence and ask again while it is low."""
        assert self._sentences is not None
        if isinstance(estimate, ValueError):
            return self._reject(burst, estimate)
        self.stats.bursts += 1
        self._c.transmissions += 1
        first_answer = burst.seq not in self._sentences.answered
        if estimate.xi_hat >= self.config.xi_threshold:
            kind = FeedbackKind.ACK
            self.stats.payloads_ok += first_answer
        elif burst.attempt < self.config.max_retries:
            kind = FeedbackKind.NACK
            self.stats.nacks += 1
            self._c.failed_transmissions += 1
        else:
            kind = FeedbackKind.GIVE_UP  # shown anyway: the best the receiver has
            self.stats.payloads_lost += first_answer
            self._c.failed_transmissions += 1
        if kind != FeedbackKind.NACK:
            self._sentences.answered.add(burst.seq)
            if first_answer:
                if self._keyframes is not None:
                    self._keyframes.text(burst.index, estimate.text, burst.pts, burst.capture_time)
                if self._segments is not None:
                    self._segments.text(burst.index, estimate.text, burst.pts)
                self._play(time.monotonic())
        record = {
            "index": burst.index,
            "time_s": burst.pts,
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

    def _on_text(self, payload: bytes) -> str:
        """A keyframe's semantics arrived: keep them (and show them); returns the sentence."""
        try:
            item = json.loads(payload)
            text = str(item["text"])
        except (ValueError, KeyError, TypeError):
            log.warning("undecodable keyframe text (%d bytes)", len(payload))
            return ""
        self.texts.append(item)
        log.info("keyframe %.2f s: %s", float(item.get("time_s", 0.0)), text)
        return text

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
        if burst.iq.shape[0] != coder.n_symbols(burst.payload_bytes):
            raise ValueError(
                f"{burst.iq.shape[0]} symbols do not match a {burst.payload_bytes}-byte payload "
                f"({coder.n_symbols(burst.payload_bytes)} expected)"
            )
        return coder

    # --------------------------------------------------------------- play-out
    def _play(self, now: float) -> None:
        if self._keyframes is not None:
            for picture in self._keyframes.ready():
                self._last_rgb = picture.rgb
                self._emit_frame(PlayedFrame(picture.index, picture.rgb, False, picture.latency_ms))
        for index, item in self._video.pop_ready(now):
            rgb, frozen, latency = self._last_rgb, True, None
            if item is not None and self._video_decoder is not None:
                frames = self._video_decoder.decode(item[0])
                if frames:
                    rgb, frozen = frames[-1], False
                    self._last_rgb = rgb
                latency = (time.time() - item[1]) * 1000 if item[1] else None
            self._emit_frame(PlayedFrame(index, rgb, frozen, latency))
        for _, item in self._audio.pop_ready(now):
            if item is not None and self._audio_decoder is not None:
                self._emit_audio(self._audio_decoder.decode(item[0]))
        if self._segments is not None:
            for segment in self._segments.ready():
                self._emit_audio(to_int16(segment))

    def _emit_audio(self, samples: npt.NDArray[np.int16]) -> None:
        if self.recorder:
            self.recorder.write_audio(samples)
        if self.sound:
            self.sound.play(samples)
        if self.on_audio:
            self.on_audio(samples)

    def _emit_frame(self, frame: PlayedFrame) -> None:
        if self.recorder:
            self.recorder.write_video(frame.rgb, frame.index)
        self.stats.frames += 1
        if frame.latency_ms is not None:
            self._c.latencies.append(frame.latency_ms)
        self._c.play_times.append(time.monotonic())
        self._c.played.append((time.time(), frame.latency_ms, frame.frozen))
        if self.on_frame:
            try:
                self.on_frame(frame)
            except Exception:  # a viewer problem must never stop reception
                log.exception("viewer failed on frame %d", frame.index)

    def _update_stats(self) -> None:
        s, c = self.stats, self._c
        if len(c.play_times) > 1:
            s.fps = (len(c.play_times) - 1) / max(1e-6, c.play_times[-1] - c.play_times[0])
        if c.latencies:
            s.latency_ms_p50 = float(np.percentile(c.latencies, 50))
            s.latency_ms_p95 = float(np.percentile(c.latencies, 95))
        s.bler = c.failed_transmissions / max(1, c.transmissions)

    def end_at(self, pts: float) -> None:
        """The media time of the sender's last frame (M3E holds its last keyframe until it)."""
        self._last_pts = max(self._last_pts, pts)

    def close(self) -> None:
        """Play out what is left and finish the recording (it stays playable)."""
        if self._live is not None:
            for picture in self._live.flush(self._last_pts):
                self._emit_frame(PlayedFrame(picture.index, picture.rgb, True, None))
        if self._keyframes is not None:
            for picture in self._keyframes.flush(self._last_pts):
                self._emit_frame(PlayedFrame(picture.index, picture.rgb, False, picture.latency_ms))
        self._play(time.monotonic() + 3600)
        for segment in self._segments.flush() if self._segments is not None else []:
            self._emit_audio(to_int16(segment))
        if self.recorder:
            self.recorder.close()
        if self.sound:
            self.sound.close()
        if self.config.stats_path:
            summary = {
                **dataclasses.asdict(self.stats),
                "payload_bytes": self.payload_bytes,
                "played": [list(p) for p in self._c.played],
                "texts": self.texts,
            }
            Path(self.config.stats_path).write_text(json.dumps(summary))


class SemanticTextReceiver:
    """The m3e-text receiver side: one ``SentenceReceiver`` per sentence, kept after the answer
    (a genie in the emulator may still ask for more), so every transmission is combined."""

    MAX_SENTENCES = 64

    def __init__(self) -> None:
        from m3e.codecs.semantic_text import TextLink

        self.link = TextLink()
        self._rx: dict[int, SentenceReceiver] = {}
        self.answered: set[int] = set()

    def receive(self, burst: Burst) -> SentenceEstimate:
        """ValueError for a burst that is no sentence (length, pilots, noise variance)."""
        layout = PilotLayout(burst.pilot_spacing, burst.pilot_count)  # m3e-text needs pilots
        y, h_hat, err = estimate_channel(burst.iq, layout, burst.noise_var)
        difference_bytes = burst.payload_bytes  # m3e-text: the size of the text difference
        n_tokens = self.link.tokens_in_burst(y.shape[0], difference_bytes)
        rx = self._rx.get(burst.seq)
        if rx is None or rx.n_symbols != y.shape[0]:
            rx = self._rx[burst.seq] = self.link.receiver(n_tokens, difference_bytes)
            while len(self._rx) > self.MAX_SENTENCES:
                oldest = next(iter(self._rx))
                del self._rx[oldest]
                self.answered.discard(oldest)
        return rx.receive(y, h_hat, burst.noise_var + err)
