"""Memory that returns when a load stops: glibc's allocator keeps freed heap in its arenas
(a 1 GB flood left a receiver at 1.6 GB long after it ended). ``return_freed_memory`` makes
large buffers (bursts, soft bits) their own mappings, given back the moment they are freed,
and ``trim_periodically`` hands back what the arenas hold while the process idles."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

log = logging.getLogger("m3e.memory")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 256 * 1024  # bytes: every burst of ≥ 32k symbols gets a mapping of its own
TRIM_EVERY_S = 5.0


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt  # noqa: B018  (glibc only)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold (it otherwise grows to the largest buffer freed so far, after
    which bursts come from the heap and stay there). False where the allocator is not glibc's."""
    libc = _libc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok &= libc.mallopt(M_TRIM_THRESHOLD, 4 * MMAP_THRESHOLD) == 1
    return bool(ok)


def trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


async def trim_periodically(every_s: float = TRIM_EVERY_S) -> None:
    """Until cancelled: give the allocator's free memory back to the system every ``every_s``."""
    while True:
        await asyncio.sleep(every_s)
        await asyncio.get_running_loop().run_in_executor(None, trim)
