"""requests-style event hooks for the blocking facade.

``Session(hooks={"response": [fn]})``, ``s.hooks["response"].append(fn)`` and
``s.get(url, hooks={"response": fn})``. A hook is called as
``fn(response, stream=, timeout=, verify=, cert=, proxies=)`` — write it as
``def fn(r, *args, **kwargs)``, as requests documents — with the facade
:class:`~syncwrap.Response`, in the thread that made the call (never on the
loop thread). A hook that returns something other than None replaces the
response for the hooks after it and for the caller, as in requests.

Hooks run for each redirect response (``r.history``, oldest first), then for
the final response. Unlike requests, where a request's hooks replace the
session's, session hooks run first and then the request's. With
``raise_for_status=True`` the hooks see an error response before the HTTPError
is raised (the engine's check, applied by :mod:`syncwrap.api` after them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from yarl import URL

from .auth import SyncAuth, request_url

__all__ = ["HOOKS", "default_hooks", "normalize_hooks", "dispatch_hook", "collect", "send",
           "hook_kwargs"]

HOOKS = ("response",)

Hook = Callable[..., Any]


def default_hooks() -> dict[str, list[Hook]]:
    return {event: [] for event in HOOKS}


def normalize_hooks(hooks: Any) -> dict[str, list[Hook]]:
    """``{"response": [fn, ...]}`` from a mapping of callables or lists, or a callable."""
    result = default_hooks()
    if hooks is None:
        return result
    if callable(hooks):
        hooks = {"response": hooks}
    if not isinstance(hooks, Mapping):
        raise TypeError(f"hooks=: expected a dict like {{'response': [fn]}}, got {hooks!r}")
    for event, value in hooks.items():
        if event not in result:
            raise ValueError(f'Unsupported event specified, with event name "{event}"')
        items: Iterable[Any] = [value] if callable(value) else (value or ())
        for hook in items:
            if not callable(hook):
                raise TypeError(f"hooks=: {event!r} hooks must be callables, got {hook!r}")
            result[event].append(hook)
    return result


def dispatch_hook(hooks: Iterable[Hook], data: Any, **kwargs: Any) -> Any:
    for hook in hooks:
        replaced = hook(data, **kwargs)
        if replaced is not None:
            data = replaced
    return data


def collect(session_hooks: Mapping[str, Any] | None, request_hooks: Any) -> list[Hook]:
    """The response hooks of one call: the session's, then the request's."""
    own = session_hooks.get("response") if session_hooks else None
    hooks = [own] if callable(own) else list(own or ())  # s.hooks["response"] = fn works too
    if request_hooks is not None:
        hooks += normalize_hooks(request_hooks)["response"]
    return hooks


def send(
    send_once: Callable[[dict[str, Any]], Any],
    method: str,
    url: Any,
    kwargs: dict[str, Any],
    *,
    hooks: list[Hook],
    hook_kwargs: dict[str, Any],
    base_url: Any = None,
) -> Any:
    """One facade request: a facade-level auth (sync flow or callable), then the hooks.

    ``send_once(kwargs)`` performs the request on the loop and returns a Response.
    raise_for_status is not checked here: the engine owns it (the caller lets it
    raise after the hooks have seen the response).
    """
    auth = kwargs.get("auth")
    if isinstance(auth, SyncAuth):
        kwargs = dict(kwargs)
        del kwargs["auth"]
        full_url: URL = request_url(url, kwargs.get("params"), base_url)
        response = auth.send(send_once, method, full_url, kwargs)
    else:
        response = send_once(kwargs)
    if hooks:
        history = response.history
        for index, previous in enumerate(history):
            history[index] = dispatch_hook(hooks, previous, **hook_kwargs)
        response = dispatch_hook(hooks, response, **hook_kwargs)
    return response


def hook_kwargs(kwargs: Mapping[str, Any], *, timeout: Any, verify: Any,
                cert: Any) -> dict[str, Any]:
    """The keyword arguments requests passes to hooks: a call's, else the session's."""
    return {
        "stream": bool(kwargs.get("stream", False)),
        "timeout": kwargs.get("timeout", timeout),
        "verify": kwargs.get("verify", verify),
        "cert": kwargs.get("cert", cert),
        "proxies": kwargs.get("proxies"),
    }
