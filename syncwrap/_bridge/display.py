"""How a Response shows itself in Jupyter and IPython: a compact, escaped summary.

:func:`summarize` gathers what a reader wants at a glance (status, method, URL,
content type, size, elapsed time, redirects); :func:`to_html` and :func:`to_text`
render it. Every value that came from the server or the URL goes through
``html.escape``, so a hostile URL, reason phrase or header cannot inject markup.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

__all__ = ["Summary", "format_duration", "format_size", "summarize", "to_html", "to_text"]


@dataclass(frozen=True)
class Summary:
    """What a Response's rich repr shows."""

    status: int
    reason: str
    method: str
    url: str
    content_type: str | None
    size: str  # "1.2 KiB", "1.2 KiB, not read yet" or "streamed"
    elapsed: timedelta
    redirects: int

    @property
    def headline(self) -> str:
        return f"{self.status} {self.reason}".rstrip()


def summarize(response: Any, body_size: int | None) -> Summary:
    """The summary of a facade Response; ``body_size`` is ``len(content)`` once read."""
    engine_response = response.engine_response
    if body_size is not None:
        size = format_size(body_size)
    elif engine_response.content_length is not None:
        size = f"{format_size(engine_response.content_length)}, streamed"
    else:
        size = "streamed"
    return Summary(
        status=response.status_code,
        reason=response.reason or "",
        method=response.request_info.method,
        url=response.url,
        content_type=response.headers.get("Content-Type"),
        size=size,
        elapsed=response.elapsed,
        redirects=len(engine_response.history),
    )


def format_size(size: int) -> str:
    """``532 B``, ``12.1 KiB``, ``3.4 MiB``..."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    units = iter(("MiB", "GiB", "TiB", "PiB"))
    unit = "KiB"
    while value >= 1024 and unit != "PiB":
        value /= 1024
        unit = next(units)
    return f"{value:.1f} {unit}"


def format_duration(elapsed: timedelta) -> str:
    """``850 µs``, ``12.3 ms`` or ``1.25 s``."""
    seconds = elapsed.total_seconds()
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _details(summary: Summary) -> list[str]:
    redirects = summary.redirects
    return [
        summary.content_type or "no content type",
        summary.size,
        format_duration(summary.elapsed),
        f"{redirects} redirect{'' if redirects == 1 else 's'}",
    ]


def to_text(summary: Summary) -> str:
    """One line, for IPython's text display."""
    details = " · ".join(_details(summary))
    return f"<Response [{summary.headline}] {summary.method} {summary.url} · {details}>"


_COLOURS = {2: "#1a7f37", 3: "#0969da", 4: "#bc4c00", 5: "#cf222e"}


def to_html(summary: Summary) -> str:
    """A two-line block for Jupyter's rich display; all server-given text is escaped."""
    colour = _COLOURS.get(summary.status // 100, "#57606a")
    esc = html.escape
    details = " · ".join(esc(part) for part in _details(summary))
    return (
        '<div class="syncwrap-response" style="font-family: monospace; line-height: 1.4">'
        f'<div><b style="color: {colour}">{esc(summary.headline)}</b> '
        f"{esc(summary.method)} <span>{esc(summary.url)}</span></div>"
        f'<div style="color: #57606a">{details}</div>'
        "</div>"
    )
