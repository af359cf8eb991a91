import json
from pathlib import Path

import pytest
import torch

from m3e.codecs.semantic_text import TextLinkConfig, load_codec
from m3e.semantics import english


@pytest.mark.slow
def test_a_short_run_from_an_exported_corpus_saves_its_best_validated_weights(tmp_path: Path) -> None:
    from m3e.codecs.train_semantic_text import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").write_text("Anna met Bob at 5 in Oslo.\nThe river runs past the old mill.\n")
    (corpus / "fusion.txt").write_text("a cat and a sofa\n")
    out = tmp_path / "w" / "semantic_text.pt"
    try:
        args = ["--steps", "4", "--batch", "4", "--eval-every", "2", "--d-model", "32", "--layers", "1"]
        assert main([*args, "--heads", "2", "--corpus", str(corpus), "--out", str(out), "--fresh"]) == 0
    finally:
        english.use_exported(None)
    meta = json.loads(out.with_suffix(".json").read_text())
    validated = [p for p in meta["history"] if "val_0db" in p]
    assert [p["step"] for p in validated] == [2, 4]
    best = min(validated, key=lambda p: p["val_0db"] + p["val_8db"])
    assert meta["saved_step"] == best["step"] and meta["train_sentences"] == 2
    blob = torch.load(out, weights_only=True)
    assert TextLinkConfig(**blob["config"]) == TextLinkConfig(d_model=32, heads=2, layers=1)
    codec = load_codec.__wrapped__(out)  # the receiver loads what the trainer wrote
    assert codec.config.d_model == 32
