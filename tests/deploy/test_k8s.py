"""deploy/k8s/: relay and receiver as Deployments + Services with gRPC health probes on the
ports their commands listen on, the sender as a Job; every container runs an ``m3e``
subcommand with flags the CLI accepts, from the image the Dockerfile builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from m3e.cli import build_parser
from tests.deploy.commands import port_of

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
IMAGE = "m3e-vsc"  # docker-compose.yml's image: the one the Dockerfile builds


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of the kustomization's resources by (kind, name)."""
    objects = {}
    for name in _kustomization()["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, key
            objects[key] = doc
    return objects


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _args(container: dict[str, Any]) -> Any:
    """The container's command line as ``m3e`` parses it (strictly: no flag it does not know)."""
    assert container.get("command") in (None, ["m3e"]), container["name"]  # the image's ENTRYPOINT
    return build_parser().parse_args(container["args"])


def test_the_kustomization_lists_every_manifest_and_makes_the_token_secret() -> None:
    kust = _kustomization()
    manifests = [p.name for p in K8S.glob("*.yaml") if p.stem != "kustomization"]
    assert sorted(kust["resources"]) == sorted(manifests)
    (generator,) = kust["secretGenerator"]
    assert generator["name"] == "m3e-control" and generator["files"] == ["token=control-token"]
    assert not (K8S / "control-token").exists() or "control-token" in (ROOT / ".gitignore").read_text()


def test_kinds() -> None:
    assert sorted(_objects()) == [
        ("Deployment", "m3e-receiver"),
        ("Deployment", "m3e-relay"),
        ("Job", "m3e-sender"),
        ("Service", "m3e-receiver"),
        ("Service", "m3e-relay"),
    ]


def test_every_container_runs_an_m3e_subcommand_from_the_image() -> None:
    commands = {}
    for (kind, name), obj in _objects().items():
        if kind == "Service":
            continue
        for c in _containers(obj):
            assert c["image"].split(":")[0] == IMAGE, c["image"]
            commands[f"{name}/{c['name']}"] = _args(c).command
            assert "requests" in c["resources"] and "memory" in c["resources"]["limits"], c["name"]
            assert not any("hostPort" in p for p in c.get("ports", [])), c["name"]
    assert commands == {
        "m3e-receiver/receiver": "receive",
        "m3e-relay/relay": "relay",
        "m3e-sender/wait-for-relay": "health",
        "m3e-sender/sender": "send",
    }
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {svc["image"] for svc in compose.values()} == {IMAGE}
    assert 'ENTRYPOINT ["m3e"]' in (ROOT / "Dockerfile").read_text()


def test_probes_services_and_addresses_meet() -> None:
    objects = _objects()
    ports = {}
    for name in ("m3e-relay", "m3e-receiver"):
        deployment, service = objects[("Deployment", name)], objects[("Service", name)]
        (c,) = _containers(deployment)
        args = _args(c)
        assert args.host == "0.0.0.0"
        ports[name] = args.port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"]["port"] == args.port, (name, probe)  # grpc.health.v1
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert named["grpc"] == args.port
        # the Service selects the Deployment's pods, and its ports reach the container's
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"  # nothing published outside
        for p in service["spec"]["ports"]:
            assert named[p["targetPort"]] == p["port"], (name, p)
        if name == "m3e-receiver":
            assert named["viewer"] == args.viewer_port
    relay = _args(_containers(objects[("Deployment", "m3e-relay")])[0])
    receiver = _args(_containers(objects[("Deployment", "m3e-receiver")])[0])
    wait, send = (_args(c) for c in _containers(objects[("Job", "m3e-sender")]))
    assert relay.target == f"m3e-receiver:{ports['m3e-receiver']}"
    assert receiver.control == send.target == wait.address == f"m3e-relay:{ports['m3e-relay']}"
    assert port_of(send.target) == ports["m3e-relay"]
    assert wait.wait > 0  # the Job's sender starts once the relay serves
    assert (send.source, send.scheme, send.semantics, send.low_latency) == ("sample", "m3e", True, True)


def test_the_control_token_reaches_relay_and_receiver_from_the_secret() -> None:
    objects = _objects()
    for name in ("m3e-relay", "m3e-receiver"):
        (c,) = _containers(objects[("Deployment", name)])
        env = {e["name"]: e for e in c["env"]}
        ref = env["M3E_CONTROL_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "m3e-control", "key": "token"}, name
    job = objects[("Job", "m3e-sender")]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
