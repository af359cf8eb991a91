"""CPU priority of background threads.

A call runs five processes on two cores. The work a person waits for (the next picture, its
motion, its decoding) must not queue behind work that can be late without anyone seeing it
(recognising the next sentence, writing the recording). Linux schedules threads as tasks, so a
thread can lower its own priority (raise its nice value) without touching the rest of its
process.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10


def run_in_background_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """Lower the calling thread's priority by ``niceness`` (no-op where not supported)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run as it is
        log.debug("thread priority unchanged: %s", exc)
