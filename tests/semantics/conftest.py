from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def testset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The labelled offline clip (generated once per test session)."""
    from m3e.eval.testset import make_clip

    out = tmp_path_factory.mktemp("testset")
    make_clip(out)
    return out


@pytest.fixture(scope="session")
def natural() -> dict[str, np.ndarray]:
    from m3e.media.offline import picture

    return {name: picture(name) for name in ("chelsea", "astronaut", "coffee", "stereo_motorcycle")}
