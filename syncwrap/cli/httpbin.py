"""A local httpbin for ``syncwrap tour``: the httpbin Flask app on a werkzeug thread.

``serve()`` starts it on 127.0.0.1 with an ephemeral port in a daemon thread and
returns an :class:`HttpbinServer` (``.url``, ``.port``, ``.close()``, usable as a
context manager). httpbin is an optional dependency: without it :func:`serve`
raises :class:`HttpbinMissing` with an install hint.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

__all__ = ["HttpbinMissing", "HttpbinServer", "load_app", "serve"]

INSTALL_HINT = "the tour needs httpbin and werkzeug: pip install httpbin"


class HttpbinMissing(RuntimeError):
    """httpbin (or werkzeug) is not installed."""


def load_app() -> Any:
    """Import httpbin's WSGI app quietly (no 'flasgger is not installed' warning)."""
    logging.getLogger("httpbin").setLevel(logging.ERROR)
    logging.getLogger("httpbin.core").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from httpbin import app
    except ImportError as exc:
        raise HttpbinMissing(f"{INSTALL_HINT} ({exc})") from None
    return app


class HttpbinServer:
    """httpbin served by a threaded werkzeug server on ``host``:ephemeral port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = load_app()
        try:
            from werkzeug.serving import make_server
        except ImportError as exc:  # pragma: no cover - httpbin depends on werkzeug
            raise HttpbinMissing(f"{INSTALL_HINT} ({exc})") from None
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.host = host
        self._server = make_server(host, port, app, threaded=True)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="httpbin-server",
            daemon=True,
        )
        self._thread.start()

    def url_for(self, host: str | None = None) -> str:
        """The base URL (no trailing slash), optionally naming the host differently."""
        return f"http://{host or self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.url_for()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HttpbinServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(host: str = "127.0.0.1", port: int = 0) -> HttpbinServer:
    """Start httpbin in a daemon thread and return the running server."""
    return HttpbinServer(host, port)
