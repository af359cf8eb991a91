"""``m3e eval --ray``: the same jobs as Ray tasks, on a local Ray and on a two-node cluster
started here, give the rows ``--workers 2`` gives, and resume from ``OUT/points`` alike."""

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from m3e.cli import main as cli
from m3e.eval.harness import AUDIO_CODECS, Job, Settings, compute_job
from m3e.eval.testset import CLASS_SCENES, make_clip

ray = pytest.importorskip("ray")

# Fig. 5 (the text link) at two SNRs: two jobs, each in its own process or task. It reads no
# clip, but --clips needs a folder with a video in it (an empty file: never opened), and spares
# the test making the eval set.
FIG5 = ["eval", "fig5", "--quick", "--snr", "8", "20"]


def _args(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    clips = tmp_path / "clips" / "none"
    clips.mkdir(parents=True, exist_ok=True)
    (clips / "unused.mp4").touch()
    return [*FIG5, "--clips", str(tmp_path / "clips"), "--out", str(out), *extra]


def _points(out: Path) -> dict[str, list[dict[str, object]]]:
    """Each job's rows by file name (not its "seconds")."""
    return {p.name: json.loads(p.read_text())["rows"] for p in sorted((out / "points").glob("*.json"))}


@pytest.fixture(autouse=True)
def _two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a 2-core machine: `--workers 2` gives each worker one torch thread, as each Ray
    task (one CPU) has, and the local Ray offers 2 CPUs. (A local Ray sets RAY_AUTH_MODE in
    this process's environment: taken back after each test.)"""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    tmp = tmp_path_factory.mktemp("pool")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "cpu_count", lambda: 2)
        assert cli(_args(tmp, tmp / "out", "--workers", "2")) == 0
    points = _points(tmp / "out")
    assert len(points) == 2 and all(points.values())
    return points


@pytest.mark.slow
def test_local_ray_gives_the_pools_rows_and_resumes(
    tmp_path: Path, reference: dict[str, list[dict[str, object]]]
) -> None:
    out = tmp_path / "out"
    assert cli(_args(tmp_path, out, "--ray")) == 0
    assert not ray.is_initialized()  # the harness shut its Ray down
    assert _points(out) == reference
    setup = json.loads((out / "fig5.json").read_text())["setup"]
    assert setup["ray"] == "local" and setup["workers"] == 2

    stamps = [p.stat().st_mtime_ns for p in sorted((out / "points").glob("*.json"))]
    assert cli(_args(tmp_path, out, "--ray")) == 0  # everything is on disk: no job, no Ray
    assert [p.stat().st_mtime_ns for p in sorted((out / "points").glob("*.json"))] == stamps


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """`ray start --block ...` (one node; SIGTERM stops it and its processes, and only it:
    `ray stop` would stop every Ray on the machine), once it says it has started. Without
    token authentication, whatever ~/.ray holds: a head enables it by itself once a token is
    there (any local Ray makes one), and a node joining an address does not."""
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    proc = subprocess.Popen(
        [ray_cli, "start", "--block", "--num-cpus=1", "--object-store-memory=100000000", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()
    deadline = time.monotonic() + 60
    while not any("Ray runtime started" in line for line in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail("ray start did not start:\n" + "".join(lines[-20:]))
        time.sleep(0.2)
    return proc, lines


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.slow
def test_a_two_node_cluster_gives_the_pools_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, list[dict[str, object]]]
) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # as the cluster's nodes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = Path("/tmp") / f"m3e-ray-{os.getpid()}"  # Ray's socket paths must stay short
    nodes = []
    try:
        nodes.append(
            _ray_start(
                "--head",
                f"--port={port}",
                f"--ray-client-server-port={_free_port()}",
                f"--temp-dir={temp}",
                "--include-dashboard=false",
            )[0]
        )
        nodes.append(_ray_start(f"--address={address}")[0])
        ray.init(address=address)  # wait until the second node has joined
        try:
            deadline = time.monotonic() + 30
            while ray.cluster_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        finally:
            ray.shutdown()

        out = tmp_path / "out"
        assert cli(_args(tmp_path, out, "--ray", address)) == 0
        assert _points(out) == reference
        setup = json.loads((out / "fig5.json").read_text())["setup"]
        assert setup["ray"] == address and setup["workers"] == 2
    finally:
        for proc in reversed(nodes):
            _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_clip_job_given_its_keyframes_needs_no_out_folder(tmp_path: Path) -> None:
    """What a Ray task on another machine has: the clip at its path, the keyframes with the task."""
    clip = make_clip(tmp_path / "clips" / "tiny", (dataclasses.replace(CLASS_SCENES["cat"], seconds=1.0),))
    described = {"keyframes": [{"frame": 0, "text": "a cat is sitting on a sofa", "class": "cat"}]}
    job = Job("audio", str(clip), 8.0)
    result = compute_job(job, Settings("rayleigh", 0, 4, 1), tmp_path / "absent", described)
    assert [r["scheme"] for r in result["rows"]] == [f"{c}-16qam" for c in AUDIO_CODECS]
    assert result["seconds"] >= 0 and not (tmp_path / "absent").exists()


def test_no_ray_or_no_cluster_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    t0 = time.monotonic()
    assert cli(_args(tmp_path, out, "--ray", f"127.0.0.1:{_free_port()}")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("m3e eval: error: --ray 127.0.0.1:") and "no Ray cluster" in err
    assert "\n" not in err and time.monotonic() - t0 < 15

    assert cli(_args(tmp_path, out, "--ray", "nowhere")) == 2
    assert capsys.readouterr().err.strip().startswith("m3e eval: error: --ray nowhere: expected HOST:PORT")

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert cli(_args(tmp_path, out, "--ray")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("m3e eval: error: --ray needs Ray") and "\n" not in err
    assert not (out / "points").exists()
