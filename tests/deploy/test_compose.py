"""docker-compose.yml must run commands the CLI accepts, on ports that meet, with health checks
through the gRPC health service and only the viewer published, on 127.0.0.1; the Dockerfile
must build the image those commands need (CPU torch, the models, espeak-ng)."""

import re
from pathlib import Path

import yaml

from tests.deploy.commands import parse, port_of

ROOT = Path(__file__).resolve().parents[2]


def _services() -> dict[str, dict]:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_commands_parse_and_ports_meet() -> None:
    services = _services()
    parsed = {name: parse(svc["command"]) for name, svc in services.items()}
    assert {name: a.command for name, a in parsed.items()} == {
        "receiver": "receive",
        "relay": "relay",
        "sender": "send",
    }
    receiver, relay, sender = parsed["receiver"], parsed["relay"], parsed["sender"]
    assert sender.target == f"relay:{relay.port}"
    assert relay.target == f"receiver:{receiver.port}"
    assert receiver.control == f"relay:{relay.port}"
    assert receiver.host == relay.host == "0.0.0.0"  # reachable inside the compose network
    assert services["receiver"]["ports"] == [f"127.0.0.1:{receiver.viewer_port}:{receiver.viewer_port}"]
    assert all(svc.get("build") == "." for svc in services.values())
    assert len({svc.get("image") for svc in services.values()}) == 1  # one image, built once


def test_the_sender_streams_m3e_of_the_sample_clip_as_the_demo_does() -> None:
    sender = parse(_services()["sender"]["command"])
    assert (sender.source, sender.scheme) == ("sample", "m3e")
    assert sender.semantics and sender.low_latency  # m3e demo --scheme m3e: texts, shown at once
    assert sender.duration is None  # the whole clip


def test_only_127_0_0_1_is_published() -> None:
    for name, svc in _services().items():
        for entry in svc.get("ports", []):
            assert isinstance(entry, str) and entry.startswith("127.0.0.1:"), (name, entry)
        assert "network_mode" not in svc, name


def test_health_checks_ask_the_grpc_health_service_of_each_server() -> None:
    services = _services()
    for name in ("receiver", "relay"):
        svc = services[name]
        test = svc["healthcheck"]["test"]
        assert test[:2] == ["CMD", "m3e"], test
        probe = parse(test[2:])
        assert probe.command == "health"
        assert port_of(probe.address) == parse(svc["command"]).port, (name, probe.address)
        assert probe.address.startswith("127.0.0.1:")
    assert services["relay"]["depends_on"] == {"receiver": {"condition": "service_healthy"}}
    assert services["sender"]["depends_on"] == {"relay": {"condition": "service_healthy"}}
    assert "healthcheck" not in services["sender"]  # a client: no server to ask


def test_the_dockerfile_installs_cpu_torch_first_then_the_project_with_its_models() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count('ENTRYPOINT ["m3e"]') == 1
    steps = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    body = "\n".join(steps)
    torch, project = body.index("torch==2.13.0"), body.index('pip install ".[semantics]"')
    assert torch < project  # else pip resolves torch for the extra: the CUDA build
    assert re.search(r"^ARG TORCH_INDEX_URL=$", text, re.M)  # passed at build time, no URL here
    assert "://" not in body
    assert "espeak-ng" in body and "libportaudio2" in body
    for package in ("m3e", "sender", "channel_emulator", "receiver", "call", "bench"):
        assert f"COPY {package} {package}" in body, package
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/*.ckpt" in ignored and ".venv" in ignored and ".git" in ignored
