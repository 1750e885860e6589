"""The one error every memberlist decoder raises, with a reason to count it by. Pure.

The reasons are stable names: the speaker exports them as the ``reason`` label of
``metallb_memberlist_dropped_packets_total``.
"""

from __future__ import annotations

from enum import StrEnum


class DropReason(StrEnum):
    """Why a received packet changed nothing; stable names for counters and metrics."""

    AUTH = "auth"  # wrong key, tampered, unencrypted, or labelled for another cluster
    MALFORMED = "malformed"  # authenticated but undecodable (a bug, or a newer peer)
    VERSION = "version"  # an encryption version or compression algorithm we do not speak
    WRONG_TARGET = "wrongTarget"  # a ping for another member (a stale address)
    UNEXPECTED = "unexpected"  # a valid message on the wrong channel or in a bad place
    LEFT = "left"  # we have left the cluster
    USER = "user"  # a user message: upstream's speaker has no delegate, nor do we


class WireError(ValueError):
    """A packet could not be decoded (or opened); ``reason`` says how to count it."""

    def __init__(self, message: str, reason: DropReason = DropReason.MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason
