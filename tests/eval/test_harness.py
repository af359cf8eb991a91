"""``m3e eval`` end to end on a tiny profile: one 3.5 s clip at one SNR, every figure."""

import dataclasses
import json
from pathlib import Path

import pytest

from m3e.cli import main as cli
from m3e.eval.report import FIGURE_SCHEMES, METRIC
from m3e.eval.testset import CLASS_SCENES, make_clip

pytestmark = pytest.mark.slow


def test_every_figure_is_written_with_its_schema_and_a_rerun_resumes(tmp_path: Path) -> None:
    scenes = (
        dataclasses.replace(CLASS_SCENES["cat"], seconds=1.5),
        dataclasses.replace(CLASS_SCENES["person"], seconds=2.0),
    )
    make_clip(tmp_path / "clips" / "tiny", scenes, size=(320, 240))
    out = tmp_path / "out"
    args = [
        "eval",
        "all",
        "--quick",
        "--snr",
        "8",
        "--clips",
        str(tmp_path / "clips"),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    assert cli(args) == 0
    for figure, metric in METRIC.items():
        data = json.loads((out / f"{figure}.json").read_text())
        assert data["figure"] == figure and data["setup"]["seed"] == 0
        assert {p["scheme"] for p in data["points"]} == set(FIGURE_SCHEMES[figure])
        for p in data["points"]:
            assert p["snr_db"] == 8.0 and p["channel"] == "rayleigh" and metric in p
        assert (out / f"{figure}.png").stat().st_size > 5000
    fig4 = json.loads((out / "fig4.json").read_text())["points"]
    m3e, h265 = (next(p for p in fig4 if p["scheme"] == s) for s in ("m3e", "h265-16qam"))
    assert m3e["bits_per_gop"] < h265["bits_per_gop"] / 5 and m3e["symbols_over_shannon"] >= 1.0
    equal = next(p for p in fig4 if p["scheme"] == "h265-equal-rate")
    assert equal["bits_per_gop"] < m3e["bits_per_gop"] * 1.3  # H.265 at M3E's own rate
    table = json.loads((out / "table1.json").read_text())["rows"]
    assert {(r["model"], r["class"]) for r in table} >= {
        (m, c)
        for m in ("full", "without_m3e", "text_only", "traditional")
        for c in ("cat", "person", "class_avg")
    }
    report = (out / "REPORT.md").read_text()
    assert all(f"({f}.png)" in report for f in (*METRIC, "table1")) and "Paper:" in report

    points = sorted((out / "points").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in points]
    assert cli(args) == 0  # everything is on disk: nothing runs again
    assert [p.stat().st_mtime_ns for p in sorted((out / "points").glob("*.json"))] == stamps


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["eval", "fig4", "--clips", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    (tmp_path / "empty").mkdir()
    assert cli(["eval", "fig4", "--clips", str(tmp_path / "empty")]) == 2
