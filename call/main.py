"""``m3e call``: start a call, serve its page, end it on hang-up, Ctrl-C, the last page
closing, or when both sources have been sent."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import webbrowser
from pathlib import Path

from call.orchestrator import Call, CallSettings
from call.page import CallPage


def default_sources() -> dict[str, str]:
    """Party A: the webcam (and microphone) when there is one, else the sample clip; party B:
    a clip of the offline eval set (a person speaking), so the call works on any machine."""
    from m3e.demo import SAMPLE_DIR, sample_clip
    from m3e.eval.testset import make_eval_set

    a = "webcam" if Path("/dev/video0").exists() else str(sample_clip())
    clips = make_eval_set(SAMPLE_DIR / "call", 2)
    return {"a": a, "b": str(clips[1])}


def run_call(settings: CallSettings, page_port: int = 0, open_browser: bool = True) -> int:
    call = Call(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, ended.set)
        await loop.run_in_executor(None, call.start)
        def hang_up() -> None:
            loop.call_soon_threadsafe(ended.set)

        page = CallPage(call, settings.host, page_port, hang_up)
        await page.start()
        url = f"http://{settings.host}:{page.port}/"
        print(f"call page: {url}  (one party: {url}?party=a)", flush=True)
        if open_browser:
            webbrowser.open(url)
        try:
            while not ended.is_set():
                senders = [p.sender for p in call.parties.values()]
                if all(s is not None and s.poll() is not None for s in senders):
                    break  # both sources sent
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), 0.5)
        finally:
            await page.stop()

    try:
        asyncio.run(main())
    finally:
        call.hang_up()
    for name in call.parties:
        print(f"party {name} received: {call.recording(name)}", flush=True)
    return 0
