"""Audio through the channel (paper Fig. 8): per keyframe interval, the M3E audio (sentence +
T′) or a traditional codec's packets, through the physical layer with HARQ, scored by timbre
similarity (MFCC cosine) to the original. All audio here is float32 mono at 16 kHz, the rate of
the M3E audio path; the traditional codecs code the same 16 kHz track (AAC and MP3 at 64 kbit/s,
FLAC, PCM s16), and a packet the HARQ loses is silence."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from m3e.codecs.audio_semantic import RATE, Audio, encode_difference, regenerate_segment, timbre
from m3e.codecs.traditional import AudioDecoder, AudioEncoder
from m3e.eval.payload import send_payload
from m3e.phy.channels import BlockFadingChannel
from m3e.phy.link import TransportCoder

MAX_SEGMENT_S = 6.0  # the extractor's longest keyframe interval
SILENCE_RMS = 0.005  # quieter intervals are not scored


def clip_audio(clip: Path | str) -> Audio:
    """The clip's first audio track as float32 mono at 16 kHz (empty without one)."""
    with av.open(str(clip)) as c:
        if not c.streams.audio:
            return np.zeros(0, np.float32)
        mono = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in mono.resample(fr)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def keyframe_intervals(starts_s: list[float], end_s: float) -> list[tuple[float, float]]:
    """Each keyframe's audio interval: to the next keyframe, at most ``MAX_SEGMENT_S``."""
    ends = [*starts_s[1:], end_s]
    return [(a, min(b, a + MAX_SEGMENT_S)) for a, b in zip(starts_s, ends, strict=True)]


def cut(audio: Audio, interval: tuple[float, float]) -> Audio:
    return audio[int(interval[0] * RATE) : int(interval[1] * RATE)]


def m3e_audio(
    texts: list[str],
    originals: list[Audio],
    with_difference: bool,
    snr_db: float,
    channel: BlockFadingChannel,
    coder: TransportCoder,
) -> tuple[list[Audio], int, int]:
    """The receiver's segments from the decoded sentences and, with differences, T′ through the
    channel (lost: the sentence alone); -> segments, the channel symbols and the bits T′ spent."""
    out, symbols, bits = [], 0, 0
    for text, original in zip(texts, originals, strict=True):
        difference = None
        if with_difference:
            sent = encode_difference(original)
            difference, n = send_payload(sent, snr_db, channel, coder)
            symbols, bits = symbols + n, bits + 8 * len(sent)
        out.append(regenerate_segment(text, difference))
    return out, symbols, bits


def codec_audio(
    scheme: str, audio: Audio, snr_db: float, channel: BlockFadingChannel, coder: TransportCoder
) -> tuple[Audio, int, int]:
    """The whole track through a traditional codec and the channel, packet by packet;
    -> the received track (as long as the original), the channel symbols spent and the
    codec's bits."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).reshape(-1, 1)
    encoder = AudioEncoder(scheme, RATE, 1)
    packets = [p for i in range(0, pcm.shape[0], 1024) for p in encoder.encode(pcm[i : i + 1024])]
    packets += encoder.flush()
    decoder = AudioDecoder(scheme, RATE, 1, encoder.config)
    track = np.zeros(audio.shape[0] + 4096, np.float32)
    symbols = 0
    for p in packets:
        got, n = send_payload(p.data, snr_db, channel, coder)
        symbols += n
        if got is None:
            continue  # lost: silence where it would have played
        samples = decoder.decode(got).reshape(-1).astype(np.float32) / 32768
        start = max(0, round(p.pts * RATE))
        track[start : start + samples.shape[0]] = samples[: max(0, track.shape[0] - start)]
    return track[: audio.shape[0]], symbols, 8 * sum(len(p.data) for p in packets)


def mean_timbre(originals: list[Audio], rebuilt: list[Audio]) -> float | None:
    """Mean timbre similarity over the intervals that have sound (a silent original has no
    timbre to match: MFCCs of silence are flat); None when none has."""
    scores = [timbre(a, b) for a, b in zip(originals, rebuilt, strict=True) if _rms(a) >= SILENCE_RMS]
    return float(np.mean(scores)) if scores else None


def _rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(audio**2))) if audio.size else 0.0
