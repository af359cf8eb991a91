"""Keyframes through the emulated channel, in process (the code the processes run): the M3E
schemes and the traditional video baselines, with each scheme's audio, scored on the keyframes.

- ``m3e`` / ``m3e-no-diff`` / ``m3e-text-only``: each keyframe's sentence over the semantic text
  link (≤ 2 retransmissions by ξ̂), its 12 bytes of side information and the audio difference
  T′ (≈ 100 bytes) over CRC + LDPC 1/3 + QPSK, and V′ (``budget`` bytes) over CRC + LDPC 3/4 +
  16-QAM, or LDPC 1/2 + QPSK below 6 dB (unequal protection with link adaptation: the text
  most, the big V′ as the SNR allows), with HARQ (≤ 4 transmissions); the receiver rebuilds the
  keyframe (knowledge base, motion, V′) and the audio (speech, sound events, T′; the ablations
  without T′).
- ``h265-qpsk`` / ``h265-16qam``: the whole clip as H.265 (crf 28, preset medium, GOP 30) +
  LDPC 3/4, HARQ ≤ 4 transmissions per frame; lost frames freeze. ``jpeg-16qam``: each keyframe
  as a JPEG (q 8) + LDPC 3/4 16-QAM. Their audio: AAC 64 kbit/s on the same transport.

Scores on the keyframes: SSIM and top-5 agreement (|top5(real) ∩ top5(rebuilt)| / 5 of the
ImageNet classifier); timbre (MFCC cosine) over the keyframe intervals that have sound; symbols
per GOP = all channel symbols, audio included / (clip frames / 30); bits per GOP = the source
bits the scheme hands to the physical layer (first transmission, before channel coding).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from skimage.metrics import structural_similarity

from m3e.codecs import SMALL_LAYER_CODING
from m3e.codecs.audio_semantic import Audio
from m3e.codecs.m3e_keyframe import KeyframeMessage, KeyframeReceiver, KeyframeSender
from m3e.codecs.traditional import VideoDecoder
from m3e.eval.audio_link import codec_audio, cut, keyframe_intervals, m3e_audio, mean_timbre
from m3e.eval.payload import send_payload, transport
from m3e.phy.channels import BlockFadingChannel

GOP = 30
FPS = 30.0


def clip_frames(clip: Path | str) -> list[np.ndarray]:
    with av.open(str(clip)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def top5(image: np.ndarray) -> set[int]:
    from m3e.semantics.vision import ImageRecognizer

    return {int(i) for i in np.argsort(ImageRecognizer().class_probabilities(image))[::-1][:5]}


def scores(real: list[np.ndarray], rebuilt: list[np.ndarray]) -> dict[str, Any]:
    """Mean keyframe SSIM and top-5 agreement, and both per keyframe (``per_keyframe``)."""
    ssim = [float(structural_similarity(a, b, channel_axis=2)) for a, b in zip(real, rebuilt, strict=True)]
    agree = [len(top5(a) & top5(b)) / 5 for a, b in zip(real, rebuilt, strict=True)]
    return {
        "ssim": float(np.mean(ssim)),
        "agreement_top5": float(np.mean(agree)),
        "per_keyframe": [{"ssim": s, "agreement_top5": a} for s, a in zip(ssim, agree, strict=True)],
    }


def audio_segments(audio: Audio, keyframes: list[tuple[int, str]], n_frames: int) -> list[Audio]:
    """The original audio of each keyframe's interval."""
    intervals = keyframe_intervals([i / FPS for i, _ in keyframes], n_frames / FPS)
    return [cut(audio, iv) for iv in intervals]


def m3e_arm(
    scheme: str,
    keyframes: list[tuple[int, str]],
    frames: list[np.ndarray],
    audio: Audio,
    snr: float,
    budget: int,
    seed: int,
    fading: str = "rayleigh",
) -> tuple[dict[str, Any], list[float], list[float], list[np.ndarray]]:
    """-> the row, the sender's and receiver's milliseconds per keyframe, and the keyframes
    the receiver rebuilt."""
    import time

    from m3e.codecs.semantic_text import TextLink
    from m3e.eval.text_link import transmit_semantic

    link = TextLink()
    size = frames[0].shape[1::-1]
    sender, receiver = KeyframeSender(scheme, size), KeyframeReceiver(scheme, size)
    channel = BlockFadingChannel(fading, coherence=256, seed=seed)
    side_coder = transport(*SMALL_LAYER_CODING)
    diff_coder = transport("qpsk", 0.5) if snr < 6.0 else transport("16qam")
    symbols, bits, rebuilt, decoded, encode_ms, decode_ms = 0, 0, [], [], [], []
    difference_bytes = []
    for k, (index, text) in enumerate(keyframes):
        t0 = time.perf_counter()
        message, predicted = sender.encode(frames[index], text, budget)
        encode_ms.append((time.perf_counter() - t0) * 1000)
        sent = transmit_semantic([text], snr, fading, link, max_retransmissions=2, seed=seed * 1000 + k)
        symbols += int(sent["symbols_per_sentence"])
        side, n_side = send_payload(message.side, snr, channel, side_coder)
        diff, n_diff = send_payload(message.difference, snr, channel, diff_coder)
        symbols += n_side + n_diff
        bits += 8 * (len(text.encode()) + len(message.side) + len(message.difference))
        difference_bytes.append(len(message.difference))
        arrived = KeyframeMessage(sent["decoded"][0], side or b"", diff or b"")
        decoded.append(arrived.text)
        t0 = time.perf_counter()
        image = receiver.decode(arrived)
        decode_ms.append((time.perf_counter() - t0) * 1000)
        rebuilt.append(image)
        if side is not None and diff is not None:  # both ends know the receiver has it
            sender.remember(k, text, predicted)
            receiver.remember(k, arrived.text, image)
    originals = audio_segments(audio, keyframes, len(frames))
    heard, n_audio, audio_bits = m3e_audio(decoded, originals, scheme == "m3e", snr, channel, side_coder)
    gops = len(frames) / GOP
    row = {
        "scheme": scheme,
        "symbols_per_gop": (symbols + n_audio) / gops,
        "bits_per_gop": (bits + audio_bits) / gops,
        **scores([frames[i] for i, _ in keyframes], rebuilt),
        "timbre": mean_timbre(originals, heard),
    }
    for k, n in zip(row["per_keyframe"], difference_bytes, strict=True):
        k["difference_bytes"] = n
    return row, encode_ms, decode_ms, rebuilt


def h265_arm(
    modulation: str,
    packets: list[bytes],
    frames: list[np.ndarray],
    keyframes: list[tuple[int, str]],
    audio: Audio,
    snr: float,
    seed: int,
    fading: str = "rayleigh",
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """-> the row and the picture shown for every frame."""
    channel = BlockFadingChannel(fading, coherence=256, seed=seed)
    coder = transport(modulation)
    decoder = VideoDecoder("h265")
    symbols, shown, last = 0, [], np.zeros_like(frames[0])
    bits = 8 * sum(len(p) for p in packets)
    for p in packets:
        got, n = send_payload(p, snr, channel, coder)
        symbols += n
        out = decoder.decode(got) if got is not None else []
        last = out[-1] if out else last  # a lost frame freezes the picture
        shown.append(last)
    indices = [i for i, _ in keyframes]
    row = {
        "scheme": f"h265-{modulation}",
        **_with_aac(symbols, bits, frames, keyframes, audio, snr, channel, coder),
        **scores([frames[i] for i in indices], [shown[i] for i in indices]),
    }
    return row, shown


def jpeg_arm(
    frames: list[np.ndarray],
    keyframes: list[tuple[int, str]],
    audio: Audio,
    snr: float,
    seed: int,
    fading: str = "rayleigh",
) -> dict[str, Any]:
    from m3e.codecs.traditional import VideoEncoder

    channel = BlockFadingChannel(fading, coherence=256, seed=seed)
    coder = transport("16qam")
    h, w = frames[0].shape[:2]
    symbols, bits, shown = 0, 0, list[np.ndarray]()
    indices = [i for i, _ in keyframes]
    for i in indices:
        enc = VideoEncoder("jpeg", w, h, FPS)
        data = b"".join(p.data for p in enc.encode(av.VideoFrame.from_ndarray(frames[i], format="rgb24")))
        got, n = send_payload(data, snr, channel, coder)
        symbols, bits = symbols + n, bits + 8 * len(data)
        out = VideoDecoder("jpeg").decode(got) if got is not None else []
        shown.append(out[-1] if out else (shown[-1] if shown else np.zeros_like(frames[i])))
    return {
        "scheme": "jpeg-16qam",
        **_with_aac(symbols, bits, frames, keyframes, audio, snr, channel, coder),
        **scores([frames[i] for i in indices], shown),
    }


def image_only_arm(
    frames: list[np.ndarray],
    keyframes: list[tuple[int, str]],
    snr: float,
    seed: int,
    fading: str = "rayleigh",
) -> dict[str, Any]:
    """Image-only semantic transmission (the paper's "DeepSC: image"): each keyframe as the VQ
    codec's tokens, no text, on V′'s transport (HARQ ≤ 4); a block the HARQ cannot correct is
    decoded from its damaged bits, as a semantic decoder would (no audio)."""
    from m3e.codecs.vq import VQTokens, load_vq

    vq = load_vq()
    channel = BlockFadingChannel(fading, coherence=256, seed=seed)
    coder = transport("qpsk", 0.5) if snr < 6.0 else transport("16qam")
    symbols, bits, shown = 0, 0, []
    indices = [i for i, _ in keyframes]
    for i in indices:
        tokens = vq.compress(frames[i])
        data = tokens.to_bytes()
        header, body = data[:4], data[4:]  # the grid's shape: both ends know the picture size
        got, n = send_payload(body, snr, channel, coder, best_effort=True)
        symbols, bits = symbols + n, bits + 8 * len(body)
        shown.append(vq.decompress(VQTokens.from_bytes(header + (got or body), tokens.codes)))
    return {
        "scheme": "image-only",
        "symbols_per_gop": symbols / (len(frames) / GOP),
        "bits_per_gop": bits / (len(frames) / GOP),
        "timbre": None,
        **scores([frames[i] for i in indices], shown),
    }


def _with_aac(
    video_symbols: int,
    video_bits: int,
    frames: list[np.ndarray],
    keyframes: list[tuple[int, str]],
    audio: Audio,
    snr: float,
    channel: BlockFadingChannel,
    coder: Any,
) -> dict[str, Any]:
    """The traditional arms' audio: AAC on the video's transport; symbols and bits per GOP of both."""
    received, n_audio, audio_bits = (
        codec_audio("aac", audio, snr, channel, coder) if audio.size else (audio, 0, 0)
    )
    timbre = mean_timbre(
        audio_segments(audio, keyframes, len(frames)), audio_segments(received, keyframes, len(frames))
    )
    gops = len(frames) / GOP
    return {
        "symbols_per_gop": (video_symbols + n_audio) / gops,
        "bits_per_gop": (video_bits + audio_bits) / gops,
        "timbre": timbre,
    }


def h265_packets(frames: list[np.ndarray]) -> list[bytes]:
    """The fair baseline: crf 28, preset medium, GOP 30, one packet per frame (one frame thread:
    x265's frame-parallel rate control varies a few bytes from run to run, and the golden test
    pins these points)."""
    h, w = frames[0].shape[:2]
    ctx: Any = av.CodecContext.create("libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    ctx.time_base = Fraction(1, 30)
    ctx.options = {
        "preset": "medium",
        "crf": "28",
        "x265-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:repeat-headers=1:info=0"
        ":frame-threads=1:log-level=error",
    }
    out = []
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
        vf.pts = i
        out += [bytes(p) for p in ctx.encode(vf)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out
