"""The whole video a receiver plays, per scheme, in process (the players the receiver runs),
for the all-frame measures of ``m3e.eval.video_quality``.

- ``m3e`` and its ablations: the keyframes ``m3e_arm`` rebuilt, played by ``KeyframePlayer``
  with the sender's global motion samples (every examined frame, 10 a second, 12 bytes each,
  LDPC 1/3 + QPSK like the side information) - the interpolation mode, one keyframe interval
  behind;
- ``m3e-low-latency``: each keyframe's picture (no text reference) and the motion samples over
  LDPC 1/2 + QPSK, played by ``LowLatencyPlayer``;
- ``h265-equal-rate``: H.265 with rate control (the stream's encoder, x265 ABR) at the bits
  per second M3E used, free to lower frame rate and resolution and to pick its transport:
  the best of ``EQUAL_RATE_FORMATS`` on the clip (by the encoder's own all-frame SSIM before
  the channel), then the better of V′'s transport and LDPC 1/2 + QPSK at this SNR; the
  receiver upscales and holds each frame.

Every payload has up to 4 transmissions (HARQ IR), as in the stream.

Frames are (H, W, 3) uint8; a played list has one frame per source frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from m3e.codecs import SMALL_LAYER_CODING
from m3e.codecs.m3e_keyframe import REFRESH_KBPS
from m3e.codecs.prediction import MotionReference, Prediction
from m3e.codecs.traditional import VideoDecoder, VideoEncoder
from m3e.eval.payload import send_payload, transport
from m3e.eval.video_quality import all_frame_scores
from m3e.phy.channels import BlockFadingChannel
from m3e.restore.keyframe_player import KeyframePlayer, LowLatencyPlayer, PlayedPicture
from m3e.semantics.keyframes import KeyframeSelector, luma_thumbnail

Frames = list[np.ndarray]
EXAMINED_EVERY = 3  # 30 fps source, 10 examined frames a second (sender.semantic.ANALYSIS_FPS)
# (width divisor, frames per second) the equal-rate H.265 may choose from
EQUAL_RATE_FORMATS = ((4, 5.0), (4, 10.0), (4, 15.0), (2, 5.0), (2, 10.0))


def as_frames(played: list[PlayedPicture], n: int, blank: np.ndarray) -> Frames:
    """One frame per source frame: what was played for it, else the frame before it held."""
    by_index = {p.index: p.rgb for p in played}
    out, last = [], blank
    for i in range(n):
        last = by_index.get(i, last)
        out.append(last)
    return out


def motion_samples(frames: Frames, keyframes: list[int], fps: float = 30.0) -> list[tuple[float, bytes]]:
    """The sender's motion bursts: (pts, 12-byte ``Prediction``) for every examined frame that is
    not a keyframe, from the latest keyframe at or before it (named by frame number)."""
    out: list[tuple[float, bytes]] = []
    references: dict[int, MotionReference] = {}
    for f in range(0, len(frames), EXAMINED_EVERY):
        anchor = max((k for k in keyframes if k <= f), default=None)
        if anchor is None or anchor == f:
            continue
        if anchor not in references:
            references[anchor] = MotionReference(frames[anchor])
        out.append((f / fps, Prediction(anchor, references[anchor].camera_motion(frames[f])).to_bytes()))
    return out


def _robust(payload: bytes, snr: float, channel: BlockFadingChannel) -> tuple[bytes | None, int]:
    return send_payload(payload, snr, channel, transport("qpsk", 0.5))


def send_motion(
    motion: list[tuple[float, bytes]], snr: float, seed: int, fading: str = "rayleigh"
) -> tuple[list[tuple[float, bytes]], int, int]:
    """The motion bursts over the side information's coding -> those that arrived, the channel
    symbols and the source bits."""
    channel = BlockFadingChannel(fading, coherence=256, seed=seed + 7)
    small = transport(*SMALL_LAYER_CODING)
    arrived, symbols = [], 0
    for pts, payload in motion:
        got, n = send_payload(payload, snr, channel, small)
        symbols += n
        if got is not None:
            arrived.append((pts, got))
    return arrived, symbols, 8 * sum(len(p) for _, p in motion)


def m3e_played(
    scheme: str,
    frames: Frames,
    keyframes: list[int],
    rebuilt: Frames,
    motion: list[tuple[float, bytes]],
    snr: float,
    seed: int,
    fading: str = "rayleigh",
) -> tuple[Frames, int, int]:
    """-> the played frames, the motion bursts' channel symbols and source bits."""
    h, w = frames[0].shape[:2]
    player = KeyframePlayer(scheme, w, h, 30.0)
    arrived, symbols, bits = send_motion(motion, snr, seed, fading)
    for pts, payload in arrived:
        player.motion(payload, pts)
    played = [p for k, image in zip(keyframes, rebuilt, strict=True) for p in player.play(k, image)]
    played += player.flush((len(frames) - 1) / 30.0)
    return as_frames(played, len(frames), np.zeros_like(frames[0])), symbols, bits


def low_latency_arm(
    frames: Frames,
    motion_budget: int,
    snr: float,
    seed: int,
    fading: str = "rayleigh",
    refresh_kbps: float = REFRESH_KBPS,
) -> tuple[dict[str, Any], Frames]:
    """``m3e`` low latency: keyframes by the live selector (every examined frame), each picture
    coded against what the receiver confirmed, motion from the latest picture, and new pictures
    between keyframes within ``refresh_kbps`` (``PictureRefresh``), as the sender does."""
    from m3e.codecs.m3e_keyframe import KeyframeSender, PictureRefresh

    h, w = frames[0].shape[:2]
    sender, player = KeyframeSender("m3e", (w, h)), LowLatencyPlayer(w, h, 30.0)
    refresh = PictureRefresh(refresh_kbps)
    channel = BlockFadingChannel(fading, coherence=256, seed=seed + 11)
    selector = KeyframeSelector()
    symbols, bits, played, pictures = 0, 0, list[PlayedPicture](), 0
    anchor: tuple[int, MotionReference] | None = None
    for f in range(0, len(frames), EXAMINED_EVERY):
        pts = f / 30.0
        cut = selector.update(luma_thumbnail(frames[f]), pts)
        budget, warp = refresh.choose(anchor[1] if anchor else None, frames[f], cut, pts, motion_budget)
        if budget is not None:
            message, rebuilt = sender.encode(frames[f], None, budget)
            payload = message.payload()
            if not cut:
                refresh.spent(len(payload), pts)
            got, n = _robust(payload, snr, channel)
            if got is not None:
                played += player.picture(pictures, got, pts, 0.0)
                sender.remember(pictures, "", rebuilt)  # acknowledged
            anchor, pictures = (pictures, MotionReference(rebuilt)), pictures + 1
        elif anchor is not None and warp is not None:
            payload = Prediction(anchor[0], warp).to_bytes()
            got, n = _robust(payload, snr, channel)
            if got is not None:
                played += player.motion(got, pts, 0.0)
        else:
            continue
        symbols, bits = symbols + n, bits + 8 * len(payload)
    played += player.flush((len(frames) - 1) / 30.0)
    shown = as_frames(played, len(frames), np.zeros_like(frames[0]))
    row = {
        "scheme": "m3e-low-latency",
        **_per_gop(symbols, bits, len(frames)),
        **all_frame_scores(frames, shown),
    }
    return row, shown


@dataclass(frozen=True)
class EqualRateStream:
    """What the equal-rate H.265 encoder chose for a clip and coded."""

    packets: list[bytes]
    format: str  # "WxH@fps"
    fps: float
    kbps: float  # what it spent
    target_kbps: float


def equal_rate_stream(frames: Frames, kbps: float) -> EqualRateStream:
    """The clip as H.265 at ``kbps`` (x265 ABR) in the best of ``EQUAL_RATE_FORMATS``, by the
    encoder's own whole-video SSIM before the channel (the same at every SNR)."""
    best: tuple[float, list[bytes], int, float] | None = None
    for divisor, fps in EQUAL_RATE_FORMATS:
        packets = rate_controlled_h265(frames, kbps, divisor, fps)
        ssim = all_frame_scores(frames, _h265_played(frames, packets, fps))["ssim_all_frames"]
        if best is None or ssim > best[0]:
            best = (ssim, packets, divisor, fps)
    assert best is not None
    _, packets, divisor, fps = best
    h, w = frames[0].shape[:2]
    spent = 8 * sum(len(p) for p in packets) / 1000 / (len(frames) / 30.0)
    return EqualRateStream(packets, f"{w // divisor}x{h // divisor}@{fps:g}", fps, spent, kbps)


def equal_rate_arm(
    frames: Frames,
    stream: EqualRateStream,
    snr: float,
    seed: int,
    fading: str = "rayleigh",
    keyframes: list[int] | None = None,
) -> tuple[dict[str, Any], Frames]:
    """``stream`` on the better of V′'s transport and LDPC 1/2 + QPSK at this SNR; with
    ``keyframes``, also scored on those frames as the other arms are
    (``m3e.eval.keyframes.scores``)."""
    tried = []
    for name, coder in (
        ("v-prime", transport("qpsk", 0.5) if snr < 6.0 else transport("16qam")),
        ("qpsk-1/2", transport("qpsk", 0.5)),
    ):
        channel = BlockFadingChannel(fading, coherence=256, seed=seed + 13)
        sent = [send_payload(p, snr, channel, coder) for p in stream.packets]
        shown = _h265_played(frames, [got for got, _ in sent], stream.fps)
        scores = all_frame_scores(frames, shown)
        tried.append((scores["ssim_all_frames"], name, sum(n for _, n in sent), scores, shown))
    _, name, symbols, scores, shown = max(tried, key=lambda t: t[0])
    row = {
        "scheme": "h265-equal-rate",
        "format": stream.format,
        "transport": name,
        "kbps": stream.kbps,
        "target_kbps": stream.target_kbps,
        "timbre": None,
        **_per_gop(symbols, round(stream.kbps * 1000 * len(frames) / 30.0), len(frames)),
        **scores,
    }
    if keyframes is not None:
        from m3e.eval.keyframes import scores as keyframe_scores

        row.update(keyframe_scores([frames[i] for i in keyframes], [shown[i] for i in keyframes]))
    return row, shown


def rate_controlled_h265(frames: Frames, kbps: float, divisor: int, fps: float) -> list[bytes]:
    """The clip at 1/``divisor`` size and ``fps`` through the stream's H.265 encoder with
    rate control (one I-frame per 10 s), the target lowered once when the first try overshoots
    by > 5 %."""
    h, w = frames[0].shape[:2]
    size = (w // divisor // 2 * 2, h // divisor // 2 * 2)
    picked = [frames[round(i * 30.0 / fps)] for i in range(int(len(frames) * fps / 30.0))]
    seconds = len(frames) / 30.0
    target = kbps
    packets: list[bytes] = []
    for _ in range(2):
        encoder = VideoEncoder(
            "h265", *size, fps, gop=round(10 * fps), bitrate_kbps=target, preset="medium", single_thread=True
        )
        packets = []
        for f in picked:
            packets += [p.data for p in encoder.encode(av.VideoFrame.from_ndarray(f, format="rgb24"))]
        packets += [p.data for p in encoder.flush()]
        actual = 8 * sum(len(p) for p in packets) / 1000 / seconds
        if actual <= kbps * 1.05:
            break
        target *= kbps / actual
    return packets


def _h265_played(frames: Frames, packets: Sequence[bytes | None], fps: float) -> Frames:
    """The receiver's picture per source frame: each decoded frame upscaled and held (a lost
    packet freezes the picture)."""
    h, w = frames[0].shape[:2]
    decoder = VideoDecoder("h265", size=(w, h))
    shown, last = [], np.zeros_like(frames[0])
    for p in packets:
        out = decoder.decode(p) if p is not None else []
        last = out[-1] if out else last
        shown.append(last)
    return [shown[min(len(shown) - 1, int(i * fps / 30.0))] for i in range(len(frames))]


def _per_gop(symbols: int, bits: int, n_frames: int) -> dict[str, float]:
    gops = n_frames / 30.0
    return {"symbols_per_gop": symbols / gops, "bits_per_gop": bits / gops}
