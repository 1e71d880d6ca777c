"""The quick "anything waiting?" check that pooled Redis and upstream connections are reused by."""
from __future__ import annotations

import socket
import time

import pytest
import redis

from app.redis_client import QuickCheckConnection
from providers.sockets import has_input


def test_has_input_sees_data_and_end_of_file_but_not_an_idle_socket():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not has_input(ours)
        theirs.sendall(b"x")
        assert has_input(ours)
        ours.recv(1)
        assert not has_input(ours)
        theirs.close()
        assert has_input(ours)  # the other end hung up: not reusable as it is


@pytest.fixture
def pool(redis_url):
    pool = redis.BlockingConnectionPool.from_url(redis_url, connection_class=QuickCheckConnection,
                                                 max_connections=1, driver_info=None)
    yield pool
    pool.disconnect()


def test_a_clean_connection_is_reused(pool):
    client = redis.Redis(connection_pool=pool)
    client.ping()
    first = pool.get_connection()
    pool.release(first)
    assert pool.get_connection() is first


def test_a_connection_with_an_unread_reply_reads_as_dirty(pool):
    # What the pool asks before handing a connection out, answered as redis-py's own does.
    connection = pool.get_connection()
    assert not connection.can_read()
    connection.send_command("PING")
    time.sleep(0.2)  # let the reply arrive
    assert connection.can_read()
    assert connection.read_response() == b"PONG"
    assert not connection.can_read()
    pool.release(connection)
