"""Free TCP ports on loopback for the processes the lab and tests start."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a port that is free now.

    Another process could take it before ours binds; the kernel hands out
    ephemeral ports round-robin, so that race is rare enough for tests.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port
