"""The state of one HTTP/1.1 connection, and every way it can change.

A connection carries one exchange (request, then response) at a time::

    NEW ──┐                      ┌──► HANDED_OFF ──┐ (TAKE_BACK: to RECEIVING)
          ├─START─► WAITING_HEAD ─HEAD─► RECEIVING ─┴─BODY_END─► COMPLETE ─RELEASE─► IDLE
    IDLE ─┘                                                        │
                                                                   └─► MUST_CLOSE

A ``101 Switching Protocols`` head ends HTTP on the connection: ``SWITCH`` leads
from RECEIVING to ``SWITCHED`` (never reusable, never complete), and ``UPGRADE``
(``ResponseHandler.upgrade()``: the transport goes to the new protocol) to
``UPGRADED``.

``CLOSE`` (the connection is closed, lost or failed) leads from any state to
``CLOSED``, or to ``MUST_CLOSE`` once the response is whole: a response that
completed stays complete. ``NO_REUSE`` (the server said ``Connection: close``,
sent bytes nobody asked for, or the request body was abandoned) changes no
state but the connection's keep-alive, so the body ends in ``MUST_CLOSE``
instead of ``COMPLETE``. :data:`STEPS` (read by :func:`next_state`) is the only place a state is
computed; the protocol (``connection.py``) is the only place one is stored.
"""

from __future__ import annotations

import enum

__all__ = ["State", "Event", "StateError", "STEPS", "next_state"]


class State(enum.IntEnum):  # IntEnum: hashed in C, these are looked up per request
    """Where a connection is in its exchange."""

    NEW = 0  #: connected, nothing sent yet
    IDLE = 1  #: between exchanges, in the pool
    WAITING_HEAD = 2  #: a request is going out; its response head is awaited
    RECEIVING = 3  #: the head arrived; the body comes through the transport
    HANDED_OFF = 4  #: the body is received from a dup of the socket (direct reads)
    COMPLETE = 5  #: the response is whole: reusable once released
    MUST_CLOSE = 6  #: the response is whole, but the connection must not be reused
    CLOSED = 7  #: closed (or closing) before its response was whole
    SWITCHED = 8  #: a 101 head arrived; the bytes after it wait for the new protocol
    UPGRADED = 9  #: the transport belongs to the protocol switched to (a WebSocket)


class Event(enum.IntEnum):
    """What happens to a connection."""

    START = 0  #: a request starts
    HEAD = 1  #: its final response head arrived
    HAND_OFF = 2  #: the rest of the body goes to a reader of a dup of the socket
    TAKE_BACK = 3  #: that reader stopped early; the transport reads again
    BODY_END = 4  #: the response is whole
    RELEASE = 5  #: the finished exchange is forgotten; the connection goes to the pool
    NO_REUSE = 6  #: the connection must not carry another exchange
    CLOSE = 7  #: the connection is closed, lost or failed
    SWITCH = 8  #: the final head is a 101: HTTP ends on this connection
    UPGRADE = 9  #: the transport is handed to the protocol switched to


class StateError(RuntimeError):
    """An event that cannot happen in the connection's state (a bug in the engine)."""


_S, _E = State, Event
_TABLE: dict[State, dict[Event, State]] = {
    _S.NEW: {_E.START: _S.WAITING_HEAD},
    _S.IDLE: {_E.START: _S.WAITING_HEAD},
    _S.WAITING_HEAD: {_E.HEAD: _S.RECEIVING},
    _S.RECEIVING: {_E.HAND_OFF: _S.HANDED_OFF, _E.BODY_END: _S.COMPLETE,
                   _E.SWITCH: _S.SWITCHED},
    _S.HANDED_OFF: {_E.HAND_OFF: _S.HANDED_OFF, _E.TAKE_BACK: _S.RECEIVING,
                    _E.BODY_END: _S.COMPLETE},
    _S.COMPLETE: {_E.RELEASE: _S.IDLE, _E.NO_REUSE: _S.MUST_CLOSE},
    _S.MUST_CLOSE: {},
    _S.SWITCHED: {_E.UPGRADE: _S.UPGRADED},
    _S.UPGRADED: {},
    # A request started on a connection closed meanwhile fails when it is sent; a body
    # whose last bytes were in the read that closed the connection is still whole.
    _S.CLOSED: {_E.START: _S.CLOSED, _E.HEAD: _S.CLOSED, _E.BODY_END: _S.MUST_CLOSE},
}
for _state, _events in _TABLE.items():
    _whole = _state in (_S.COMPLETE, _S.MUST_CLOSE)
    _events[_E.CLOSE] = _S.MUST_CLOSE if _whole else _S.CLOSED
    _events.setdefault(_E.NO_REUSE, _state)
#: Every allowed step, computed once from the table: ``(state, event, keep_alive)`` → the
#: new state (a body that ends without keep-alive ends in MUST_CLOSE). A dict lookup,
#: because the connection takes four steps per request.
STEPS: dict[tuple[State, Event, bool], State] = {
    (_state, _event, _keep): (_S.MUST_CLOSE if _new is _S.COMPLETE and not _keep else _new)
    for _state, _events in _TABLE.items()
    for _event, _new in _events.items()
    for _keep in (True, False)
}


def next_state(state: State, event: Event, keep_alive: bool) -> State:
    """The state after ``event``; a body that ends without ``keep_alive`` ends in
    MUST_CLOSE. Raises :class:`StateError` for an event the state does not allow."""
    try:
        return STEPS[state, event, keep_alive]
    except KeyError:
        raise StateError(f"HTTP/1.1 connection: {event.name} cannot happen in {state.name}"
                         ) from None
