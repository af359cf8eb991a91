"""Audio from text, plus what the text cannot carry (paper §3.1–3.2, Y(·) and T′).

Y(transcript): speech synthesised with espeak-ng at the receiver, at the speaking rate that
makes it last as long as the original segment. T′, the audio difference (eq 16–17 for audio),
is what makes it sound like the original, at a few hundred bits per second:

- the duration of the segment (u16, 10 ms units);
- its energy envelope: log RMS per 40 ms frame, 8 bits (25 bytes/s);
- its spectral envelope: the mean of 16 log-mel bands (16 bytes), which the receiver imposes
  on the synthetic speech by a smooth per-band gain (timbre colour).

The receiver fades segment edges (10 ms) so that consecutive segments join without clicks.
``timbre`` scores the result as the paper's Fig. 8 does: cosine of the mean MFCCs.
Audio is float32 mono at 16 kHz.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

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
    """(16,) mean log power in 16 mel-spaced bands (from the 64-band log-mel front end)."""
    from m3e.semantics.audio import log_mel

    mel = log_mel(audio)  # (frames, 64)
    loud = mel.mean(1) > np.percentile(mel.mean(1), 30) if mel.shape[0] > 3 else slice(None)
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


def regenerate(transcript: str, difference: bytes | None) -> Audio:
    """Y(transcript) shaped by T′ (None: the synthetic speech as it comes)."""
    if not difference:
        return fade(speak(transcript))
    if len(difference) < 2 + BANDS:
        raise ValueError(f"audio difference of {len(difference)} bytes is shorter than its header")
    n_samples = struct.unpack("<H", difference[:2])[0] * RATE // 100
    bands = (np.frombuffer(difference[2 : 2 + BANDS], np.uint8) / 20 - 7.0).astype(np.float32)
    env = (np.frombuffer(difference[2 + BANDS :], np.uint8) / 25 - 9.3).astype(np.float32)
    speech = speak(transcript)
    if speech.shape[0] == 0 or n_samples == 0:
        return np.zeros(n_samples, np.float32)
    # say it again at the rate that fills the segment, then fit the length exactly
    speech = speak(transcript, round(160 * speech.shape[0] / n_samples))
    fitted = np.interp(np.linspace(0, speech.shape[0] - 1, n_samples), np.arange(speech.shape[0]), speech)
    speech = _colour(fitted.astype(np.float32), bands)
    if env.size:
        have = _envelope(speech, env.size)
        gain = np.exp(np.clip(env - have, -4, 4))
        speech = speech * np.repeat(gain, FRAME)[: speech.shape[0]]
    return fade(np.clip(speech, -1, 1).astype(np.float32))


def _colour(audio: Audio, bands: npt.NDArray[np.float32]) -> Audio:
    """Impose the original's band means: a smooth gain over frequency (log-mel bands mapped to
    FFT bins), applied to the whole segment at once."""
    from m3e.semantics.audio import _mel_matrix

    diff = bands - _band_means(audio)
    mel = _mel_matrix()  # (257, 64) for the 512-point FFT
    per_band = np.repeat(diff, 64 // BANDS)  # (64,)
    weight = mel / np.maximum(mel.sum(1, keepdims=True), 1e-9)
    gain_db = np.clip(weight @ per_band, -3, 3)  # log units of amplitude
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
