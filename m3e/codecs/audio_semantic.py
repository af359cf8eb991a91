"""Audio from text, plus what the text cannot carry (paper §3.1–3.2, Y(·) and T′).

Y(transcript): speech synthesised with espeak-ng at the receiver, at the speaking rate that
makes it last as long as the original segment. T′, the audio difference (eq 16–17 for audio),
is what makes it sound like the original, at a few hundred bits per second:

- the duration of the segment (u16, 10 ms units);
- its energy envelope: log RMS per 40 ms frame, 8 bits (25 bytes/s);
- its spectral envelope: the mean of 16 log-mel bands (16 bytes), which the receiver imposes
  on the synthetic speech by a smooth per-band gain (timbre colour).

Sound events come from their labels in the keyframe sentence ("a phone is ringing"): each
verb of the vocabulary has a small procedural recipe (two-tone rings, barks as harmonic bursts,
engines as modulated low noise, ...); T′ then gives them the original's loudness and colour.
A segment with neither speech nor events is comfort noise shaped by T′.

The receiver fades segment edges (10 ms) so that consecutive segments join without clicks.
``timbre`` scores the result as the paper's Fig. 8 does: cosine of the mean MFCCs.
Audio is float32 mono at 16 kHz.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from scipy.fft import dct

RATE = 16000
FRAME = 640  # 40 ms energy frames
BANDS = 16
Audio = npt.NDArray[np.float32]


def speak(
    text: str, words_per_minute: int = 160, voice: str = "en-us", pitch: int = 50, rate: int = RATE
) -> Audio:
    """espeak-ng speech, float32 mono at ``rate``; empty for an empty text. RuntimeError
    without espeak-ng. (The project's one synthesiser: the test clips speak through it too.)"""
    if not text.strip():
        return np.zeros(0, np.float32)
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("speech synthesis needs espeak-ng (Debian package espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        wpm = str(int(np.clip(words_per_minute, 80, 450)))
        cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", wpm, "-w", str(wav), text]
        subprocess.run(cmd, check=True)
        with av.open(str(wav)) as c:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            parts = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in resampler.resample(fr)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _band_means(audio: Audio) -> npt.NDArray[np.float32]:
    """(16,) mean log power in 16 mel-spaced bands (from the 64-band log-mel front end), over
    the frames within 40 dB of the loudest (pauses would pull the colour towards silence)."""
    from m3e.semantics.audio import log_mel

    mel = log_mel(audio)  # (frames, 64)
    level = mel.mean(1)
    loud = level >= level.max() - 4.6
    return mel[loud].mean(0).reshape(BANDS, -1).mean(1).astype(np.float32)


def _envelope(audio: Audio, n_frames: int) -> npt.NDArray[np.float32]:
    x = np.pad(audio, (0, max(0, n_frames * FRAME - audio.shape[0])))[: n_frames * FRAME]
    return np.log(np.sqrt((x.reshape(n_frames, FRAME) ** 2).mean(1)) + 1e-4).astype(np.float32)


def encode_difference(original: Audio) -> bytes:
    """T′ of one segment of the original audio."""
    n = max(1, -(-original.shape[0] // FRAME))
    env = np.clip(np.round((_envelope(original, n) + 9.3) * 25), 0, 255).astype(np.uint8)
    bands = np.clip(np.round((_band_means(original) + 7.0) * 20), 0, 255).astype(np.uint8)
    return (
        struct.pack("<H", min(65535, round(original.shape[0] / RATE * 100))) + bands.tobytes() + env.tobytes()
    )


def transcript_of(text: str) -> str:
    """The quoted transcript of a keyframe sentence ('a person is speaking: "..."' -> ...)."""
    match = re.search(r':\s*"(.*)"\s*$', text)
    return match.group(1) if match else ""


def sound_events(text: str) -> list[str]:
    """The verbs of the sentence's sound events that have a recipe (speech is the transcript's)."""
    head = text.split(":")[0]
    return [v for v in re.findall(r"\bis ([a-z]+ing)\b", head) if v in EVENT_RECIPES]


def regenerate_segment(text: str, difference: bytes | None) -> Audio:
    """The audio of one keyframe interval from its sentence: speech of the transcript and the
    sound events it names, shaped by T′."""
    return regenerate(transcript_of(text), difference, sound_events(text))


def regenerate(transcript: str, difference: bytes | None, events: list[str] | tuple[str, ...] = ()) -> Audio:
    """Y(transcript) + the named sound events, shaped by T′ (None: as they come, the events
    lasting as long as the speech or 2 s). ValueError for a T′ shorter than its header."""
    if difference and len(difference) < 2 + BANDS:
        raise ValueError(f"audio difference of {len(difference)} bytes is shorter than its header")
    speech = speak(transcript)
    if not difference:
        n = speech.shape[0] if speech.size or not events else 2 * RATE
        return fade(_mix(speech, events, n))
    n_samples = struct.unpack("<H", difference[:2])[0] * RATE // 100
    bands = (np.frombuffer(difference[2 : 2 + BANDS], np.uint8) / 20 - 7.0).astype(np.float32)
    env = (np.frombuffer(difference[2 + BANDS :], np.uint8) / 25 - 9.3).astype(np.float32)
    if n_samples == 0:
        return np.zeros(0, np.float32)
    if speech.size:  # say it again at the rate that fills the loud part, then fit it exactly
        start, end = _loud_span(env, n_samples)
        speech = speak(transcript, round(160 * speech.shape[0] / (end - start)))
        grid = np.linspace(0, speech.shape[0] - 1, end - start)
        fitted = np.interp(grid, np.arange(speech.shape[0]), speech).astype(np.float32)
        speech = np.zeros(n_samples, np.float32)
        speech[start:end] = fitted
    mixed = _mix(speech, events, n_samples)
    if events:  # T′'s spectrum judges the named events: synthesised ones that sound unlike the
        # original (a different ring, another engine) would pull the timbre away from it
        plain = _mix(speech, (), n_samples)
        if _spectral_distance(plain, bands) < _spectral_distance(mixed, bands):
            mixed = plain
    audio = _colour(mixed, bands)
    if env.size:
        have = _envelope(audio, env.size)
        gain = np.exp(np.clip(env - have, -4, 4))
        audio = audio * np.repeat(gain, FRAME)[: audio.shape[0]]
    return fade(np.clip(audio, -1, 1).astype(np.float32))


def _loud_span(env: npt.NDArray[np.float32], n_samples: int) -> tuple[int, int]:
    """Samples [start, end) from the first to the last 40 ms frame within 43 dB of the loudest
    (where the original speaks; the whole segment without an envelope)."""
    loud = np.flatnonzero(env > env.max() - 5.0) if env.size else np.zeros(0, int)
    if loud.size == 0:
        return 0, n_samples
    start, end = int(loud[0]) * FRAME, min(n_samples, (int(loud[-1]) + 1) * FRAME)
    return (start, end) if end - start >= FRAME else (0, n_samples)


def _mix(speech: Audio, events: list[str] | tuple[str, ...], n: int) -> Audio:
    """Speech over the events (quieter beneath it), or comfort noise when there is neither."""
    rng = np.random.default_rng(n)  # the same segment sounds the same every time
    out = np.zeros(n, np.float32)
    out[: min(n, speech.shape[0])] += speech[:n]
    for verb in events:
        out += (0.3 if speech.size else 0.6) * EVENT_RECIPES[verb](n, rng).astype(np.float32)
    if not speech.size and not events:
        out += 0.003 * rng.standard_normal(n).astype(np.float32)
    return np.clip(out, -1, 1).astype(np.float32)


# ---------------------------------------------------------------- sound events from labels
Wave = npt.NDArray[Any]  # synthesis in float64 or float32; _mix makes it float32


def _tone(freqs: list[float], n: int) -> Wave:
    t = np.arange(n) / RATE
    return np.sum([np.sin(2 * np.pi * f * t) for f in freqs], axis=0) / len(freqs)


def _gate(n: int, period_s: float, on_s: float) -> Wave:
    """1 during the first ``on_s`` of every ``period_s``, with soft edges."""
    t = np.arange(n) / RATE
    gate = ((t % period_s) < on_s).astype(np.float32)
    return np.convolve(gate, np.hanning(160) / 80, "same").astype(np.float32)


def _harmonic(f0: Wave, n_harmonics: int = 6) -> Wave:
    """Harmonics of a time-varying pitch f0 (n,), falling off as 1/k."""
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return np.sum([np.sin(k * phase) / k for k in range(1, n_harmonics + 1)], axis=0) / 2


def _lowpass_noise(n: int, rng: np.random.Generator, cutoff_hz: float) -> Wave:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / RATE) > cutoff_hz] = 0
    x = np.fft.irfft(spectrum, n)
    return (x / max(1e-9, float(np.abs(x).max()))).astype(np.float32)


def _clicks(n: int, rng: np.random.Generator, per_s: float) -> Wave:
    out = np.zeros(n, np.float32)
    for at in rng.integers(0, max(1, n - 200), max(1, int(n / RATE * per_s))):
        out[at : at + 200] += np.exp(-np.arange(200) / 30) * rng.standard_normal(200) * 0.8
    return out


def _engine(hz: float) -> Callable[[int, np.random.Generator], Wave]:
    def make(n: int, rng: np.random.Generator) -> Wave:
        t = np.arange(n) / RATE
        wobble = 1 + 0.05 * np.sin(2 * np.pi * 0.3 * t)
        return (0.6 * _lowpass_noise(n, rng, 4 * hz) + 0.4 * _harmonic(np.full(n, hz) * wobble, 4)) * 0.8

    return make


def _call(
    f_lo: float, f_hi: float, period_s: float, on_s: float
) -> Callable[[int, np.random.Generator], Wave]:
    """An animal call: a harmonic glide from f_lo up to f_hi and back within each call."""

    def make(n: int, rng: np.random.Generator) -> Wave:
        t = (np.arange(n) / RATE) % period_s
        rise = np.sin(np.pi * np.clip(t / on_s, 0, 1))
        return _harmonic(f_lo + (f_hi - f_lo) * rise) * _gate(n, period_s, on_s)

    return make


EVENT_RECIPES: dict[str, Callable[[int, np.random.Generator], Wave]] = {
    "ringing": lambda n, rng: _tone([440, 480], n) * _gate(n, 3.0, 1.5),
    "honking": lambda n, rng: np.sign(_tone([400, 500], n)) * 0.5 * _gate(n, 1.5, 0.6),
    "ticking": lambda n, rng: _tone([2000], n) * _gate(n, 0.5, 0.02),
    "typing": lambda n, rng: _clicks(n, rng, 8),
    "barking": _call(350, 600, 0.7, 0.18),
    "meowing": _call(450, 800, 1.6, 0.8),
    "mooing": _call(110, 150, 2.5, 1.5),
    "bleating": _call(280, 340, 1.5, 0.7),
    "neighing": _call(500, 900, 2.5, 1.2),
    "chirping": _call(3000, 5000, 0.3, 0.08),
    "singing": _call(220, 330, 1.0, 0.9),
    "whistling": lambda n, rng: _tone([1500], n) * _gate(n, 1.0, 0.7),
    "laughing": _call(200, 280, 0.25, 0.15),
    "purring": lambda n, rng: _lowpass_noise(n, rng, 300) * (0.6 + 0.4 * _tone([25], n)),
    "playing": lambda n, rng: _harmonic(np.full(n, 262.0)) * np.exp(-(np.arange(n) % (RATE // 2)) / 3000.0),
    "trotting": lambda n, rng: _clicks(n, rng, 4),
    "driving": _engine(60), "rumbling": _engine(40), "roaring": _engine(90), "passing": _engine(50),
    "flying": _engine(120), "sailing": _engine(45), "riding": lambda n, rng: _clicks(n, rng, 2) * 0.5,
}  # fmt: skip


def _spectral_distance(audio: Audio, bands: npt.NDArray[np.float32]) -> float:
    """How far ``audio``'s band means are from T′'s (log units, Euclidean)."""
    return float(np.linalg.norm(_band_means(audio) - bands))


def _colour(audio: Audio, bands: npt.NDArray[np.float32]) -> Audio:
    """Impose the original's band means: a smooth gain over frequency (log-mel bands mapped to
    FFT bins), applied to the whole segment at once."""
    from m3e.semantics.audio import _mel_matrix

    diff = bands - _band_means(audio)
    mel = _mel_matrix()  # (257, 64) for the 512-point FFT
    per_band = np.repeat(diff, 64 // BANDS)  # (64,)
    weight = mel / np.maximum(mel.sum(1, keepdims=True), 1e-9)
    gain_db = np.clip(weight @ per_band, -6, 6)  # log units of amplitude
    n = 1 << int(np.ceil(np.log2(max(512, audio.shape[0]))))
    spectrum = np.fft.rfft(audio, n)
    freq_gain = np.interp(np.linspace(0, 256, spectrum.shape[0]), np.arange(257), np.exp(gain_db))
    return np.fft.irfft(spectrum * freq_gain, n)[: audio.shape[0]].astype(np.float32)


def fade(audio: Audio, ms: float = 10.0) -> Audio:
    """Raised-cosine fade in and out, so segments join without clicks."""
    n = min(audio.shape[0] // 2, int(RATE * ms / 1000))
    if n == 0:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(np.float32)
    out = audio.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def timbre(a: Audio, b: Audio) -> float:
    """Cosine of the mean MFCCs (13 coefficients after the 0th, of the log-mel front end)."""
    from m3e.semantics.audio import log_mel

    if a.shape[0] < 400 or b.shape[0] < 400:
        return 0.0
    ma, mb = (dct(log_mel(x), type=2, norm="ortho", axis=1)[:, 1:14].mean(0) for x in (a, b))
    return float(ma @ mb / max(1e-9, float(np.linalg.norm(ma) * np.linalg.norm(mb))))
