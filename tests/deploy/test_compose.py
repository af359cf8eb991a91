"""docker-compose.yml must run commands the CLI accepts, on ports that meet."""

from pathlib import Path

import yaml

from m3e.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _services() -> dict[str, dict]:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_commands_parse_and_ports_meet() -> None:
    services = _services()
    parsed = {name: build_parser().parse_args(svc["command"]) for name, svc in services.items()}
    assert {name: a.command for name, a in parsed.items()} == {
        "receiver": "receive",
        "relay": "relay",
        "sender": "send",
    }
    receiver, relay, sender = parsed["receiver"], parsed["relay"], parsed["sender"]
    assert sender.target == f"relay:{relay.port}"
    assert relay.target == f"receiver:{receiver.port}"
    assert receiver.control == f"relay:{relay.port}"
    assert services["receiver"]["ports"] == [f"127.0.0.1:{receiver.viewer_port}:{receiver.viewer_port}"]
    assert all(svc.get("build") == "." for svc in services.values())
    assert (ROOT / "Dockerfile").read_text().count('ENTRYPOINT ["m3e"]') == 1
