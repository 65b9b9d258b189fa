"""The tracking server's HTTP protocol: uvicorn's h11, with Nagle's algorithm off.

``mlflow server --workers N`` runs uvicorn with a listening socket bound in the parent,
whose ``proto`` is 0; asyncio turns ``TCP_NODELAY`` on only for sockets that say
``IPPROTO_TCP``, so every response's body waited for the client's delayed ACK: each
request on a kept-alive connection past the first took ~44 ms instead of ~1 ms
(measured here on ``/health``; uvicorn issue #3149). ``scripts/tracking-server`` starts
the server with ``--uvicorn-opts "--http pipeline.tracking.server_http:NoDelayH11Protocol"``.
Imported by the server's workers only: nothing else of the package comes with it.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol on a TCP socket with ``TCP_NODELAY`` set."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport.get_extra_info("socket"))
        super().connection_made(transport)


def set_nodelay(sock: socket.socket | None) -> None:
    """Turn Nagle's algorithm off on a TCP socket (nothing for other sockets)."""
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
