"""Scores of the semantic extractor on a labelled clip (see ``m3e.eval.testset``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from m3e.eval.metrics import word_error_rate, words
from m3e.semantics.extractor import KeyframeSemantics, SemanticExtractor, describe_file


def scene_at(labels: dict[str, Any], t: float) -> dict[str, Any]:
    return next((s for s in labels["scenes"] if s["start"] <= t < s["end"]), labels["scenes"][-1])


def keyframe_scores(
    keys: list[KeyframeSemantics], labels: dict[str, Any], tolerance_s: float = 0.5
) -> dict[str, float]:
    """Cut recall (a keyframe within ``tolerance_s`` after each cut), precision, and spurious
    keyframes per second away from cuts (the first frame's keyframe is not counted)."""
    times = [k.time_s for k in keys if k.time_s > 0]
    cuts = labels["cuts"]
    near = [any(-0.05 <= t - c <= tolerance_s for c in cuts) for t in times]
    found = [any(-0.05 <= t - c <= tolerance_s for t in times) for c in cuts]
    static_s = labels["duration"] - tolerance_s * len(cuts)
    return {
        "keyframes": len(keys),
        "cut_recall": sum(found) / max(1, len(cuts)),
        "keyframe_precision": sum(near) / max(1, len(times)),
        "spurious_per_static_second": (len(times) - sum(near)) / static_s,
    }


def label_scores(keys: list[KeyframeSemantics], labels: dict[str, Any]) -> dict[str, float]:
    """How often the scene's noun is in the text, is the top fused object, is the top
    verified label; and how often the top label flickers between keyframes of one scene."""
    named = top_raw = top_verified = 0
    raw_seq, ver_seq, scene_ids = [], [], []
    for k in keys:
        scene = scene_at(labels, k.time_s + 0.05)
        named += scene["label"] in k.objects
        raw = k.raw_labels[0] if k.raw_labels else "none"
        ver = k.labels[0] if k.labels else "none"
        top_raw += raw == scene["label"]
        top_verified += ver == scene["label"]
        raw_seq.append(raw)
        ver_seq.append(ver)
        scene_ids.append(labels["scenes"].index(scene))
    n = max(1, len(keys))

    def flicker(seq: list[str]) -> float:
        pairs = [(a, b) for a, b, i, j in zip(seq, seq[1:], scene_ids, scene_ids[1:], strict=False) if i == j]
        return sum(a != b for a, b in pairs) / max(1, len(pairs))

    return {
        "object_named": named / n,
        "top1_raw": top_raw / n,
        "top1_verified": top_verified / n,
        "flicker_raw": flicker(raw_seq),
        "flicker_verified": flicker(ver_seq),
    }


def transcript_wer(keys: list[KeyframeSemantics], labels: dict[str, Any]) -> float:
    """Word error rate over all spoken scenes (errors / reference words)."""
    errors = total = 0.0
    for scene in labels["scenes"]:
        if scene["speech"]:
            hyp = " ".join(
                k.transcript for k in keys if scene["start"] - 0.05 <= k.time_s < scene["end"] - 0.05
            )
            n = len(words(scene["speech"]))
            errors += word_error_rate(scene["speech"], hyp) * n
            total += n
    return errors / max(1.0, total)


def latency_scores(keys: list[KeyframeSemantics], extractor: SemanticExtractor) -> dict[str, Any]:
    stages = sorted({s for k in keys for s in k.latency_ms})
    return {
        "per_keyframe_ms": {
            s: {
                "mean": float(np.mean([k.latency_ms.get(s, 0.0) for k in keys])),
                "p95": float(np.percentile([k.latency_ms.get(s, 0.0) for k in keys], 95)),
            }
            for s in stages
        },
        "keyframe_test_per_frame_ms": float(np.mean(extractor.frame_test_ms[1:] or [0.0])),
    }


def evaluate_clip(clip_dir: Path, extractor: SemanticExtractor, fps: float = 30.0) -> dict[str, Any]:
    labels = json.loads((clip_dir / "labels.json").read_text())
    keys = describe_file(str(clip_dir / "clip.mp4"), extractor, fps=fps)
    return {
        **keyframe_scores(keys, labels),
        **label_scores(keys, labels),
        "wer": transcript_wer(keys, labels),
        **latency_scores(keys, extractor),
        "texts": [k.to_json() for k in keys],
    }
