"""`m3e eval --ray` against the in-process pool (issue 17): the same rows, and Ray's overhead.

    python -m bench.ray_sweep [--figure all] [--two-node-figure fig5] [--out results/ray.json]

Runs ``m3e eval FIGURE --quick`` with ``--workers 2`` and with ``--ray`` (a local Ray with one
task per core), each into a fresh folder, then ``m3e eval TWO_NODE_FIGURE --quick --ray ADDRESS``
on a two-node Ray cluster started on this machine (``ray start --head`` and ``ray start
--address``, one CPU each); compares every job's result (all but its ``seconds``) with the
pool's and writes ``results/ray.json``: the wall times, their ratio (target ≤ 1.15) and how
many job results are identical. The eval set must exist already (the first ``m3e eval`` makes
it), so its making is timed in neither run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from m3e.launch import free_port

M3E = [sys.executable, "-m", "m3e.cli"]


def timed_eval(figure: str, out: Path, *how: str) -> float:
    t0 = time.monotonic()
    subprocess.run([*M3E, "eval", figure, "--quick", "--out", str(out), *how], check=True)
    return time.monotonic() - t0


def identical(reference: Path, other: Path) -> tuple[int, int]:
    """(job results of ``other`` equal to ``reference``'s, jobs in ``other``)."""
    names = sorted(p.name for p in (other / "points").glob("*.json"))

    def result(folder: Path, name: str) -> dict[str, Any]:
        data = json.loads((folder / "points" / name).read_text())
        return {k: v for k, v in data.items() if k != "seconds"}

    return sum(result(reference, n) == result(other, n) for n in names), len(names)


def two_node_eval(figure: str, out: Path) -> float:
    """``figure`` on a head and a second node started here (one CPU each), stopped after."""
    ray = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # loopback only (docs/ray.md)
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        nodes = [
            subprocess.Popen(
                [ray, "start", "--block", f"--temp-dir={tmp}", "--num-cpus=1", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for args in (["--head", f"--port={port}"], [f"--address=127.0.0.1:{port}"])
        ]
        try:
            time.sleep(20)  # the head, then the node joining it
            return timed_eval(figure, out, "--ray", f"127.0.0.1:{port}")
        finally:
            for node in reversed(nodes):
                node.terminate()
                node.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ray_sweep", description=__doc__.split("\n\n")[0])
    ap.add_argument("--figure", default="all")
    ap.add_argument("--two-node-figure", default="fig5", help="the figure run on the two-node cluster")
    ap.add_argument("--out", type=Path, default=Path("results/ray.json"))
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="m3e-ray-sweep-"))
    try:
        pool = timed_eval(args.figure, work / "pool", "--workers", "2")
        local = timed_eval(args.figure, work / "ray", "--ray")
        two_node = two_node_eval(args.two_node_figure, work / "two-node")
        same_local, jobs_local = identical(work / "pool", work / "ray")
        same_two, jobs_two = identical(work / "pool", work / "two-node")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "figure": args.figure,
        "workers_2_s": round(pool, 1),
        "ray_local_s": round(local, 1),
        "ray_over_workers": round(local / pool, 3),
        "target_ray_over_workers": 1.15,
        "local_identical_jobs": same_local,
        "local_jobs": jobs_local,
        "two_node_figure": args.two_node_figure,
        "two_node_s": round(two_node, 1),
        "two_node_identical_jobs": same_two,
        "two_node_jobs": jobs_two,
        "command": "python -m bench.ray_sweep",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{'':22s}{'seconds':>9s}  identical jobs")
    print(f"{'--workers 2':22s}{pool:9.0f}")
    print(f"{'--ray (local)':22s}{local:9.0f}  {same_local}/{jobs_local}   ratio {local / pool:.2f} (≤ 1.15)")
    print(f"{'--ray (two nodes)':22s}{two_node:9.0f}  {same_two}/{jobs_two}   ({args.two_node_figure})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
