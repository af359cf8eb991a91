"""Fusion of what was seen and heard into the objects o_1..o_n and the sentence e_i of a
keyframe (paper §3.1).

Each modality's confidences are weighted (the paper's hyperparameters: ``w_image``,
``w_audio``); a noun both seen and heard is confirmed (``agreement_bonus``), and a noun only
one modality reports keeps its weighted score, so disagreement is settled by the weights.
The sentence names the most confident objects, uses the verb the audio gave ("a cat is
meowing"), and quotes the transcript when someone speaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from m3e.semantics.vision import Detection

ARTICLE_VOWELS = "aeiou"


@dataclass(frozen=True)
class FusionWeights:
    w_image: float = 0.6
    w_audio: float = 0.4
    agreement_bonus: float = 0.3
    min_score: float = 0.12
    max_objects: int = 3


@dataclass
class KeyframeText:
    """Objects (noun -> fused score, best first), the sentence e_i and the transcript."""

    objects: dict[str, float] = field(default_factory=dict)
    verbs: dict[str, str] = field(default_factory=dict)
    transcript: str = ""
    text: str = ""


def fuse(
    image: list[Detection],
    audio: list[tuple[Detection, str]],
    transcript: str = "",
    weights: FusionWeights = FusionWeights(),
) -> KeyframeText:
    """Combine one keyframe's detections into objects and a sentence."""
    seen = {d.noun: d.confidence for d in image}
    heard = {d.noun: d.confidence for d, _ in audio}
    verbs = {d.noun: v for d, v in audio}
    scores: dict[str, float] = {}
    for noun in seen.keys() | heard.keys():
        s = weights.w_image * seen.get(noun, 0.0) + weights.w_audio * heard.get(noun, 0.0)
        if noun in seen and noun in heard:  # cross-modal agreement
            s += weights.agreement_bonus * min(seen[noun], heard[noun])
        scores[noun] = min(1.0, s)
    kept = sorted(((n, s) for n, s in scores.items() if s >= weights.min_score), key=lambda kv: -kv[1])
    objects = dict(kept[: weights.max_objects])
    result = KeyframeText(
        objects=objects, verbs={n: verbs[n] for n in objects if n in verbs}, transcript=transcript.strip()
    )
    result.text = sentence(result)
    return result


def _with_article(noun: str) -> str:
    return f"{'an' if noun[0] in ARTICLE_VOWELS else 'a'} {noun}"


def sentence(k: KeyframeText) -> str:
    """e_i: "a cat is meowing and a cup", "a person is speaking: ...", "nothing recognised"."""
    if not k.objects and not k.transcript:
        return "nothing recognised"
    parts = []
    for noun in k.objects:
        verb = k.verbs.get(noun)
        parts.append(f"{_with_article(noun)} is {verb}" if verb else _with_article(noun))
    text = " and ".join(parts) if parts else "someone is speaking"
    if k.transcript:
        text += f': "{k.transcript}"'
    return text
