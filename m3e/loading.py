"""One line per model as it loads, instead of bare progress bars.

The first frame of a demo waits for several models (sentence encoder, recogniser, sound
events, transcriber, codecs): each loader is wrapped once (``@announce``, under its
``functools.cache``: a model loads once per process) and prints ``m3e send: loading <what>``
on stderr, so a user sees what the wait is for; the libraries' own "Loading weights" bars are
switched off.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

# huggingface_hub reads this when first imported; transformers' weight bars follow it
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

log = logging.getLogger("m3e.loading")
F = TypeVar("F", bound=Callable[..., Any])


def _who() -> str:
    """``m3e send`` in the sender's process (the demo's processes share one terminal)."""
    argv = sys.argv
    if len(argv) > 1 and os.path.basename(argv[0]) in ("cli.py", "m3e"):
        return f"m3e {argv[1]}"
    return "m3e"


def announce(what: str) -> Callable[[F], F]:
    """Print ``m3e: loading WHAT`` when the wrapped loader runs (put it under the cache)."""

    def wrap(load: F) -> F:
        @functools.wraps(load)
        def loading(*args: Any, **kwargs: Any) -> Any:
            print(f"{_who()}: loading {what}", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            out = load(*args, **kwargs)
            log.debug("%s loaded in %.1f s", what, time.monotonic() - t0)
            return out

        return loading  # type: ignore[return-value]

    return wrap
