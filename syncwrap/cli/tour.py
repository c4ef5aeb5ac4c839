"""``syncwrap tour``: a guided walk through the blocking API against a local httpbin.

Each step shows the Python it runs, as you would type it at the ``>>>`` prompt,
and what came back. The code shown is exactly the code executed (in a fresh
namespace holding ``syncwrap`` and ``httpbin``, the base URL of the local
server). A step that fails is reported and the tour goes on; the exit status
is 1 if any step failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import pprint
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STEPS", "Step", "main", "run_tour"]

WIDTH = 78
MAX_RESULT_LINES = 10
STEP_TIME_LIMIT = 20.0  # a step still running after this is reported as failed


@dataclass
class Step:
    """One stop of the tour: a title, code chunks (shown and run) and hidden checks."""

    title: str
    chunks: list[str]
    checks: list[str] = field(default_factory=list)  # expressions; ``_out`` = printed text
    note: str = ""


def _has_brotli() -> bool:
    return any(importlib.util.find_spec(name) for name in ("brotli", "brotlicffi"))


def _first_steps() -> list[Step]:
    """The module-level verbs, a Session, request bodies and response fields."""
    return [
        Step(
            "Module-level get() with query parameters",
            [
                'r = syncwrap.get(f"{httpbin}/get", params={"q": "tour", "page": 2})',
                "r",
                "r.url",
                'r.json()["args"]',
            ],
            ['r.json()["args"] == {"q": "tour", "page": "2"}'],
        ),
        Step(
            "A Session with default headers",
            [
                's = syncwrap.Session(headers={"User-Agent": "tour/1.0", "X-Tour": "yes"})',
                'r = s.get(f"{httpbin}/headers", headers={"X-Extra": "per request"})',
                'h = r.json()["headers"]',
                'h["User-Agent"], h["X-Tour"], h["X-Extra"]',
                "s.close()",
            ],
            ['(h["User-Agent"], h["X-Tour"], h["X-Extra"]) == ("tour/1.0", "yes", "per request")'],
        ),
        Step(
            "POST a form, then JSON",
            [
                'r = syncwrap.post(f"{httpbin}/post", data={"name": "Ada", "lang": "py"})',
                'r.json()["form"]',
                'r2 = syncwrap.post(f"{httpbin}/post", json={"id": 7, "tags": ["a", "b"]})',
                'r2.json()["json"], r2.json()["headers"]["Content-Type"]',
            ],
            [
                'r.json()["form"] == {"name": "Ada", "lang": "py"}',
                'r2.json()["json"] == {"id": 7, "tags": ["a", "b"]}',
            ],
        ),
        Step(
            "Response fields",
            [
                'r = syncwrap.get(f"{httpbin}/json")',
                "r.status_code, r.reason, r.ok",
                'r.headers["content-type"]        # headers are case-insensitive',
                "len(r.content), type(r.content).__name__, type(r.text).__name__",
                'r.json()["slideshow"]["title"]',
                "r.elapsed.total_seconds() < 5, r.elapsed",
                'r3 = syncwrap.get(f"{httpbin}/encoding/utf8")',
                "r3.encoding, len(r3.content), len(r3.text)   # bytes vs characters",
            ],
            [
                "r.status_code == 200",
                'r3.encoding.lower() == "utf-8"',
                "len(r3.text) < len(r3.content)",
            ],
        ),
    ]


def _response_steps(codings: tuple[str, ...]) -> list[Step]:
    """Redirects, errors, timeouts, decoding and streaming."""
    return [
        Step(
            "Redirects and history",
            [
                'r = syncwrap.get(f"{httpbin}/redirect/3")',
                "r.status_code, r.url",
                '[(h.status_code, h.headers["Location"]) for h in r.history]',
                'r2 = syncwrap.get(f"{httpbin}/redirect/3", allow_redirects=False)',
                'r2.status_code, r2.is_redirect, r2.headers["Location"]',
            ],
            ["len(r.history) == 3", 'r.url.endswith("/get")', "r2.status_code == 302"],
        ),
        Step(
            "raise_for_status() raises syncwrap.HTTPError",
            [
                'r = syncwrap.get(f"{httpbin}/status/404")',
                "r.ok, r.status_code",
                "try:\n"
                "    r.raise_for_status()\n"
                "except syncwrap.HTTPError as exc:\n"
                '    print("HTTPError:", exc.status, exc.response.reason)',
            ],
            ['"HTTPError: 404" in _out'],
        ),
        Step(
            "Timeouts raise syncwrap.Timeout (a built-in TimeoutError)",
            [
                "try:\n"
                '    syncwrap.get(f"{httpbin}/delay/2", timeout=0.5)\n'
                "except syncwrap.Timeout as exc:\n"
                '    print(f"{type(exc).__name__}: {exc}")',
                "issubclass(syncwrap.Timeout, TimeoutError)",
                "# also: timeout=(connect, read), or ClientTimeout(total=, sock_read=)",
            ],
            ['"Timeout" in _out'],
        ),
        Step(
            "Compressed bodies are decoded for you",
            [
                f"for coding in {codings!r}:\n"
                '    r = syncwrap.get(f"{httpbin}/{coding}")\n'
                '    flags = [key for key, value in r.json().items() if value is True]\n'
                '    print(coding, "->", r.headers["Content-Encoding"], flags)',
            ],
            [f'_out.count("-> ") == {len(codings)} and "[]" not in _out'],
            note="" if _has_brotli() else "brotli is not installed: pip install brotli",
        ),
        Step(
            "Streaming with iter_lines() and iter_content()",
            [
                "import json, time",
                'with syncwrap.get(f"{httpbin}/stream/5", stream=True) as r:\n'
                '    ids = [json.loads(line)["id"] for line in r.iter_lines()]',
                "ids",
                "t0 = time.perf_counter()",
                'url = f"{httpbin}/drip?duration=0.2&numbytes=5"',
                "with syncwrap.get(url, stream=True) as r:\n"
                "    for chunk in r.iter_content(1):\n"
                '        print(f"{time.perf_counter() - t0:.2f} s  {chunk!r}")',
            ],
            ["ids == [0, 1, 2, 3, 4]", "_out.count(\"b'*'\") == 5"],
        ),
        Step(
            "r.raw is a readable file object",
            [
                "import io, shutil",
                "buf = io.BytesIO()",
                'with syncwrap.get(f"{httpbin}/bytes/50000?seed=1", stream=True) as r:\n'
                "    shutil.copyfileobj(r.raw, buf)",
                "len(buf.getvalue())",
            ],
            ["len(buf.getvalue()) == 50000"],
        ),
    ]


def _session_steps() -> list[Step]:
    """Authentication, cookies, threads and the engine underneath."""
    return [
        Step(
            "Basic authentication",
            [
                'url = f"{httpbin}/basic-auth/ada/s3cret"',
                'r = syncwrap.get(url, auth=("ada", "s3cret"))',
                "r.status_code, r.json()",
                'syncwrap.get(url, auth=syncwrap.BasicAuth("ada", "wrong")).status_code',
                'with syncwrap.Session(auth=("ada", "s3cret")) as s:\n'
                '    print(s.get(url).json())',
            ],
            ['r.json() == {"authenticated": True, "user": "ada"}'],
        ),
        Step(
            "Cookies live in a Session",
            [
                "# The jar is strict: no cookies from IP-address hosts such as",
                '# 127.0.0.1 unless unsafe=True (or use a name such as "localhost").',
                "s = syncwrap.Session(cookie_jar=syncwrap.CookieJar(unsafe=True))",
                'r = s.get(f"{httpbin}/cookies/set", params={"flavour": "oat"})',
                "r.history[0].cookies, r.json()   # set on the redirect, sent to /cookies",
                's.get(f"{httpbin}/cookies").json()',
                's.cookie_jar.filter_cookies(httpbin)["flavour"].value',
                "s.close()",
            ],
            [
                'r.json() == {"cookies": {"flavour": "oat"}}',
                'r.history[0].cookies == {"flavour": "oat"}',
            ],
        ),
        Step(
            "Threads share one Session",
            [
                "import time",
                "from concurrent.futures import ThreadPoolExecutor",
                "s = syncwrap.Session()",
                "def worker(n):\n"
                '    return sum(s.get(f"{httpbin}/get").ok for _ in range(n))',
                "t0 = time.perf_counter()",
                "with ThreadPoolExecutor(max_workers=8) as pool:\n"
                "    done = sum(pool.map(worker, [25] * 8))",
                'print(f"{done} requests, 8 threads, {time.perf_counter() - t0:.2f} s")',
                "s.close()",
            ],
            ["done == 200"],
        ),
        Step(
            "syncwrap.run(): the asyncio engine underneath",
            [
                "import asyncio",
                "async def statuses(paths):\n"
                "    async with syncwrap.engine.ClientSession() as session:\n"
                "        async def one(path):\n"
                '            async with session.get(f"{httpbin}{path}") as resp:\n'
                "                return resp.status\n"
                "        return await asyncio.gather(*(one(p) for p in paths))",
                'syncwrap.run(statuses(["/get", "/status/201", "/status/418"]))',
            ],
            ['_ == [200, 201, 418]'],
        ),
    ]


def build_steps() -> list[Step]:
    """Every stop of the tour, in order."""
    codings = ("gzip", "deflate", "brotli") if _has_brotli() else ("gzip", "deflate")
    return _first_steps() + _response_steps(codings) + _session_steps()


STEPS = build_steps()


# -- running ---------------------------------------------------------------------------------


class _Printer:
    """Collects a step's output so that a step's ``print`` lands in the right place."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.captured = io.StringIO()

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def user_print(self, *args: Any, sep: str = " ", end: str = "\n", **_: Any) -> None:
        text = sep.join(str(a) for a in args) + end
        self.captured.write(text)
        for line in text.rstrip("\n").split("\n"):
            self.line(_clip("    " + line))


def _clip(text: str) -> str:
    return text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."


def _show_code(printer: _Printer, chunk: str) -> None:
    for i, line in enumerate(chunk.split("\n")):
        prompt = ">>> " if i == 0 else "... "
        printer.line(("  " + prompt + line).rstrip())


def _show_value(printer: _Printer, value: Any) -> None:
    text = repr(value)
    if len(text) > WIDTH - 4:
        text = pprint.pformat(value, width=WIDTH - 4, compact=True, sort_dicts=False)
    lines = text.split("\n")
    if len(lines) > MAX_RESULT_LINES:
        lines = lines[: MAX_RESULT_LINES - 1] + ["..."]
    for line in lines:
        printer.line(_clip("    " + line))


def _run_chunk(chunk: str, namespace: dict[str, Any], printer: _Printer) -> None:
    try:
        code = compile(chunk, "<tour>", "eval")
    except SyntaxError:
        exec(compile(chunk, "<tour>", "exec"), namespace)
        return
    value = eval(code, namespace)
    if value is not None:
        namespace["_"] = value
        _show_value(printer, value)


def _run_step(step: Step, namespace: dict[str, Any], printer: _Printer) -> None:
    for chunk in step.chunks:
        _show_code(printer, chunk)
        _run_chunk(chunk, namespace, printer)
    namespace["_out"] = printer.captured.getvalue()
    for check in step.checks:
        if not eval(check, namespace):
            raise AssertionError(f"unexpected result: {check} is false")


def _close_sessions(namespace: dict[str, Any]) -> None:
    import syncwrap

    for value in list(namespace.values()):
        if isinstance(value, syncwrap.Session | syncwrap.Response):
            try:
                value.close()
            except Exception:
                pass


def _run_guarded(
    step: Step, namespace: dict[str, Any], printer: _Printer, name: str
) -> BaseException | None:
    """Run a step in a worker thread, bounded by STEP_TIME_LIMIT; returns what went wrong."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            _run_step(step, namespace, printer)
        except Exception as exc:
            errors.append(exc)

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(STEP_TIME_LIMIT)
    if worker.is_alive():  # left behind (a daemon thread): the tour goes on
        return TimeoutError(f"the step did not finish within {STEP_TIME_LIMIT:.0f} s")
    _close_sessions(namespace)
    return errors[0] if errors else None


def _heading(index: int, total: int, title: str) -> str:
    text = f"== {index}/{total}  {title} "
    return text + "=" * max(WIDTH - len(text), 3)


def run_tour(base_url: str, out: Any = None, steps: Sequence[Step] | None = None) -> int:
    """Walk through ``steps`` against the httpbin at ``base_url``; returns the failure count."""
    import syncwrap

    out = out if out is not None else sys.stdout
    steps = list(STEPS if steps is None else steps)
    printer = _Printer(out)
    failures: list[str] = []
    started = time.perf_counter()
    for index, step in enumerate(steps, 1):
        printer.captured = io.StringIO()
        printer.line()
        printer.line(_heading(index, len(steps), step.title))
        if step.note:
            printer.line(f"  (note: {step.note})")
        namespace: dict[str, Any] = {
            "__name__": "__tour__",
            "syncwrap": syncwrap,
            "httpbin": base_url,
            "print": printer.user_print,
        }
        failure = _run_guarded(step, namespace, printer, name=f"tour-step-{index}")
        if failure is not None:
            message = " ".join(str(failure).split()) or "(no message)"
            printer.line(_clip(f"  !! step failed: {type(failure).__name__}: {message}"))
            failures.append(step.title)
    elapsed = time.perf_counter() - started
    printer.line()
    printer.line("=" * WIDTH)
    if failures:
        printer.line(f"{len(failures)} of {len(steps)} steps failed ({elapsed:.1f} s):")
        for title in failures:
            printer.line(f"  - {title}")
    else:
        printer.line(f"All {len(steps)} steps passed in {elapsed:.1f} s.")
    return len(failures)


def main(argv: Sequence[str] | None = None) -> int:
    """``syncwrap tour``: start a local httpbin, run every step, exit 1 if any failed."""
    parser = argparse.ArgumentParser(
        prog="syncwrap tour",
        description="Start a local httpbin and walk through syncwrap's blocking API, "
        "showing each line of Python and its result.",
    )
    parser.parse_args(list(argv or []))
    from .httpbin import HttpbinMissing, serve

    try:
        server = serve()
    except HttpbinMissing as exc:
        print(f"syncwrap tour: error: {exc}", file=sys.stderr)
        return 1
    with server:
        print(f"syncwrap tour: a local httpbin is running at {server.url}")
        print("In the code below, `httpbin` is that URL and syncwrap is imported:")
        print(f"  >>> import syncwrap\n  >>> httpbin = {server.url!r}", flush=True)
        failed = run_tour(server.url)
    return 1 if failed else 0
