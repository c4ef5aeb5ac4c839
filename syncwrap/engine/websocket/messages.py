"""What a WebSocket delivers: :class:`WSMessage` of a :class:`WSMsgType`, and its timeouts.

The names and values are aiohttp's, so code written for aiohttp's WebSocket client
reads the same messages:

- ``TEXT`` (data: str), ``BINARY`` (data: bytes): a whole message, however many
  frames it came in;
- ``PING`` / ``PONG`` (data: bytes): only with ``autoping=False``;
- ``CLOSE`` (data: the close code, extra: the reason): the server closed;
- ``ERROR`` (data: the exception, a :class:`~syncwrap.exceptions.WebSocketError`
  or a Timeout): the connection failed;
- ``CLOSED``: the connection is closed (every receive from then on).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["WSMsgType", "WSMessage", "WSCloseCode", "ClientWSTimeout", "CLOSED_MESSAGE",
           "weigh"]


class WSMsgType(enum.IntEnum):
    """The type of a :class:`WSMessage` (the frame opcodes, plus the connection's ends)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    PING = 0x9
    PONG = 0xA
    CLOSE = 0x8
    CLOSING = 0x100
    CLOSED = 0x101
    ERROR = 0x102


class WSCloseCode(enum.IntEnum):
    """Close codes (RFC 6455, section 7.4.1)."""

    OK = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    ABNORMAL_CLOSURE = 1006
    INVALID_TEXT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


class WSMessage(NamedTuple):
    """One message: ``type`` (:class:`WSMsgType`), ``data`` and ``extra`` (see the
    module docs for what they hold per type)."""

    type: WSMsgType
    data: Any
    extra: Any

    def json(self, *, loads: Callable[[Any], Any] = json.loads) -> Any:
        """The data decoded as JSON (a TEXT or BINARY message)."""
        return loads(self.data)


#: What every receive returns once the connection is closed.
CLOSED_MESSAGE = WSMessage(WSMsgType.CLOSED, None, None)


def weigh(message: WSMessage) -> int:
    """A message's weight in a bounded queue: 1, plus 1 per 64 KiB of data. A queue of
    weight 64 holds 64 small messages or about 4 MiB."""
    data = message.data
    if data.__class__ is str or data.__class__ is bytes:
        return 1 + (len(data) >> 16)
    return 1


@dataclass(frozen=True)
class ClientWSTimeout:
    """A WebSocket's time limits in seconds (None: no limit), as in aiohttp.

    ``ws_receive``: the default limit of each ``receive()`` (a ReadTimeout, which
    leaves the WebSocket open). ``ws_close``: how long ``close()`` waits for the
    server's close frame and the end of the connection before dropping it.
    """

    ws_receive: float | None = None
    ws_close: float | None = 10.0

    def __post_init__(self) -> None:
        for name in ("ws_receive", "ws_close"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, int | float) or value < 0):
                raise ValueError(f"ClientWSTimeout({name}=...): expected a number >= 0 or "
                                 f"None, got {value!r}")
