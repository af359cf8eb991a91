"""The figure assembly around the harness's jobs, on rows made up here."""

import json
from pathlib import Path

import pytest

from m3e.eval.harness import TABLE_SNR, Job, Settings, plan
from m3e.eval.report import figure_points, report, table1_rows, write_outputs


def _row(scheme: str, clip: str, snr: float, **metrics: float) -> dict:
    per_keyframe = [{"class": "cat", "agreement_top5": metrics.get("agreement_top5", 0.0)}]
    row = {"scheme": scheme, "clip": clip, "snr_db": snr, "channel": "rayleigh", "per_keyframe": per_keyframe}
    return {**row, "symbols_per_gop": 1000.0, "bits_per_gop": 2000.0, "timbre": None, **metrics}


def test_points_are_means_over_clips_and_fig4_knows_the_shannon_minimum() -> None:
    rows = [
        _row("m3e", "a", 8.0, ssim=0.6),
        _row("m3e", "b", 8.0, ssim=0.8),
        _row("h265-qpsk", "a", 8.0, ssim=0.9),
    ]
    (m3e, h265) = figure_points("fig6", rows)
    assert (m3e["scheme"], m3e["n"], m3e["ssim"]) == ("m3e", 2, pytest.approx(0.7))
    assert h265["ssim"] == 0.9
    (point, _) = figure_points("fig4", rows)
    assert 0 < point["shannon_symbols_per_gop"] < 2000  # > 1 bit per channel use at 8 dB
    assert point["symbols_over_shannon"] == pytest.approx(1000 / point["shannon_symbols_per_gop"])
    assert figure_points("fig8", rows)[0]["timbre"] is None  # no clip had sound


def test_table1_has_a_class_average_per_model_at_8_db() -> None:
    rows = [_row("m3e", "a", TABLE_SNR, agreement_top5=0.8), _row("m3e", "a", 0.0, agreement_top5=0.0)]
    rows[0]["per_keyframe"].append({"class": "dog", "agreement_top5": 0.4})
    table = table1_rows(rows)
    full = {r["class"]: r["score"] for r in table if r["model"] == "full"}
    assert full == {"cat": 0.8, "dog": 0.4, "class_avg": pytest.approx(0.6)}  # the 0 dB row is not in it


def test_report_compares_with_the_paper(tmp_path: Path) -> None:
    rows = [_row("m3e", "a", 0.0, ssim=0.5), _row("h265-qpsk", "a", 0.0, ssim=0.2)]
    setup = {"profile": "quick", "channel": "rayleigh", "seed": 0, "snrs_db": [0.0], "budget": 2500,
             "clips": ["x/a.mp4"], "sentences": 1, "repeats": 1, "runtime_s": 1.0}  # fmt: skip
    write_outputs(["fig6"], rows, setup, tmp_path)
    text = (tmp_path / "REPORT.md").read_text()
    assert "0 dB: 0.500 vs best baseline 0.200" in text and "**level with or ahead of**" in text
    assert (tmp_path / "fig6.png").stat().st_size > 1000
    assert "No figure" in report(tmp_path / "empty")


def test_plan_runs_what_each_figure_needs() -> None:
    describe, jobs = plan(["fig5"], ["c.mp4"], [0.0, 3.0])
    assert describe == [] and {j.kind for j in jobs} == {"text"}
    describe, jobs = plan(["table1"], ["c.mp4"], [0.0])
    assert [j.snr for j in jobs] == [0.0, TABLE_SNR] and len(describe) == 1
    settings = Settings("rayleigh", 0, 16, 1)
    assert Job("video", "d/c.mp4", 8.0).path(Path("o"), settings).name == "video-d-c-+8dB-rayleigh-seed0.json"


def test_sanity_flags_a_curve_that_falls_as_the_snr_rises_and_a_missing_cliff() -> None:
    from m3e.eval.report import sanity

    def pts(scheme: str, values: list[float]) -> list[dict]:
        return [
            {"scheme": scheme, "snr_db": s, "ssim": v} for s, v in zip((0.0, 8.0, 20.0), values, strict=True)
        ]

    good = pts("m3e", [0.6, 0.78, 0.80]) + pts("h265-16qam", [0.05, 0.9, 0.96])
    assert "every curve is monotone" in sanity("fig6", good) and "shows its cliff" in sanity("fig6", good)
    bad = pts("m3e", [0.6, 0.78, 0.70]) + pts("h265-16qam", [0.8, 0.9, 0.96])
    verdict = sanity("fig6", bad)
    assert "not monotone" in verdict and "m3e 8 → 20 dB" in verdict and "does not show" in verdict
    symbols = [
        {"scheme": "m3e", "snr_db": s, "symbols_per_gop": v}
        for s, v in ((0.0, 20e3), (8.0, 5e3), (20.0, 5.2e3))
    ]
    assert "every curve is monotone" in sanity("fig4", symbols)  # +4 %: within the channel's noise


def test_the_committed_quick_results_are_physically_sensible() -> None:
    """``results/eval`` as committed (``m3e eval all --quick``): monotone curves, H.265's cliff."""
    from m3e.eval.report import METRIC, sanity

    results = Path(__file__).parents[2] / "results" / "eval"
    for figure in METRIC:
        verdict = sanity(figure, json.loads((results / f"{figure}.json").read_text())["points"])
        assert "not monotone" not in verdict and "does not show" not in verdict, verdict
