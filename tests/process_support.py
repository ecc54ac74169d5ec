"""Shared by the tests that start processes of their own: a free port, and a private Redis server."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_command(port: int, directory: Path, binary: str = "redis-server") -> list[str]:
    """``redis-server`` on ``port``, local only, keeping nothing on disk."""
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory)]


def redis_answers(url: str) -> bool:
    """Does the Redis at ``url`` answer a ping (quickly)?"""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
