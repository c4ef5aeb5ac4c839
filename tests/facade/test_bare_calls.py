"""A call with no keyword arguments (``s.get(url)``) takes a shorter path through the facade
(syncwrap._bridge.calls.request_call): it must do what the same call with an argument that
changes nothing (``stream=False``) does, whatever the session's settings."""

from __future__ import annotations

import threading

import pytest

import syncwrap
from tests.facade._util import WAIT


def _outcome(call):
    """What a call gave: (status, body or the error's type, the hooks' and middlewares' trail)."""
    try:
        r = call()
    except syncwrap.HTTPError as exc:
        return ("raised", type(exc).__name__, exc.response.status_code, exc.response.text)
    return (r.status_code, r.json() if r.headers.get("Content-Type") == "application/json"
            else r.text)


def _both(session_args, path, httpbin_url):
    """The outcome and trail of ``s.get(url)`` and of ``s.get(url, stream=False)``."""
    results = []
    for extra in ({}, {"stream": False}):
        trail: list[str] = []
        args = {name: value(trail) if callable(value) else value
                for name, value in session_args.items()}
        with syncwrap.Session(timeout=WAIT, **args) as s:
            outcome = _outcome(lambda s=s, extra=extra: s.get(httpbin_url + path, **extra))
            results.append((outcome, trail))
    return results


def _hook(trail):
    return {"response": [lambda r, **kwargs: trail.append(f"hook {r.status_code}")]}


def _middleware(trail):
    def mw(request, handler):
        trail.append(f"mw {threading.get_ident() == MAIN}")
        request.headers["X-Mw"] = "1"
        return handler(request)

    return [mw]


def _callable_auth(trail):
    def auth(r):
        trail.append("auth")
        r.headers["Authorization"] = "Bearer t"
        return r

    return auth


MAIN = threading.get_ident()

CASES = {
    "defaults": ({}, "/get", None),
    "basic auth": ({"auth": ("u", "p")}, "/basic-auth/u/p",
                   {"authenticated": True, "user": "u"}),
    "wrong basic auth": ({"auth": ("u", "x")}, "/basic-auth/u/p", None),
    "raise_for_status": ({"raise_for_status": True}, "/status/404",
                         ("raised", "ClientResponseError", 404, "")),
    # the error's response has its body read (a teapot)
    "raise_for_status, body": ({"raise_for_status": True}, "/status/418", None),
    # the session's BasicAuth meets its own Authorization header, as in requests
    "basic auth and a header": ({"auth": ("u", "p"), "headers": {"Authorization": "Bearer t"}},
                                "/headers", None),
    "raise_for_status, ok": ({"raise_for_status": True}, "/status/204", (204, "")),
    "session hooks": ({"hooks": _hook}, "/status/201", (201, "")),
    "sync middleware": ({"middlewares": _middleware}, "/headers", None),
    "callable auth": ({"auth": _callable_auth}, "/bearer",
                      {"authenticated": True, "token": "t"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bare_call_does_what_the_full_translation_does(name, httpbin_url):
    session_args, path, expected = CASES[name]
    (bare, bare_trail), (full, full_trail) = _both(session_args, path, httpbin_url)
    assert bare == full
    assert bare_trail == full_trail
    if expected is not None:
        assert bare[1] == expected if isinstance(expected, dict) else bare == expected
    if name == "raise_for_status, body":
        assert bare[:3] == ("raised", "ClientResponseError", 418) and "teapot" in bare[3]
    if name == "basic auth and a header":
        assert bare[0] == 200
    if name == "sync middleware":
        assert bare_trail == ["mw True"]  # run in the calling thread
        assert bare[1]["headers"]["X-Mw"] == "1"
    if name == "session hooks":
        assert bare_trail == ["hook 201"]
    if name == "callable auth":
        assert bare_trail == ["auth"]


def test_session_params_and_mounted_retries_reach_a_bare_call(httpbin_url):
    with syncwrap.Session(timeout=WAIT) as s:
        s.params = {"p": "1"}
        assert s.get(httpbin_url + "/get").json()["args"] == {"p": "1"}


def test_a_bytes_method_is_decoded_on_a_bare_call(httpbin_url):
    with syncwrap.Session(timeout=WAIT) as s:
        assert s.request(b"GET", httpbin_url + "/get").json()["url"].endswith("/get")
