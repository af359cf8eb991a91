"""``m3e call`` with real processes: two clips through one emulator in both directions, the
call page of each party in headless Chromium, dropping out, rejoining and hanging up."""

import asyncio
import dataclasses
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bench.cdp import Browser, chromium_binary
from call.orchestrator import Call, CallSettings
from m3e.eval.testset import CLASS_SCENES, make_clip
from m3e.launch import free_port
from tests.e2e.conftest import has_audio, recorded_frames

pytestmark = pytest.mark.slow
SIZE = ["--width", "320", "--height", "240"]


def _clips(tmp: Path, seconds: float) -> dict[str, str]:
    """Party A: a cat, then a person speaking; party B: a motorcycle, then a cup."""
    clips = {}
    for party, classes in (("a", ("cat", "person")), ("b", ("motorcycle", "cup"))):
        scenes = tuple(dataclasses.replace(CLASS_SCENES[c], seconds=seconds / 2) for c in classes)
        clips[party] = str(make_clip(tmp / party, scenes, size=(320, 240)))
    return clips


async def _watch(browser: Browser, party: str, seconds: float = 90.0) -> tuple[list[int], int]:
    """Frame counts seen on the party's page while it runs, and the decoded texts it lists."""
    counts, texts = [0], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (len(set(counts)) > 3 and texts):
        await asyncio.sleep(0.25)
        counts.append(
            int(
                await browser.evaluate(
                    f"+(document.querySelector('#party-{party} .frame')?.textContent ?? 0)"
                )
            )
        )
        texts = int(await browser.evaluate(f"document.querySelectorAll('#party-{party} .texts li').length"))
    return counts, texts


@pytest.mark.skipif(chromium_binary() is None, reason="needs chromium")
async def test_call_of_two_clips_is_seen_on_both_pages_and_recorded(tmp_path: Path) -> None:
    clips = _clips(tmp_path, 5.0)
    port = free_port()
    out = tmp_path / "out"
    args = [
        "call",
        "--a",
        clips["a"],
        "--b",
        clips["b"],
        "--duration",
        "5",
        "--snr-ab",
        "10",
        "--snr-ba",
        "10",
    ]
    args += [*SIZE, "--fading", "rayleigh", "--no-browser", "--out", str(out), "--port", str(port)]
    proc = subprocess.Popen([sys.executable, "-m", "m3e.cli", *args], stdout=subprocess.PIPE, text=True)
    links = _links(proc)
    browsers = {p: Browser(links[p], tmp_path / f"profile-{p}") for p in "ab"}
    try:
        for b in browsers.values():
            await b.connect()
        # both at once: the call lasts 5 s, and each page has to see it live
        seen = await asyncio.gather(*(_watch(b, party) for party, b in browsers.items()))
        for party, (counts, texts) in zip(browsers, seen, strict=True):
            assert len(set(counts)) > 3 and counts[-1] > 10, (party, counts)  # frames advance
            assert texts >= 1, party  # the other side's keyframe sentences, with ξ̂
    finally:
        for b in browsers.values():
            await b.close()  # closing the last page hangs up
    assert proc.wait(timeout=60) == 0
    for party in "ab":
        recording = out / f"received-by-{party}.mp4"
        assert len(recorded_frames(recording)) > 30 and has_audio(recording), party


def _links(proc: subprocess.Popen[str]) -> dict[str, str]:
    """The invite links ``m3e call`` prints: per party, and ``call`` for the host's page."""
    assert proc.stdout is not None
    links = {}
    while "call page:" not in (line := proc.stdout.readline()):
        assert line, f"m3e call exited with {proc.wait()}"
        if m := re.match(r"party (\w)'s link: (\S+)|party \w joins with: m3e call --join '(\S+)'", line):
            links[m[1] or "join"] = m[2] or m[3]
    links["call"] = line.split()[-1]
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # the processes go on printing
    return links


def _viewer(port: int) -> dict:
    """The receiver viewer's statistics: its newest session and what it played."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=5) as r:
        return json.loads(r.read())


def _playing(port: int, not_session: str = "") -> bool:
    s = _viewer(port)
    return s.get("session", not_session) != not_session and s.get("receiver", {}).get("frames", 0) > 0


def _until(predicate, seconds: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_a_party_drops_out_and_rejoins_without_harm_to_the_other(tmp_path: Path) -> None:
    clips = _clips(tmp_path, 30.0)
    settings = CallSettings(sources=clips, width=320, height=240, out=tmp_path / "out", echo=False)
    call = Call(settings)
    call.start()
    a, b = call.parties["a"], call.parties["b"]
    try:
        _until(lambda: _playing(a.viewer_port) and _playing(b.viewer_port))
        from_b = _viewer(a.viewer_port)["session"]
        call.drop("b")
        time.sleep(3.0)  # A's sender meets a missing receiver behind the relay and retries
        assert all(p is not None and p.poll() is None for p in (a.sender, a.receiver, call._relay))
        call.rejoin("b")
        _until(lambda: _playing(b.viewer_port))  # B's new receiver gets A's stream again
        _until(lambda: _playing(a.viewer_port, not_session=from_b))  # and A gets B's new session
    finally:
        call.hang_up()
    assert call.recording("b").name == "received-by-b.2.mp4"
    for recording in (call.recording("b"), tmp_path / "out" / "received-by-b.mp4", call.recording("a")):
        assert len(recorded_frames(recording)) > 0, recording  # before the drop too: nothing lost


def test_second_party_joins_from_another_machine_over_tls(tmp_path: Path) -> None:
    """Two ``m3e call`` processes as two machines would run them: the host with ``--remote b``,
    the other with ``--join``; every gRPC hop over TLS."""
    clips = _clips(tmp_path, 6.0)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-ca", str(cert)]
    common = [*SIZE, "--duration", "6", "--no-browser", *tls]
    page = free_port()
    host = subprocess.Popen(
        [sys.executable, "-m", "m3e.cli", "call", "--remote", "b", "--a", clips["a"], "--b", clips["b"],
         "--port", str(page), "--out", str(tmp_path / "host"), *common],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    invite = _links(host)["join"]
    assert invite.startswith("https://")  # the host's certificate serves its page too
    joiner = subprocess.run(
        [sys.executable, "-m", "m3e.cli", "call", "--join", invite, "--a", clips["a"],
         "--b", clips["b"], "--out", str(tmp_path / "joiner"), *common],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert joiner.returncode == 0 and "Traceback" not in joiner.stderr, joiner.stderr[-2000:]
    assert host.wait(timeout=120) == 0
    for recording in (tmp_path / "host" / "received-by-a.mp4", tmp_path / "joiner" / "received-by-b.mp4"):
        assert len(recorded_frames(recording)) > 30 and has_audio(recording), recording


@pytest.mark.skipif(chromium_binary() is None, reason="needs chromium")
async def test_two_browser_parties_call_with_their_own_cameras_switch_scheme_and_hang_up(
    tmp_path: Path,
) -> None:
    """Each party a headless Chromium with its own (fake) camera and microphone over WebRTC:
    both see the other's regenerated video and their own camera, one switches to H.265, the
    hang-up button ends the call."""
    args = ["call", "--a", "browser", "--b", "browser", *SIZE, "--no-browser", "--out", str(tmp_path / "out")]
    proc = subprocess.Popen([sys.executable, "-m", "m3e.cli", *args], stdout=subprocess.PIPE, text=True)
    links = _links(proc)
    fake = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    browsers = {p: Browser(links[p], tmp_path / f"profile-{p}", fake) for p in "ab"}
    try:
        for b in browsers.values():
            await b.connect()
        seen = await asyncio.gather(*(_watch(b, party, 150.0) for party, b in browsers.items()))
        for party, (counts, _) in zip(browsers, seen, strict=True):
            assert len(set(counts)) > 3, (party, counts)  # the other side's video moves
            own = await browsers[party].evaluate(
                f"document.querySelector('#party-{party} video.preview').videoWidth"
            )
            assert own > 0, party  # its own camera in its preview
            sent = await browsers[party].evaluate(
                f"window.m3e.sending.{party}.getStats().then(r => [...r.values()]"
                ".filter(s => s.type === 'outbound-rtp' && s.kind === 'video').map(s => s.frameWidth))"
            )
            assert sent == [640], (party, sent)  # the camera goes at its own size, not WebRTC's 320x240
        switched = "document.querySelector('#party-a .scheme')"
        await browsers["a"].evaluate(f"{switched}.value = 'h265'; {switched}.onchange(); 1")
        frames = "+document.querySelector('#party-b .frame').textContent"
        before = await browsers["b"].evaluate(frames)
        for _ in range(240):
            scheme = await browsers["b"].evaluate("document.querySelector('#party-b .stats').textContent")
            if scheme.startswith("h265") and await browsers["b"].evaluate(frames) > before + 10:
                break
            await asyncio.sleep(0.5)
        assert scheme.startswith("h265"), scheme  # B now receives A's camera as H.265
        await browsers["a"].evaluate("document.getElementById('hangup').click(); 1")
        assert await asyncio.to_thread(proc.wait, 60) == 0
    finally:
        for b in browsers.values():
            await b.close()
        if proc.poll() is None:
            proc.kill()
