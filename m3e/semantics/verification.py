"""Multi-frame verification (paper eq 4): a GRU with attention over the per-keyframe label
probabilities of both modalities, trained with cross-entropy to output the label set that
is consistent across keyframes, so that labels stop flickering.

Input per keyframe i: x_i = [image scores (V,), audio scores (V,), continuity] over the
vocabulary (V = len(VOCABULARY)), where continuity is the keyframe's correlation with the
previous keyframe (eq 1, shift-tolerant): low after a cut, telling the model when to let go
of the labels it has been confirming. Output: P_i (V,), a softmax whose target Y_i is the keyframe's true
label set spread uniformly (eq 4: L = -1/n Σ_i Σ_j Y_ij log P_ij). The model is causal
(keyframe i sees 0..i only), as the sender has no future keyframes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from m3e.loading import announce
from m3e.semantics.vocabulary import LABEL_INDEX, VOCABULARY, label_of

WEIGHTS = Path(__file__).parent / "weights" / "verifier.pt"
N_LABELS = len(VOCABULARY)
N_INPUTS = 2 * N_LABELS + 1


class Verifier(nn.Module):
    """x: (B, T, 2V + 1) scores and continuity -> (B, T, V) logits."""

    def __init__(self, n_labels: int = N_LABELS, hidden: int = 64) -> None:
        super().__init__()
        self.inp = nn.Linear(2 * n_labels + 1, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.key = nn.Linear(hidden, hidden, bias=False)
        self.query = nn.Linear(hidden, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)
        self.out = nn.Linear(2 * hidden + 2 * n_labels + 1, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(torch.relu(self.inp(x)))  # (B, T, H)
        t = x.shape[1]
        # additive attention of step i over steps 0..i (causal mask)
        e = self.score(torch.tanh(self.key(h)[:, None, :, :] + self.query(h)[:, :, None, :]))[
            ..., 0
        ]  # (B, T, T)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        a = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=-1)
        context = a @ h
        # the raw scores go straight to the output too: the model learns corrections
        return self.out(torch.cat([h, context, x], dim=-1))


def scores_vector(
    image: dict[str, float], audio: dict[str, float], continuity: float = 0.0
) -> npt.NDArray[np.float32]:
    """Per-keyframe input x_i (2V + 1,) from noun -> confidence maps of the two modalities
    and the correlation with the previous keyframe."""
    x = np.zeros(N_INPUTS, dtype=np.float32)
    x[-1] = continuity
    for offset, found in ((0, image), (N_LABELS, audio)):
        for noun, c in found.items():
            j = offset + LABEL_INDEX[label_of(noun)]
            x[j] = max(x[j], c)
    return x


def label_set(p: npt.NDArray[np.float32], relative: float = 0.35) -> list[str]:
    """Labels whose probability is at least ``relative`` × the best one's."""
    best = float(p.max())
    return [VOCABULARY[j] for j in np.argsort(p)[::-1] if p[j] >= relative * best and p[j] > 0.05][:3]


@functools.cache
@announce("the keyframe verifier")
def load_verifier(path: Path = WEIGHTS) -> Verifier:
    model = Verifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


class SequenceVerifier:
    """Streaming use: feed keyframes one by one, get the verified label set of each."""

    def __init__(self, window: int = 16, model: Verifier | None = None) -> None:
        self.model = model or load_verifier()
        self.window = window
        self.history: list[npt.NDArray[np.float32]] = []

    def __call__(
        self, image: dict[str, float], audio: dict[str, float], continuity: float = 0.0
    ) -> tuple[list[str], npt.NDArray[np.float32]]:
        self.history = [*self.history, scores_vector(image, audio, continuity)][-self.window :]
        with torch.no_grad():
            logits = self.model(torch.from_numpy(np.stack(self.history))[None])[0, -1]
        p = torch.softmax(logits, -1).numpy()
        return label_set(p), p


# ---------------------------------------------------------------- training data


def synthetic_sequences(n: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scenes of 2–6 keyframes with 1–2 true labels, observed through flickering recognisers:
    detections missed, spurious labels, confidences that wander, audio that only sometimes
    hears the object, continuity that is usually (not always) low at a scene change.
    Returns x (n, length, 2V + 1) and target sets y (n, length, V) summing to 1."""
    common = [LABEL_INDEX[w] for w in ("person", "cat", "dog", "car", "cup", "motorcycle", "rocket", "bird")]
    x = np.zeros((n, length, N_INPUTS), dtype=np.float32)
    y = np.zeros((n, length, N_LABELS), dtype=np.float32)
    for b in range(n):
        t = 0
        while t < length:
            span = int(rng.integers(2, 7))
            k = 1 + int(rng.random() < 0.35)
            truth = [
                int(rng.choice(common)) if rng.random() < 0.6 else int(rng.integers(N_LABELS - 1))
                for _ in range(k)
            ]
            truth = list(dict.fromkeys(truth))
            audible = rng.random() < 0.5
            for i in range(t, min(length, t + span)):
                y[b, i, truth] = 1.0 / len(truth)
                new_scene = i == t and (i > 0 or rng.random() < 0.5)
                drifted = rng.random() < 0.15  # a keyframe inside a scene after a long pan
                x[b, i, -1] = rng.uniform(-0.2, 0.45) if new_scene or drifted else rng.uniform(0.45, 1.0)
                for j in truth:
                    if rng.random() > 0.25:  # seen, unless missed
                        x[b, i, j] = rng.uniform(0.25, 0.95)
                    if audible and rng.random() > 0.4:
                        x[b, i, N_LABELS + j] = rng.uniform(0.3, 1.0)
                for _ in range(int(rng.integers(0, 3))):  # flicker: spurious labels
                    j = int(rng.integers(N_LABELS))
                    x[b, i, j] = max(x[b, i, j], rng.uniform(0.1, 0.7))
                if rng.random() < 0.1:
                    x[b, i, N_LABELS + int(rng.integers(N_LABELS))] = rng.uniform(0.2, 0.8)
            t += span
    return x, y


def flicker_rate(labels: list[str], scene_ids: list[int]) -> float:
    """Fraction of consecutive keyframes in the same scene whose top label changes."""
    pairs = [
        (a, b) for a, b, sa, sb in zip(labels, labels[1:], scene_ids, scene_ids[1:], strict=False) if sa == sb
    ]
    return sum(a != b for a, b in pairs) / max(1, len(pairs))
