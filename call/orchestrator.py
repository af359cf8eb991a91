"""A two-party call as real processes on this machine.

Party A sends to party B's receiver along the emulator's route ``a-b`` and B to A along
``b-a``; one relay carries both, each direction with its own channel (SNR, fading), which the
call changes through ``Control`` while it runs. Each party's receiver records its MP4 and
serves its viewer (video, audio and statistics over a websocket, which the call page reads).

Across two machines, the host runs ``m3e call --remote b`` (party B's processes are not
started here; the relay listens on ``--host``) and the other machine ``m3e call --join
HOST:PAGEPORT``: it learns the relay's port from the host's page (``/api/call``), starts party
B's receiver and tells the host where it is (``/api/join``); the host adds the route ``a-b``
to it (``Control.SetRoute``) and starts party A's sender, and party B's sender streams to the
relay (every hop over TLS with ``--tls-*``).

A party whose source is ``browser`` sends its page's camera and microphone: the page connects
to the call process over WebRTC (``call/webrtc.py``) and the call process feeds what arrives
into the party's sender's stdin (``--source -``).

A direction's scheme can be switched mid-call: its sender stops and a new one starts with the
new scheme (a new session at the same receiver). A party can drop out (its processes end; the
other side's receiver keeps what it had and its sender retries) and rejoin (new processes on
the same ports).

One control token steers the call (docs/security.md): every process gets it
(``M3E_CONTROL_TOKEN``), the page asks it of every POST, and the joining machine brings it
(``--join`` with the page's URL, or ``M3E_CONTROL_TOKEN``). The host's relay lets ``SetRoute``
point ``a-b`` anywhere only when party B is remote (``--remote b``): the page adds that route
for a caller with the token, and only to the address the caller's own request came from.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from call.webrtc import FeedPipe
from m3e.launch import free_port, start_process, stop_processes
from m3e.wire import auth
from m3e.wire.grpc_util import TlsFiles

log = logging.getLogger("m3e.call")
DIRECTIONS = {"a": "a-b", "b": "b-a"}  # the direction each party sends on
OTHER = {"a": "b", "b": "a"}
BROWSER = "browser"  # a party's source: the camera and microphone of its call page


@dataclass
class Party:
    """One side of the call: what it sends and the receiver of what it gets."""

    name: str  # "a" or "b"
    source: str
    scheme: str  # the scheme of what this party sends
    receiver_port: int = 0
    viewer_port: int = 0
    receiver: subprocess.Popen[str] | None = None
    sender: subprocess.Popen[str] | None = None
    switches: int = 0  # scheme switches so far (each starts a new session)
    joins: int = 0  # times its receiver started (a rejoin records beside the earlier recording)
    feed: FeedPipe | None = None  # a browser party: its page's media on the way to its sender

    @property
    def direction(self) -> str:
        return DIRECTIONS[self.name]

    @property
    def in_browser(self) -> bool:
        return self.source == BROWSER


@dataclass
class CallSettings:
    sources: dict[str, str]  # party -> source (file, "webcam", "testsrc")
    schemes: dict[str, str] = field(default_factory=lambda: {"a": "m3e", "b": "m3e"})
    snr_db: dict[str, float] = field(default_factory=lambda: {"a-b": 10.0, "b-a": 10.0})
    fading: str = "rayleigh"
    width: int = 720
    height: int = 480
    fps: float = 30.0
    duration: float | None = None  # seconds each sender streams (None: the whole source)
    low_latency: bool = True  # M3E's live restoration: what a call needs
    host: str = "127.0.0.1"
    out: Path = Path("call-out")
    seed: int = 0
    echo: bool = True  # print the processes' output
    remote: str | None = None  # host side: this party runs on another machine and joins
    join: str | None = None  # the other side: HOST:PORT of the host's call page (we are party B)
    tls: TlsFiles | None = None  # for every hop
    env: dict[str, str] = field(default_factory=dict)  # M3E_* settings for every process
    stamps: bool = False  # bench: log the frame stamp of every browser frame (m3e.eval.stamps)
    control_token: str | None = None  # None: a new one (the host); the joiner brings the host's


class Call:
    def __init__(self, settings: CallSettings) -> None:
        self.s = settings
        self.parties = {
            name: Party(name, settings.sources[name], settings.schemes[name]) for name in ("a", "b")
        }
        for party in self.parties.values():
            if party.in_browser:
                party.feed = FeedPipe()
        self.relay_address = ""
        self._relay: subprocess.Popen[str] | None = None
        self.started = 0.0
        # five processes share the cores: one thread each for the math libraries (torch,
        # onnxruntime, OpenCV), else they oversubscribe the CPU and the call lags by seconds
        self.token = settings.control_token or auth.new_token()
        self.env = {**os.environ, **settings.env, "OMP_NUM_THREADS": "1", "M3E_CONTROL_TOKEN": self.token}

    def local(self) -> list[Party]:
        """The parties whose processes run on this machine."""
        away = self.s.remote or ("a" if self.s.join else None)
        return [p for p in self.parties.values() if p.name != away]

    # ------------------------------------------------------------ processes
    def start(self) -> None:
        s = self.s
        s.out.mkdir(parents=True, exist_ok=True)
        for party in self.local():
            party.receiver_port, party.viewer_port = free_port(s.host), free_port(s.host)
        if s.join:
            self._join(s.join)
            return
        self.relay_address = f"{s.host}:{free_port(s.host)}"
        routes = []
        for party in self.parties.values():
            receiver = self.parties[OTHER[party.name]]
            if receiver in self.local():
                routes += ["--route", f"{party.direction}={s.host}:{receiver.receiver_port}"]
        relay_args = ["relay", "--port", self.relay_address.rsplit(":", 1)[1], "--target", "", *routes]
        if s.remote:  # the remote receiver's address comes with its join (CallPage checks it)
            relay_args += ["--allow-route", "*"]
        relay_args += ["--fading", s.fading, "--host", s.host, "--seed", str(s.seed), *_tls_flags(s.tls)]
        self._relay = start_process(relay_args, self.relay_address, echo=s.echo, env=self.env, tls=s.tls)
        for party in self.local():
            self._start_receiver(party)
        self.started = time.time()
        for party in self.local():
            if party.name != OTHER.get(s.remote or "", ""):  # its receiver has to join first
                self.set_channel(party.direction, snr_db=s.snr_db[party.direction])
                self._start_sender(party)

    def join_remote(self, receiver: str) -> str:
        """Host side: the remote party's receiver is at ``receiver``; route our party's stream
        to it and start sending. Returns the relay's port."""
        if self.s.remote is None:
            raise ValueError("this call has no remote party (start it with --remote b)")
        ours = self.parties[OTHER[self.s.remote]]
        self._control("SetRoute", direction=ours.direction, target=receiver)
        self.set_channel(ours.direction, snr_db=self.s.snr_db[ours.direction])
        if ours.sender is None or ours.sender.poll() is not None:
            self._start_sender(ours)
        return self.relay_address.rsplit(":", 1)[1]

    def _join(self, invite: str) -> None:
        """Joining side (party B, ``invite``: B's link printed by the host): learn the relay's
        port and control token from the host's page, start B's receiver, tell the host where
        it is (the host then starts sending to it), then start B's sender."""
        import urllib.parse

        link = urllib.parse.urlsplit(invite if "://" in invite else f"http://{invite}")
        key = urllib.parse.parse_qs(link.query).get("key", [""])[0]
        page, host = f"{link.scheme}://{link.netloc}", link.hostname or ""
        ca = str(self.s.tls.ca) if self.s.tls and self.s.tls.ca else None
        state = _ask(f"{page}/api/call", key, ca)
        self.relay_address = f"{host}:{state['relay_port']}"
        self.token = str(state.get("control_token") or self.token)  # the host's relay steers with it
        self.env["M3E_CONTROL_TOKEN"] = self.token
        self._start_receiver(me := self.parties["b"])
        where = {"receiver": f"{_reachable_address(host)}:{me.receiver_port}"}
        _ask(f"{page}/api/join", key, ca, where)
        self.started = time.time()
        self._start_sender(me)

    def _start_receiver(self, party: Party) -> None:
        s = self.s
        args = ["receive", "--port", str(party.receiver_port), "--viewer-port", str(party.viewer_port)]
        party.joins += 1
        args += ["--control", self.relay_address, "--out", str(self.recording(party.name))]
        args += ["--stats-json", str(self.stats_path(party.name)), "--host", s.host, "--seed", str(s.seed)]
        party.receiver = start_process(
            [*args, *_tls_flags(s.tls)],
            f"{s.host}:{party.receiver_port}",
            echo=s.echo,
            env=self.env,
            tls=s.tls,
        )

    def _start_sender(self, party: Party) -> None:
        s = self.s
        args = ["send", "--target", self.relay_address, "--direction", party.direction]
        source = "-" if party.in_browser else party.source
        args += ["--source", source, "--scheme", party.scheme, "--semantics"]
        args += ["--width", str(s.width), "--height", str(s.height), "--fps", str(s.fps)]
        args += ["--host", s.host, "--seed", str(s.seed), *_tls_flags(s.tls)]
        if s.duration:
            args += ["--duration", str(s.duration)]
        if s.low_latency and party.scheme == "m3e":
            args.append("--low-latency")
        out = None if s.echo else subprocess.DEVNULL
        cmd = [sys.executable, "-m", "m3e.cli", *args]
        stdin = subprocess.PIPE if party.feed else subprocess.DEVNULL
        party.sender = subprocess.Popen(cmd, stdin=stdin, stdout=out, text=True, env=self.env)
        if party.feed is not None:
            assert party.sender.stdin is not None
            party.feed.attach(party.sender.stdin.buffer)  # type: ignore[attr-defined]

    def recording(self, party: str) -> Path:
        """What ``party`` received (the other side's regenerated video and audio) since it
        last joined: ``received-by-a.mp4``, after a rejoin ``received-by-a.2.mp4``."""
        return self.s.out / f"received-by-{party}{self._joined(party)}.mp4"

    def stats_path(self, party: str) -> Path:
        return self.s.out / f"received-by-{party}{self._joined(party)}.json"

    def _joined(self, party: str) -> str:
        joins = self.parties[party].joins
        return f".{joins}" if joins > 1 else ""

    def processes(self) -> list[subprocess.Popen[str]]:
        procs = [self._relay] + [p for party in self.parties.values() for p in (party.receiver, party.sender)]
        return [p for p in procs if p is not None and p.poll() is None]

    # ------------------------------------------------------------ while it runs
    def set_channel(
        self, direction: str, snr_db: float | None = None, fading: str | None = None
    ) -> dict[str, Any]:
        """Change one direction's channel; returns its statistics (as the viewer shows them)."""
        from m3e.wire.convert import settings_to_proto
        from m3e.wire.messages import ChannelSettings

        if direction not in DIRECTIONS.values():
            raise ValueError(f"unknown direction {direction!r}; expected one of {list(DIRECTIONS.values())}")
        return self._control(
            "Configure", settings_to_proto(ChannelSettings(snr_db, fading, direction=direction))
        )

    def _control(self, method: str, request: Any = None, **fields: str) -> dict[str, Any]:
        """One ``Control`` call on the relay (a ``RouteRequest`` from ``fields`` for SetRoute)."""
        import asyncio
        import dataclasses

        from m3e.wire import link_pb2 as pb
        from m3e.wire import link_pb2_grpc as rpc
        from m3e.wire.convert import channel_stats_from_proto
        from m3e.wire.grpc_util import client_channel

        async def call() -> dict[str, Any]:
            async with client_channel(self.relay_address, self.s.tls) as ch:
                stub = rpc.ControlStub(ch)
                reply = await getattr(stub, method)(
                    request or pb.RouteRequest(**fields), timeout=5, metadata=auth.grpc_metadata(self.token)
                )
            return dataclasses.asdict(channel_stats_from_proto(reply))

        return asyncio.run(call())

    def switch_scheme(self, party: str, scheme: str) -> None:
        """What ``party`` sends from now on goes as ``scheme`` (a new session)."""
        from m3e import schemes
        from m3e.wire.messages import Modality

        schemes.get(Modality.VIDEO, scheme)  # ValueError naming the choices
        p = self.parties[party]
        _stop(p.sender)
        p.scheme, p.switches = scheme, p.switches + 1
        self._start_sender(p)

    def drop(self, party: str) -> None:
        """``party`` leaves: its sender and receiver end (the other side goes on)."""
        p = self.parties[party]
        for proc in (p.sender, p.receiver):
            _stop(proc)
        p.sender = p.receiver = None

    def rejoin(self, party: str) -> None:
        """``party`` comes back on the same ports."""
        p = self.parties[party]
        self._start_receiver(p)
        self._start_sender(p)

    def wait(self, timeout: float | None = None) -> None:
        """Until both senders have streamed their sources (or ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for p in self.parties.values():
            if p.sender is not None:
                left = None if deadline is None else max(0.1, deadline - time.monotonic())
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.sender.wait(timeout=left)

    def hang_up(self) -> None:
        """End the call: senders first (their last bursts land), then receivers (they finish
        their recordings), then the relay."""
        for p in self.parties.values():
            _stop(p.sender)
        time.sleep(1.0)  # the last bursts cross the relay
        for p in self.parties.values():
            _stop(p.receiver)
            if p.feed is not None:
                p.feed.close()
        _stop(self._relay)


def _tls_flags(tls: TlsFiles | None) -> list[str]:
    """``--tls-cert C --tls-key K --tls-ca A`` for the processes (those that are set)."""
    given = {} if tls is None else {"cert": tls.cert, "key": tls.key, "ca": tls.ca}
    return [f for name, path in given.items() if path for f in (f"--tls-{name}", str(path))]


def _ask(url: str, key: str, ca: str | None, body: dict[str, str] | None = None) -> dict[str, Any]:
    """GET (or POST ``body`` as JSON to) the host's call page with the invite's ``key`` (an
    HTTPS page is checked against ``ca``, else the system's CAs); ConnectionError with the
    page's own reason when it refuses."""
    import json
    import ssl
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", auth.HEADER: key}
    request = urllib.request.Request(url, data, headers)
    context = ssl.create_default_context(cafile=ca) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as reply:
            return dict(json.loads(reply.read()))
    except urllib.error.HTTPError as exc:
        reason = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise ConnectionError(f"the call at {url.split('/')[2]} refused to be joined: {reason}") from exc
    except (OSError, ValueError) as exc:
        raise ConnectionError(f"cannot join the call at {url.split('/')[2]}: {exc}") from exc


def _reachable_address(host: str) -> str:
    """This machine's address as ``host`` sees it (the interface a packet to it leaves by)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, 9))  # no packet is sent: connect only picks the route
        return str(s.getsockname()[0])


def _stop(proc: subprocess.Popen[str] | None) -> None:
    stop_processes([proc] if proc is not None else [])
