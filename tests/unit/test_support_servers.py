"""The sockets tests serve their fakes on: small answers leave at once instead of waiting for the
client's delayed ACK (Nagle's algorithm off on every accepted connection)."""

from __future__ import annotations

import asyncio
import socket

from tests.support.servers import bound_socket


async def test_connections_accepted_on_a_bound_socket_have_nagle_turned_off() -> None:
    sock = bound_socket()
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_side: socket.socket = writer.get_extra_info("socket")
        accepted.set_result(server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(on_connect, sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname())
        assert await asyncio.wait_for(accepted, 10) != 0
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
