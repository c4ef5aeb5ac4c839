"""requests-style event hooks for the blocking facade.

``Session(hooks={"response": [fn]})``, ``s.hooks["response"].append(fn)`` and
``s.get(url, hooks={"response": fn})``. A hook is called as
``fn(response, stream=, timeout=, verify=, cert=, proxies=)`` — write it as
``def fn(r, *args, **kwargs)``, as requests documents — with the facade
:class:`~syncwrap.Response`, in the thread that made the call (never on the
loop thread: :mod:`syncwrap._bridge.caller` has that thread run them). A hook
that returns something other than None replaces the response for the hooks
after it and for the caller, as in requests.

Hooks run for each redirect response (``r.history``, oldest first), then for
the final response. A request's hooks for an event replace the session's
for that event, as in requests. With
``raise_for_status=True`` the hooks see an error response before the HTTPError
is raised (the engine's check, applied by :mod:`syncwrap.api` after them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["HOOKS", "default_hooks", "normalize_hooks", "dispatch_hook", "collect",
           "run_hooks", "hook_kwargs"]

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
    """The response hooks of one call: the request's when it gives some for the event
    (they replace the session's, as in requests), else the session's."""
    if request_hooks is not None:
        given = normalize_hooks(request_hooks)["response"]
        if given:
            return given
    own = session_hooks.get("response") if session_hooks else None
    return [own] if callable(own) else list(own or ())  # s.hooks["response"] = fn works too


def run_hooks(hooks: list[Hook], response: Any, hook_kwargs: dict[str, Any]) -> Any:
    """In the calling thread: the hooks for each redirect response (replacing them in
    ``response.history``), then for ``response``; what the last hook left is returned."""
    history = response.history
    for index, previous in enumerate(history):
        history[index] = dispatch_hook(hooks, previous, **hook_kwargs)
    return dispatch_hook(hooks, response, **hook_kwargs)


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
