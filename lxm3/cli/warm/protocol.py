"""Messages between `lxm3` and its warm server: length-prefixed `marshal` over a unix socket.

`marshal` because it is built in (the `lxm3` side imports nothing for it),
carries any str (lone surrogates too: an environment value's undecodable
bytes arrive as they left), and both sides are the same Python (the socket's
name says so, see `stamp`). Only processes of the same user reach the socket.

The request also carries the caller's stdin/stdout/stderr as file
descriptors (SCM_RIGHTS), so the served command writes to the user's terminal
or pipes directly, with no copying through the server.
"""

from __future__ import annotations

import marshal
import socket
import struct

TYPE_CHECKING = False  # (not typing's: importing typing costs the `lxm3` process ~8 ms)
if TYPE_CHECKING:
    from typing import Any

_HEADER = struct.Struct(">I")
#: Largest message accepted (an environment of a few hundred KB is already unusual).
MAX_MESSAGE = 16 * 1024 * 1024


class ProtocolError(Exception):
    """The other side sent something that is not a message, or hung up mid-message."""


def encode(message: dict[str, Any]) -> bytes:
    body = marshal.dumps(message)
    return _HEADER.pack(len(body)) + body


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = encode(message)
    if fds:
        sent = socket.send_fds(sock, [data], fds)
        sock.sendall(data[sent:])
    else:
        sock.sendall(data)


def _read_exactly(sock: socket.socket, size: int, start: bytes = b"") -> bytes:
    chunks = [start]
    have = len(start)
    while have < size:
        chunk = sock.recv(min(size - have, 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed mid-message")
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def _body_size(header: bytes) -> int:
    (size,) = _HEADER.unpack(header[: _HEADER.size])
    if size > MAX_MESSAGE:
        raise ProtocolError(f"message of {size} bytes is too large")
    return int(size)


def _decode(data: bytes) -> dict[str, Any]:
    try:
        message = marshal.loads(data[_HEADER.size :])
    except (EOFError, ValueError, TypeError) as error:
        raise ProtocolError(f"not a message: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not an object")
    return message


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """The next message, or None if the other side closed the connection between messages."""
    header = sock.recv(_HEADER.size)
    if not header:
        return None
    header = _read_exactly(sock, _HEADER.size, header)
    return _decode(header + _read_exactly(sock, _body_size(header)))


def receive_with_fds(sock: socket.socket, max_fds: int) -> tuple[dict[str, Any], list[int]]:
    """The first message of a connection and the descriptors sent with it."""
    data, fds, _flags, _address = socket.recv_fds(sock, 1 << 16, max_fds)
    if len(data) < _HEADER.size:
        data = _read_exactly(sock, _HEADER.size, data)
    data = _read_exactly(sock, _HEADER.size + _body_size(data), data)
    return _decode(data), list(fds)
