"""Semantic extraction at the sender (paper §3.1): keyframes (eq 1–2), image and audio
recognition, fusion into one sentence per keyframe, multi-frame verification (eq 4)."""
