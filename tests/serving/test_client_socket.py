"""ClientSocket: gevent's sendall, without a getsockopt(SO_SNDBUF) per call."""
from __future__ import annotations

import socket

import gevent
import gevent.socket
import pytest

from app.serving import SENDALL_PIECE_BYTES, ClientSocket


class CountingClientSocket(ClientSocket):
    __slots__ = ()
    asked = 0  # getsockopt calls, on the class (the slots leave no room on the instance)

    def getsockopt(self, *args):
        type(self).asked += 1
        return super().getsockopt(*args)


@pytest.mark.parametrize("size", [0, 1, 300, SENDALL_PIECE_BYTES, 3 * SENDALL_PIECE_BYTES + 7])
def test_sendall_sends_everything_and_asks_the_buffer_size_only_above_a_piece(size):
    sender, receiver = gevent.socket.socketpair()
    with sender, receiver:
        sender.__class__ = CountingClientSocket
        CountingClientSocket.asked = 0
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        reader = gevent.spawn(lambda: b"".join(iter(lambda: receiver.recv(1 << 16), b"")))
        sender.sendall(data)
        sender.sendall(memoryview(data))
        sender.shutdown(socket.SHUT_WR)
        assert reader.get(timeout=30) == data * 2
    # A payload up to a piece is sent without asking the buffer's size; a bigger one as gevent does.
    assert CountingClientSocket.asked == (0 if size <= SENDALL_PIECE_BYTES else 2)
