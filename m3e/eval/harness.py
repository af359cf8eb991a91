"""The evaluation harness: the paper's Figs. 4–8 and Table 1, every arm through the same
emulated channel, in process (the encoders, physical layer and decoders the processes run).

    m3e eval fig4|fig5|fig6|fig7|fig8|table1|all [--quick] [--snr LIST] [--channel awgn|rayleigh]
             [--clips DIR] [--out DIR] [--seed N] [--workers N | --ray [ADDRESS]]

Work is cut into jobs, each written to ``OUT/points/`` as soon as it is done, so an interrupted
run resumes where it stopped (delete the folder to start over):

- ``describe`` (per clip): the sender's keyframes and their sentences, and each keyframe's
  class (from the clip's ``labels.json``; for a user's clip without one, its first object);
- ``video`` (per clip and SNR): the M3E schemes (keyframes and the motion samples between
  them), H.265 + LDPC 3/4 QPSK / 16-QAM, H.265 at M3E's own bit rate (``h265-equal-rate``,
  ``m3e.eval.played_video``), JPEG + 16-QAM and image-only VQ tokens (``m3e.eval.keyframes``);
- ``audio`` (per clip and SNR): AAC, MP3, FLAC and PCM + LDPC 3/4 16-QAM (``m3e.eval.audio_link``);
- ``text`` (per SNR): the semantic text link and Huffman / 5-bit / Brotli + LDPC 3/4 QPSK and
  16-QAM on held-out sentences (``m3e.eval.text_link``).

Jobs run in ``--workers`` processes, or as Ray tasks with ``--ray`` (a local Ray, or the cluster
at ADDRESS; docs/ray.md): either way a job's result is computed by ``compute_job`` and written
here by ``write_result``. ``m3e.eval.report`` turns their rows into the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

FIGURES = ("fig4", "fig5", "fig6", "fig7", "fig8", "table1")
NEEDS = {
    "fig4": ("video",),
    "fig5": ("text",),
    "fig6": ("video",),
    "fig7": ("video",),
    "fig8": ("video", "audio"),
    "table1": ("video",),
}
TABLE_SNR = 8.0  # Table 1's SNR: its video jobs run whatever --snr says
AUDIO_CODECS = ("aac", "mp3", "flac", "pcm")
TEXT_BASELINES = ("huffman", "5bit", "brotli")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")
SIZE = (720, 480)


@dataclass(frozen=True)
class Profile:
    snrs: tuple[float, ...]
    clips: int  # of the generated eval set
    real_clips: int  # of the real camera clips (m3e.eval.real_clips), held out from everything
    sentences: int  # held-out sentences per text point
    repeats: int  # channel realisations per text point


PROFILES = {
    "quick": Profile((0.0, 8.0, 20.0), 2, 2, 16, 1),
    "full": Profile((-2.0, 0.0, 3.0, 5.0, 8.0, 13.0, 20.0), 5, 5, 48, 2),
}


@dataclass(frozen=True)
class Settings:
    """What every job of one run shares (and what its cached results depend on)."""

    channel: str
    seed: int
    sentences: int
    repeats: int
    budget: int = 5000


@dataclass(frozen=True)
class Job:
    kind: str  # describe | video | audio | text
    clip: str  # "" for text jobs
    snr: float = 0.0

    def path(self, out: Path, s: Settings) -> Path:
        name = Path(self.clip).parent.name + "-" + Path(self.clip).stem if self.clip else "sentences"
        if self.kind == "describe":
            return out / "points" / f"describe-{name}.json"
        return out / "points" / f"{self.kind}-{name}-{self.snr:+g}dB-{s.channel}-seed{s.seed}.json"


# ------------------------------------------------------------------ jobs
def compute_job(job: Job, s: Settings, out: Path, described: dict[str, Any] | None = None) -> dict[str, Any]:
    """One job's result with the seconds it took. Video and audio jobs read their clip's
    ``describe`` result from ``out`` unless it is given as ``described``."""
    t0 = time.perf_counter()
    if job.kind == "describe":
        result = _describe(job)
    elif job.kind == "text":
        result = _text(job, s)
    else:
        if described is None:
            described = json.loads(Job("describe", job.clip).path(out, _ANY).read_text())
        result = (_video if job.kind == "video" else _audio)(job, s, described)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def write_result(job: Job, s: Settings, out: Path, result: dict[str, Any]) -> None:
    path = job.path(out, s)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)  # a job is either complete on disk or absent


def run_job(job: Job, s: Settings, out: Path) -> dict[str, Any]:
    """Run one job (in a worker process) and write its result (with the seconds it took)."""
    result = compute_job(job, s, out)
    write_result(job, s, out, result)
    return result


def _describe(job: Job) -> dict[str, Any]:
    from m3e.semantics.extractor import describe_file

    labels_path = Path(job.clip).parent / "labels.json"
    scenes = json.loads(labels_path.read_text())["scenes"] if labels_path.exists() else []
    keyframes = []
    for k in describe_file(job.clip):
        scene = next((sc for sc in scenes if sc["start"] <= k.time_s < sc["end"]), None)
        label = scene["label"] if scene else (next(iter(k.objects), "unlabelled"))
        keyframes.append({"frame": round(k.time_s * 30), "time_s": k.time_s, "text": k.text, "class": label})
    return {"clip": job.clip, "labelled": bool(scenes), "keyframes": keyframes}


def _clip_inputs(
    job: Job, described: dict[str, Any]
) -> tuple[list[np.ndarray], Any, list[tuple[int, str]], list[str]]:
    from m3e.eval.audio_link import clip_audio
    from m3e.eval.keyframes import clip_frames

    frames = [_fit(f) for f in clip_frames(job.clip)]
    keyframes = [(min(len(frames) - 1, k["frame"]), k["text"]) for k in described["keyframes"]]
    return frames, clip_audio(job.clip), keyframes, [k["class"] for k in described["keyframes"]]


_ANY = Settings("", 0, 0, 0)  # describe jobs do not depend on the settings


def _fit(frame: np.ndarray) -> np.ndarray:
    """A user's clip at the evaluation's 720×480."""
    if frame.shape[1::-1] == SIZE:
        return frame
    import cv2

    return np.asarray(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA), np.uint8)


def _video(job: Job, s: Settings, described: dict[str, Any]) -> dict[str, Any]:
    from m3e.codecs.m3e_keyframe import SCHEMES
    from m3e.eval.keyframes import GOP, h265_arm, h265_packets, image_only_arm, jpeg_arm, m3e_arm
    from m3e.eval.played_video import equal_rate_arm, equal_rate_stream, motion_samples, send_motion

    frames, audio, keyframes, classes = _clip_inputs(job, described)
    key_frames = [i for i, _ in keyframes]
    _, motion_symbols, motion_bits = send_motion(
        motion_samples(frames, key_frames), job.snr, s.seed, s.channel
    )
    rows = []
    for scheme in SCHEMES:  # keyframes and the motion samples between them
        row = m3e_arm(scheme, keyframes, frames, audio, job.snr, s.budget, s.seed, s.channel)[0]
        row["symbols_per_gop"] += motion_symbols / (len(frames) / GOP)
        row["bits_per_gop"] += motion_bits / (len(frames) / GOP)
        rows.append(row)
    m3e_kbps = rows[0]["bits_per_gop"] / 1000  # a GOP is one second
    equal_rate = equal_rate_stream(frames, m3e_kbps)
    rows.append(equal_rate_arm(frames, equal_rate, job.snr, s.seed, s.channel, key_frames)[0])
    packets = h265_packets(frames)
    rows += [
        h265_arm(m, packets, frames, keyframes, audio, job.snr, s.seed, s.channel)[0]
        for m in ("qpsk", "16qam")
    ]
    rows.append(jpeg_arm(frames, keyframes, audio, job.snr, s.seed, s.channel))
    rows.append(image_only_arm(frames, keyframes, job.snr, s.seed, s.channel))
    for row in rows:
        row.update(clip=job.clip, snr_db=job.snr, channel=s.channel)
        for k, cls in zip(row["per_keyframe"], classes, strict=True):
            k["class"] = cls
    return {"rows": rows}


def _audio(job: Job, s: Settings, described: dict[str, Any]) -> dict[str, Any]:
    from m3e.eval.audio_link import codec_audio, mean_timbre
    from m3e.eval.keyframes import GOP, audio_segments
    from m3e.eval.payload import transport
    from m3e.phy.channels import BlockFadingChannel

    frames, audio, keyframes, _ = _clip_inputs(job, described)
    originals = audio_segments(audio, keyframes, len(frames))
    rows = []
    for codec in AUDIO_CODECS:
        channel = BlockFadingChannel(s.channel, coherence=256, seed=s.seed)
        received, symbols, bits = codec_audio(codec, audio, job.snr, channel, transport("16qam"))
        rows.append(
            {
                "scheme": f"{codec}-16qam",
                "timbre": mean_timbre(originals, audio_segments(received, keyframes, len(frames))),
                "symbols_per_gop": symbols / (len(frames) / GOP),
                "bits_per_gop": bits / (len(frames) / GOP),
                "clip": job.clip,
                "snr_db": job.snr,
                "channel": s.channel,
            }
        )
    return {"rows": rows}


def _text(job: Job, s: Settings) -> dict[str, Any]:
    from m3e.eval.text_link import held_out_sentences, semantic_curve, xi_curve

    sentences = held_out_sentences(s.sentences, seed=s.seed)
    rows = semantic_curve(sentences, [job.snr], s.channel, s.repeats)
    for codec in TEXT_BASELINES:
        for modulation in ("qpsk", "16qam"):
            rows += xi_curve(sentences, codec, modulation, [job.snr], s.channel, s.repeats)
    return {"rows": rows}


# ------------------------------------------------------------------ planning and running
def plan(figures: list[str], clips: list[str], snrs: list[float]) -> tuple[list[Job], list[Job]]:
    """(describe jobs, the other jobs) the figures need."""
    kinds = {k for f in figures for k in NEEDS[f]}
    clip_kinds = kinds - {"text"}
    describe = [Job("describe", c) for c in clips] if clip_kinds else []
    jobs = [Job("text", "", snr) for snr in snrs] if "text" in kinds else []
    for kind in sorted(clip_kinds):
        video_snrs = sorted({*snrs, TABLE_SNR}) if kind == "video" and "table1" in figures else snrs
        jobs += [Job(kind, c, snr) for c in clips for snr in video_snrs]
    return describe, jobs


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run(jobs: list[Job], s: Settings, out: Path, workers: int, label: str, use_ray: bool = False) -> None:
    """Run the jobs not on disk yet, ``workers`` at a time (or as tasks of the Ray this process
    is connected to, ``use_ray``), with a progress bar."""
    from tqdm import tqdm

    todo = [j for j in jobs if not j.path(out, s).exists()]
    if not todo:
        return
    bar = tqdm(total=len(todo), desc=label, unit="job")
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    if use_ray:
        _run_ray(todo, s, out, bar)
    elif workers <= 1:
        _init_worker(threads)
        for job in todo:
            run_job(job, s, out)
            bar.update()
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(threads,)) as pool:
            for future in as_completed([pool.submit(run_job, j, s, out) for j in todo]):
                future.result()
                bar.update()
    bar.close()


# ------------------------------------------------------------------ Ray (docs/ray.md)
def _ray_task(job: Job, s: Settings, out: Path, described: dict[str, Any] | None) -> dict[str, Any]:
    """One job as a Ray task: computed where Ray places it, written by the driver."""
    _init_worker(1)  # a task holds one CPU: one torch thread, as a pool worker per core
    return compute_job(job, s, out, described)


def _run_ray(todo: list[Job], s: Settings, out: Path, bar: Any) -> None:
    import ray

    task = ray.remote(num_cpus=1)(_ray_task)
    pending = {}
    for job in todo:
        # a worker on another machine does not see OUT: its clip's keyframes travel with the task
        described = None
        if job.kind in ("video", "audio"):
            described = json.loads(Job("describe", job.clip).path(out, _ANY).read_text())
        pending[task.remote(job, s, out, described)] = job
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            job = pending.pop(ref)
            write_result(job, s, out, ray.get(ref))
            bar.update()


def connect_ray(address: str) -> int:
    """Start a local Ray (``address`` "local": one CPU a core) or join the cluster at HOST:PORT;
    the CPUs it offers. ValueError (one line) when Ray is missing or nothing answers there."""
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray: pip install ray==2.60.0 (the project's [ray] extra)") from None
    if address == "local":
        ray.init(address="local", num_cpus=os.cpu_count() or 1)
    else:
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--ray {address}: expected HOST:PORT (the head's `ray start --head --port`)")
        try:  # ray.init retries an address nobody answers at for minutes
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        except OSError as exc:
            raise ValueError(f"--ray {address}: no Ray cluster answers there ({exc})") from None
        try:
            ray.init(address=address)
        except Exception as exc:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            hint = ""
            if os.environ.get("RAY_AUTH_MODE") is None:  # Ray never sends its token unasked
                hint = " (if the cluster uses token authentication: RAY_AUTH_MODE=token, docs/ray.md)"
            raise ValueError(f"--ray {address}: {lines[-1]}{hint}") from None
    return int(ray.cluster_resources().get("CPU", 0))


def load_rows(jobs: list[Job], s: Settings, out: Path) -> tuple[list[dict[str, Any]], float]:
    """The rows of the jobs, and the seconds their computation took (one worker's time)."""
    results = [json.loads(j.path(out, s).read_text()) for j in jobs]
    return [row for r in results for row in r.get("rows", [])], sum(r.get("seconds", 0.0) for r in results)


def find_clips(folder: Path) -> list[str]:
    clips = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not clips:
        raise ValueError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) in {folder}")
    return clips


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="m3e eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("figure", choices=[*FIGURES, "all"])
    ap.add_argument("--quick", action="store_true", help="2 made + 2 real clips, 3 SNRs, 16 sentences")
    ap.add_argument("--snr", type=float, nargs="+", help="SNR points in dB (default: the profile's)")
    ap.add_argument("--channel", choices=("awgn", "rayleigh"), default="rayleigh")
    ap.add_argument(
        "--clips", type=Path, help="a folder of videos (default: the eval set, made once per machine)"
    )
    ap.add_argument("--out", type=Path, default=Path("eval-out"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run the jobs as Ray tasks instead of --workers: a local Ray, or the cluster at "
        "ADDRESS (HOST:PORT); put it after FIGURE (docs/ray.md)",
    )
    args = ap.parse_args(argv)
    profile = PROFILES["quick" if args.quick else "full"]
    figures = list(FIGURES) if args.figure == "all" else [args.figure]
    snrs = sorted(set(args.snr or profile.snrs))
    if args.clips is not None:
        if not args.clips.is_dir():
            raise ValueError(f"--clips {args.clips} is not a folder")
        clips = find_clips(args.clips)
    else:
        from m3e.eval.real_clips import REAL_CLIPS, REAL_DIR, make_real_clips
        from m3e.eval.testset import SAMPLE_DIR, make_eval_set

        clips = [str(c) for c in make_eval_set(SAMPLE_DIR.parent / "m3e-eval-set", profile.clips)]
        clips += [str(c) for c in make_real_clips(REAL_DIR, REAL_CLIPS[: profile.real_clips])]
    names = [Job("describe", c).path(args.out, _ANY).name for c in clips]
    if len(set(names)) < len(names):
        raise ValueError("two clips have the same folder and file name; their results would mix")
    settings = Settings(args.channel, args.seed, profile.sentences, profile.repeats)
    t0 = time.time()
    describe, jobs = plan(figures, clips, snrs)
    workers, use_ray = args.workers, False
    if args.ray is not None and not all(j.path(args.out, settings).exists() for j in describe + jobs):
        workers, use_ray = connect_ray(args.ray), True  # Ray starts only when there is work
    try:
        run(describe, settings, args.out, args.workers, "keyframes", use_ray)
        run(jobs, settings, args.out, args.workers, "points", use_ray)
    finally:
        if use_ray:
            import ray

            ray.shutdown()

    from m3e.eval.report import write_outputs

    rows, job_seconds = load_rows(describe + jobs, settings, args.out)
    setup = {
        "profile": "quick" if args.quick else "full",
        "figures": figures,
        "snrs_db": snrs,
        "clips": clips,
        "runtime_s": round(time.time() - t0, 1),
        "job_seconds": round(job_seconds, 1),
        "workers": workers,  # with --ray: the CPUs of its cluster
        "ray": args.ray if use_ray else None,
        **asdict(settings),
    }
    for path in write_outputs(figures, rows, setup, args.out):
        print(f"wrote {path}")
    return 0
