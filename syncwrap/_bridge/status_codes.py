"""``syncwrap.codes``: HTTP status codes by name, as requests' ``requests.codes``.

>>> import syncwrap
>>> syncwrap.codes.ok, syncwrap.codes.NOT_FOUND, syncwrap.codes["teapot"]
(200, 404, 418)

Every name of :class:`http.HTTPStatus` is there in lower and upper case, plus
the short names requests code uses most (``ok``, ``created``, ``teapot``...).
A name that is not a status gives None, as in requests.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = ["codes", "StatusCodes"]

_ALIASES: dict[int, tuple[str, ...]] = {
    200: ("ok", "okay", "all_ok", "all_okay", "all_good", "\\o/", "✓"),
    201: ("created",),
    202: ("accepted",),
    204: ("no_content",),
    206: ("partial", "partial_content"),
    301: ("moved_permanently", "moved"),
    302: ("found",),
    303: ("see_other", "other"),
    304: ("not_modified",),
    307: ("temporary_redirect", "temporary_moved", "temporary"),
    308: ("permanent_redirect", "resume_incomplete", "resume"),
    400: ("bad_request", "bad"),
    401: ("unauthorized",),
    403: ("forbidden",),
    404: ("not_found", "-o-"),
    405: ("method_not_allowed", "not_allowed"),
    408: ("request_timeout", "timeout"),
    409: ("conflict",),
    410: ("gone",),
    413: ("request_entity_too_large", "content_too_large"),
    418: ("im_a_teapot", "teapot", "i_am_a_teapot"),
    422: ("unprocessable_entity", "unprocessable"),
    429: ("too_many_requests", "too_many"),
    500: ("internal_server_error", "server_error", "/o\\", "✗"),
    502: ("bad_gateway",),
    503: ("service_unavailable", "unavailable"),
    504: ("gateway_timeout",),
}


class StatusCodes:
    """Status codes by attribute (``codes.ok``) or key (``codes["ok"]``)."""

    def __init__(self) -> None:
        names: dict[str, int] = {}
        for status in HTTPStatus:
            names[status.name.lower()] = status.value
        for value, aliases in _ALIASES.items():
            for alias in aliases:
                names[alias] = value
        for name, value in list(names.items()):
            if not name.startswith(("\\", "/")):
                names[name.upper()] = value
        self.__dict__.update(names)

    def __getitem__(self, name: str) -> int | None:
        return self.__dict__.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def __getattr__(self, name: str) -> None:
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def __repr__(self) -> str:
        return "<lookup 'status_codes'>"


codes = StatusCodes()
