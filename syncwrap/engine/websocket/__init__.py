"""The engine's WebSocket client (aiohttp's API): ``ClientSession.ws_connect``.

- ``handshake.py``: the upgrade request's headers and the check of the 101 answer;
- ``connect.py``: the handshake through the session, then the take-over of its
  connection;
- ``connection.py``: the asyncio protocol that drives websockets' sans-I/O protocol;
- ``response.py``: :class:`ClientWebSocketResponse`, what the user holds;
- ``messages.py``, ``queue.py``: :class:`WSMessage` and :class:`WSMsgType`, and where
  messages wait.

Framing, masking, fragmentation, control frames, close frames, permessage-deflate
and the message size limit are the work of websockets' sans-I/O layer
(``websockets.client.ClientProtocol``).
"""

from .connect import WSRequestContextManager, connect, ws_connect
from .connection import WebSocketConnection
from .messages import CLOSED_MESSAGE, ClientWSTimeout, WSCloseCode, WSMessage, WSMsgType
from .queue import MessageQueue, MessageSink
from .response import ClientWebSocketResponse

__all__ = [
    "CLOSED_MESSAGE",
    "ClientWSTimeout",
    "ClientWebSocketResponse",
    "MessageQueue",
    "MessageSink",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "WSRequestContextManager",
    "WebSocketConnection",
    "connect",
    "ws_connect",
]
