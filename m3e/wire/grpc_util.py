"""gRPC plumbing shared by the three processes: servers with health checking, bounded
message sizes and optional TLS, and matching client channels."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from m3e.wire.convert import GRPC_OPTIONS


@dataclass(frozen=True)
class TlsFiles:
    """PEM files; a server needs cert + key, a client needs the CA (or trusts the system's).

    A server given the CA too asks every client for a certificate that CA signed (mutual
    TLS: nobody without one reaches Link or Control); a client with cert + key presents them."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    @property
    def enabled(self) -> bool:
        return any((self.cert, self.key, self.ca))

    def _read(self, p: Path | None) -> bytes | None:
        if p is None:
            return None
        try:
            return Path(p).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read TLS file {p}: {exc.strerror}") from None

    def server_credentials(self) -> grpc.ServerCredentials:
        cert, key = self._read(self.cert), self._read(self.key)
        if cert is None or key is None:
            raise ValueError("a TLS server needs both --tls-cert and --tls-key")
        ca = self._read(self.ca)
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        cert, key = self._read(self.cert), self._read(self.key)
        if (cert is None) != (key is None):
            raise ValueError("a TLS client certificate needs both --tls-cert and --tls-key")
        return grpc.ssl_channel_credentials(
            root_certificates=self._read(self.ca), private_key=key, certificate_chain=cert
        )


def create_server(
    address: str, register: list[Callable[[grpc.aio.Server], None]], tls: TlsFiles | None = None
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """An aio server on ``address`` ("127.0.0.1:0" picks a free port) with the standard health
    service. Returns (server, bound port, health servicer); call ``await server.start()``."""
    server = grpc.aio.server(options=GRPC_OPTIONS)
    for reg in register:
        reg(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if tls is not None and tls.enabled:
        port = server.add_secure_port(address, tls.server_credentials())
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise ValueError(f"cannot listen on {address}")
    return server, port, health_servicer


async def set_serving(health_servicer: health.aio.HealthServicer, service: str = "") -> None:
    await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)


def client_channel(address: str, tls: TlsFiles | None = None) -> grpc.aio.Channel:
    """An aio channel to ``address`` with the same message bounds as the servers."""
    if tls is not None and tls.enabled:
        return grpc.aio.secure_channel(address, tls.channel_credentials(), options=GRPC_OPTIONS)
    return grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)


MAX_DETAIL_CHARS = 200  # a status message never repeats more of what a client sent
DRAIN_S = 1.0  # how long a rejected stream's remaining messages are read before the status


def quoted(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: what a rejection may quote of the input
    (a 16 KB direction string repeated in the status overflowed the metadata limit)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


class StreamRejected(Exception):
    """The stream cannot go on: it ends with ``code`` and a short ``details``."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details[:MAX_DETAIL_CHARS]


async def checked(request_iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The messages of a stream; one that does not parse ends it with INVALID_ARGUMENT (it
    ended UNKNOWN with the parser's exception)."""
    iterator = aiter(request_iterator)
    while True:
        try:
            msg = await anext(iterator)
        except StopAsyncIteration:
            return
        except DecodeError:
            raise StreamRejected(grpc.StatusCode.INVALID_ARGUMENT, "malformed message") from None
        yield msg


async def reject(
    context: grpc.aio.ServicerContext,
    request_iterator: AsyncIterator[Any],
    code: grpc.StatusCode,
    details: str,
    drain_s: float = DRAIN_S,
) -> NoReturn:
    """End a stream with ``code``. What the client still sends is read (and dropped) for up to
    ``drain_s`` first: a status sent while its messages are in flight reached the client as
    INTERNAL ("Internal error from Core"), which a sender takes as worth reconnecting for."""

    async def drain() -> None:
        with contextlib.suppress(Exception):
            async for _ in request_iterator:
                pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(drain(), drain_s)
    await context.abort(code, details[:MAX_DETAIL_CHARS])
    raise AssertionError("unreachable")  # abort raises
