"""``Session.cookies``: a requests-style, dict-like view over a session's cookie jar.

Thread safety: the jar belongs to the loop thread, which reads and updates it
while requests run (the Cookie header of each hop, each Set-Cookie received).
Every operation of this view therefore runs *on the loop thread*, submitted
with :func:`syncwrap.loop.run` and waited for, so it is atomic with respect to
requests in flight and to other threads using the view; no lock is held on
the loop. Called from the loop thread itself (async code running there), an
operation runs directly. Reads return snapshots: iterating over the view
while another thread changes the jar is safe.

The cookie rules themselves (matching by name, domain and path, quoting,
storage) belong to the engine's :class:`~syncwrap.engine.CookieJar`
(``find``, ``matcher``, ``set_cookie``, ``update_cookies``, ``clear``); this
view only carries the calls across the thread boundary and copies results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from functools import partial
from http.cookies import Morsel
from typing import Any, TypeVar

from .. import loop as loop_thread
from ..engine.cookies import cookie_pairs
from ..exceptions import CookieConflictError

__all__ = ["CookiesView"]

T = TypeVar("T")


async def _call(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


def _on_loop(fn: Callable[..., T], *args: Any) -> T:
    if loop_thread.in_loop_thread():
        return fn(*args)
    return loop_thread.run(_call(fn, *args))


class CookiesView(MutableMapping[str, str]):
    """The session's cookies as ``name -> value`` (str), like ``requests.Session.cookies``.

    ``view["a"]`` is the value of the cookie named "a" (KeyError if none,
    :class:`CookieConflictError` if several on different domains/paths);
    ``view["a"] = "b"`` stores a cookie sent to every host (as requests does for
    a cookie set without a domain), ``del view["a"]`` removes every cookie named
    "a". ``len`` counts cookies, iteration yields their names (a name stored
    for two paths appears twice, as in requests). ``set(name, value, domain=,
    path=)``, ``get(name, default, domain=, path=)``, ``clear(domain=, path=,
    name=)``, ``get_dict()`` and ``morsels()`` give finer control.
    """

    __slots__ = ("_jar",)

    def __init__(self, jar: Any) -> None:
        self._jar = jar

    @property
    def jar(self) -> Any:
        """The underlying engine CookieJar (use it on the loop thread only)."""
        return self._jar

    # -- snapshots -----------------------------------------------------------------

    def morsels(self) -> list[Morsel[str]]:
        """Copies of every stored cookie (Morsels with domain and path filled in)."""

        def snapshot() -> list[Morsel[str]]:
            return [morsel.copy() for morsel in self._jar]

        return _on_loop(snapshot)

    def _find(self, name: str | None, domain: str | None = None,
              path: str | None = None) -> list[Morsel[str]]:
        def find() -> list[Morsel[str]]:
            return [m.copy() for m in self._jar.find(name, domain, path)]

        return _on_loop(find)

    # -- Mapping -------------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        found = self._find(name, None, None)
        if not found:
            raise KeyError(name)
        if len(found) > 1:
            places = ", ".join(f"{m['domain'] or '*'}{m['path']}" for m in found)
            raise CookieConflictError(
                f"There are {len(found)} cookies named {name!r} ({places}); "
                "use get(name, domain=..., path=...)"
            )
        return found[0].value

    def get(self, name: str, default: Any = None, domain: str | None = None,
            path: str | None = None) -> Any:
        """The value of cookie ``name`` (optionally on ``domain``/``path``), else ``default``.

        When several match, the most specific path (then the oldest) wins.
        """
        found = self._find(name, domain, path)
        return found[0].value if found else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._find(name, None, None))

    def __iter__(self) -> Iterator[str]:
        return iter([morsel.key for morsel in self.morsels()])

    def __len__(self) -> int:
        return _on_loop(len, self._jar)

    def keys(self) -> list[str]:  # type: ignore[override]
        return [morsel.key for morsel in self.morsels()]

    def values(self) -> list[str]:  # type: ignore[override]
        return [morsel.value for morsel in self.morsels()]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(morsel.key, morsel.value) for morsel in self.morsels()]

    def get_dict(self, domain: str | None = None, path: str | None = None) -> dict[str, str]:
        """``{name: value}`` of the cookies on ``domain``/``path`` (all by default); of
        same-named cookies, the one :meth:`get` returns."""
        return {m.key: m.value for m in reversed(self._find(None, domain, path))}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CookiesView):
            return self._jar is other.jar
        if isinstance(other, Mapping):
            return self.get_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{m.key}={m.value!r} ({m['domain'] or '*'}{m['path']})"
                          for m in self.morsels())
        return f"<CookiesView [{inner}]>"

    # -- mutation --------------------------------------------------------------------

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def set(self, name: str, value: str | None, domain: str | None = None,
            path: str | None = None, **attributes: Any) -> None:
        """Store a cookie; without ``domain`` it is sent to every host.

        ``value=None`` removes the cookies named ``name`` (as in requests).
        Extra attributes (``secure=True``, ``expires=``, ``max_age=``) are Morsel
        attributes.
        """
        if value is None:
            self.clear(domain=domain, path=path, name=name)
            return
        _on_loop(partial(self._jar.set_cookie, name, value, domain, path, **attributes))

    def update(self, other: Any = (), /, **kwargs: str) -> None:  # type: ignore[override]
        """Store several cookies at once (a mapping, pairs, or another view)."""
        if isinstance(other, CookiesView):
            pairs: list[tuple[str, Any]] = [(m.key, m) for m in other.morsels()]
        else:
            pairs = cookie_pairs(other)  # a mapping, pairs, our jar, http.cookiejar's
        pairs.extend(kwargs.items())
        if pairs:
            _on_loop(self._jar.update_cookies, pairs)

    def __delitem__(self, name: str) -> None:
        def remove() -> bool:
            found = bool(self._jar.find(name))
            if found:
                self._jar.clear(self._jar.matcher(name))
            return found

        if not _on_loop(remove):
            raise KeyError(name)

    def clear(self, domain: str | None = None, path: str | None = None,  # type: ignore[override]
              name: str | None = None) -> None:
        """Remove every cookie, or those matching ``domain``, ``path`` and ``name``."""
        if domain is None and path is None and name is None:
            _on_loop(self._jar.clear)
            return
        _on_loop(self._jar.clear, self._jar.matcher(name, domain, path))
