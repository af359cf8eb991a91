import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator reseeded for every test, so every test is reproducible alone."""
    return np.random.default_rng(1234)
