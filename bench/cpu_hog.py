"""A busy machine for latency measurements: ``with one_core_busy(): ...`` keeps one core at
100 % (a separate process spinning) while the block runs, as a user's browser or build would."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def one_core_busy() -> Iterator[None]:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()
