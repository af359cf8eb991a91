"""``m3e health HOST:PORT``, the containers' health check: exit 0 when the gRPC health
service there answers SERVING, 1 when it answers anything else or nobody listens."""

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from m3e.cli import main
from m3e.launch import free_port


@pytest.fixture
def server() -> Iterator[tuple[int, health.HealthServicer]]:
    port = free_port()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, srv)
    srv.add_insecure_port(f"127.0.0.1:{port}")
    srv.start()
    yield port, servicer
    srv.stop(None)


def test_serving_exits_0_else_1(server: tuple[int, health.HealthServicer]) -> None:
    port, servicer = server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert main(["health", f"127.0.0.1:{port}", "--timeout", "1"]) == 1
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert main(["health", f"127.0.0.1:{port}", "--timeout", "1"]) == 0
    assert main(["health", str(port)]) == 0  # a bare port: this machine
    assert main(["health", f"0.0.0.0:{port}"]) == 0  # the address a container's server binds


def test_nobody_listening_exits_1() -> None:
    assert main(["health", f"127.0.0.1:{free_port()}", "--timeout", "0.3"]) == 1


def test_wait_keeps_asking_until_the_server_serves(server: tuple[int, health.HealthServicer]) -> None:
    port, servicer = server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    timer = threading.Timer(0.5, servicer.set, ("", health_pb2.HealthCheckResponse.SERVING))
    timer.start()
    try:
        assert main(["health", f"127.0.0.1:{port}", "--wait", "10"]) == 0
    finally:
        timer.cancel()
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert main(["health", f"127.0.0.1:{port}", "--wait", "0.5", "--timeout", "0.2"]) == 1
