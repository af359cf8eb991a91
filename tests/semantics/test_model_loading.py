"""A model loads once per process, announced by one line instead of bare progress bars."""

import subprocess
import sys

import pytest


def _stderr_of(code: str) -> str:
    """What a fresh process running ``code`` printed on stderr (no other test loaded a model)."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Loading weights" not in r.stderr + r.stdout
    return r.stderr


@pytest.mark.slow
def test_one_line_per_model_and_no_progress_bars() -> None:
    code = (
        "from m3e.semantics.similarity import sentence_encoder\n"
        "from m3e.semantics.verification import load_verifier\n"
        "assert sentence_encoder() is sentence_encoder()\n"
        "assert load_verifier() is load_verifier()\n"
    )
    lines = [line for line in _stderr_of(code).splitlines() if line.strip()]
    assert lines == ["m3e: loading the MiniLM sentence encoder", "m3e: loading the keyframe verifier"], lines


def test_an_extractor_loads_its_recognisers_before_the_first_keyframe() -> None:
    """The sender loads them before its clock starts: the first keyframe's sentence must not
    wait seconds for models."""
    code = (
        "import sys\n"
        "from m3e.semantics.extractor import SemanticExtractor\n"
        "SemanticExtractor().load()\n"
        "print('loaded', file=sys.stderr, flush=True)\n"
    )
    stderr = _stderr_of(code)
    before = stderr.split("loaded")[0]
    for model in ("EfficientNet-Lite0", "YAMNet", "transcripts"):
        assert model in before, stderr
