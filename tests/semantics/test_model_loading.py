"""A model loads once per process, announced by one line instead of bare progress bars."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_one_line_per_model_and_no_progress_bars() -> None:
    code = (
        "from m3e.semantics.similarity import sentence_encoder\n"
        "from m3e.semantics.verification import load_verifier\n"
        "assert sentence_encoder() is sentence_encoder()\n"
        "assert load_verifier() is load_verifier()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines == ["m3e: loading the MiniLM sentence encoder", "m3e: loading the keyframe verifier"], lines
    assert "Loading weights" not in r.stderr + r.stdout


def test_an_extractor_loads_its_recognisers_before_the_first_keyframe() -> None:
    """The sender loads them before its clock starts: the first keyframe's sentence must not
    wait seconds for models (a fresh process, so no other test has loaded them)."""
    code = (
        "import sys\n"
        "from m3e.semantics.extractor import SemanticExtractor\n"
        "SemanticExtractor().load()\n"
        "print('loaded', file=sys.stderr, flush=True)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    before = r.stderr.split("loaded")[0]
    for model in ("EfficientNet-Lite0", "YAMNet", "transcripts"):
        assert model in before, r.stderr
