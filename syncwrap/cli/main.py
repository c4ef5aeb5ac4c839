"""The ``syncwrap`` command: a small curl-like HTTP client, plus ``syncwrap tour``.

    syncwrap [METHOD] URL [-H 'K: V']... [-d DATA | --json JSON] [-o FILE] ...
    syncwrap tour

The body goes to stdout as raw bytes; ``-o FILE`` writes it to a file with a
progress bar on stderr. Exit status: 0 on success, 1 on a request error (or an
HTTP status >= 400 with ``--fail``), 2 on a usage error, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import stat
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

__all__ = ["main", "build_parser", "ProgressBar"]

PROG = "syncwrap"
CHUNK = 1024 * 1024  # -o reads the body in 1 MiB chunks
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

USAGE = (
    f"{PROG} [METHOD] URL [-H 'Name: value']... [-d DATA | --json JSON] [-o FILE]\n"
    f"{' ' * 15}[--stream] [-i] [-f] [--timeout S] [-k] [--no-follow] [-u USER:PASS]\n"
    f"       {PROG} tour"
)

DESCRIPTION = """\
Send one HTTP request with syncwrap and print the response body to stdout.
"syncwrap tour" instead starts a local httpbin and walks through the Python API."""

EPILOG = """\
DATA for -d and --json: a literal string, @FILE to stream a file, or - for stdin.
-d sends application/x-www-form-urlencoded and --json application/json unless a
-H 'Content-Type: ...' says otherwise. A URL without a scheme gets http://.

exit status: 0 success, 1 request error (or HTTP status >= 400 with --fail),
             2 usage error, 130 interrupted

examples:
  syncwrap https://example.org/
  syncwrap -i https://httpbin.org/get?q=1
  syncwrap https://httpbin.org/post -d 'name=ada&lang=py'
  syncwrap PUT https://httpbin.org/put --json '{"id": 1}' -H 'X-Trace: abc'
  syncwrap https://example.org/big.iso -o big.iso
  syncwrap tour"""

_METHOD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class UsageError(Exception):
    """Bad command-line input: reported through argparse (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target", nargs="+", metavar="[METHOD] URL",
        help="HTTP method (default GET, or POST with -d/--json) and URL",
    )
    parser.add_argument(
        "-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    body = parser.add_mutually_exclusive_group()
    body.add_argument(
        "-d", "--data", action="append", metavar="DATA",
        help="send DATA as a form body (repeatable: joined with &)",
    )
    body.add_argument("--json", metavar="JSON", help="send JSON (validated when literal)")
    parser.add_argument(
        "-o", "--output", metavar="FILE",
        help="write the body to FILE, with a progress bar on stderr",
    )
    parser.add_argument(
        "--stream", action="store_true", help="print the body as it arrives, chunk by chunk"
    )
    parser.add_argument(
        "-i", "--include", action="store_true",
        help="print the status line and headers before the body",
    )
    parser.add_argument(
        "-f", "--fail", action="store_true",
        help="exit with status 1, and print no body, when the HTTP status is >= 400",
    )
    parser.add_argument(
        "--timeout", type=_seconds, metavar="S",
        help="give up after S seconds in total (0: never; default: no total limit, "
        "30 s to connect, 300 s between reads)",
    )
    parser.add_argument(
        "-k", "--insecure", action="store_true", help="do not verify TLS certificates"
    )
    follow = parser.add_mutually_exclusive_group()
    follow.add_argument(
        "-L", "--location", dest="follow", action="store_true", default=True,
        help="follow redirects (the default)",
    )
    follow.add_argument(
        "--no-follow", dest="follow", action="store_false", help="do not follow redirects"
    )
    parser.add_argument(
        "--max-redirects", type=int, default=10, metavar="N",
        help="follow at most N redirects (default 10)",
    )
    parser.add_argument(
        "-u", "--user", metavar="USER:PASS", help="HTTP basic authentication"
    )
    parser.add_argument(
        "-s", "--silent", action="store_true", help="no progress bar with -o"
    )
    from .. import __version__

    parser.add_argument("-V", "--version", action="version", version=f"syncwrap {__version__}")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


# -- turning arguments into a request ------------------------------------------------------


def _split_target(target: list[str]) -> tuple[str | None, str]:
    if len(target) > 2:
        raise UsageError(f"expected [METHOD] URL, got {len(target)} arguments: {target!r}")
    if len(target) == 1:
        return None, target[0]
    method, url = target
    if not _METHOD_RE.fullmatch(method):
        raise UsageError(f"not an HTTP method: {method!r}")
    return method.upper(), url


def _normalize_url(url: str) -> str:
    if not url:
        raise UsageError("empty URL")
    if "://" not in url:
        url = "http://" + url.lstrip("/")
    return url


def parse_headers(values: Sequence[str]) -> list[tuple[str, str]]:
    headers = []
    for value in values:
        name, sep, rest = value.partition(":")
        name = name.strip()
        if not sep or not _HEADER_NAME_RE.fullmatch(name):
            raise UsageError(f"bad header {value!r}: expected 'Name: value'")
        rest = rest.strip()
        if any(c in rest for c in "\r\n\0"):
            raise UsageError(f"bad header {value!r}: the value holds a line break or NUL")
        headers.append((name, rest))
    return headers


def _has_header(headers: list[tuple[str, str]], name: str) -> bool:
    return any(key.lower() == name.lower() for key, _ in headers)


def _open_source(spec: str, opened: list[IO[bytes]]) -> Any:
    """'-' → stdin, '@path' → an open file (streamed), anything else → its UTF-8 bytes."""
    if spec == "-":
        stdin = sys.stdin.buffer
        try:
            regular = stat.S_ISREG(os.fstat(stdin.fileno()).st_mode)
        except (OSError, ValueError):
            regular = False
        # A regular file is streamed with its length; a pipe is read whole (as curl does) so
        # that a Content-Length can be sent: not every server accepts a chunked request body.
        return stdin if regular else stdin.read()
    if spec.startswith("@"):
        path = spec[1:]
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by main() after the request
        except OSError as exc:
            raise UsageError(f"cannot read {path!r}: {exc.strerror or exc}") from None
        opened.append(f)
        return f
    return spec.encode("utf-8")


def build_body(
    args: argparse.Namespace, headers: list[tuple[str, str]], opened: list[IO[bytes]]
) -> Any:
    """The request body (None, bytes or a file object), adding a Content-Type if needed."""
    if args.data:
        if len(args.data) == 1:
            body = _open_source(args.data[0], opened)
        elif any(d == "-" or d.startswith("@") for d in args.data):
            raise UsageError("-d @FILE or -d - can only be given once")
        else:
            body = "&".join(args.data).encode("utf-8")
        if not _has_header(headers, "Content-Type"):
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        return body
    if args.json is not None:
        body = _open_source(args.json, opened)
        if isinstance(body, bytes):
            try:
                json.loads(body)
            except ValueError as exc:
                raise UsageError(f"--json: not valid JSON ({exc})") from None
        if not _has_header(headers, "Content-Type"):
            headers.append(("Content-Type", "application/json"))
        if not _has_header(headers, "Accept"):
            headers.append(("Accept", "application/json"))
        return body
    return None


def _timeout(args: argparse.Namespace) -> Any:
    import syncwrap

    if args.timeout is None:
        return syncwrap.ClientTimeout(connect=30, sock_read=300)
    return syncwrap.ClientTimeout(total=args.timeout or None)


def _auth(args: argparse.Namespace) -> tuple[str, str] | None:
    if args.user is None:
        return None
    user, _, password = args.user.partition(":")
    return user, password


# -- output --------------------------------------------------------------------------------


def _format_head(response: Any) -> bytes:
    major, minor = response.version
    reason = f" {response.reason}" if response.reason else ""
    lines = [f"HTTP/{major}.{minor} {response.status_code}{reason}".encode("latin-1", "replace")]
    lines += [name + b": " + value for name, value in response.raw_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """A one-line progress bar redrawn with \\r at most ``rate`` times a second."""

    WIDTH = 20

    def __init__(self, total: int | None, stream: IO[str], rate: float = 10.0) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()
        self._interval = 1.0 / rate
        self._last_draw = -float("inf")
        self._last_len = 0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last_draw >= self._interval:
            self._draw(now)

    def finish(self) -> None:
        self._draw(time.monotonic())
        self.stream.write("\n")
        self.stream.flush()

    def render(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        speed = self.done / elapsed / 1e6
        total = self.total
        if total is not None and total >= self.done:
            fraction = self.done / total if total else 1.0
            filled = int(fraction * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            text = (f"[{bar}] {fraction * 100:5.1f}%  {_human(self.done)} / {_human(total)}"
                    f"  {speed:.1f} MB/s")
        else:
            text = f"{_human(self.done)}  {speed:.1f} MB/s"
        return text

    def _draw(self, now: float) -> None:
        self._last_draw = now
        text = self.render(now)
        pad = " " * max(self._last_len - len(text), 0)
        self._last_len = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()


def _content_length(response: Any) -> int | None:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return None  # the length of the encoded body, not of what we write
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _write_file(response: Any, path: str, silent: bool) -> None:
    try:
        out = open(path, "wb")  # noqa: SIM115
    except OSError as exc:
        raise _Failure(f"cannot write {path}: {exc.strerror or exc}") from None
    bar = None if silent else ProgressBar(_content_length(response), sys.stderr)
    with out:
        try:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.finish()


def _write_stdout(response: Any, flush_each: bool) -> None:
    out = sys.stdout.buffer
    chunks = response.iter_content(None) if flush_each else response.iter_content(65536)
    for chunk in chunks:
        out.write(chunk)
        if flush_each:
            out.flush()
    out.flush()


class _Failure(Exception):
    """A one-line error for stderr, exit status 1."""


def _error_line(exc: BaseException) -> str:
    """The exception as one line of text."""
    import syncwrap

    os_error = getattr(exc, "os_error", None)
    if (
        isinstance(exc, syncwrap.ClientConnectorError)
        and isinstance(os_error, OSError)
        and not isinstance(os_error, socket.gaierror)
        and (os_error.errno or 0) > 0
    ):
        # asyncio's strerror reads "Connect call failed ('127.0.0.1', 1)": name the errno.
        reason = os.strerror(os_error.errno)
        return f"Cannot connect to host {exc.host}:{exc.port} [{reason}]"
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    if not text:
        return name
    if isinstance(exc, TimeoutError) and "timeout" not in text.lower():
        return f"{name}: {text}"
    return text


def _perform(args: argparse.Namespace) -> int:
    method, url = _split_target(args.target)
    url = _normalize_url(url)
    headers = parse_headers(args.header)
    opened: list[IO[bytes]] = []
    try:
        body = build_body(args, headers, opened)
        if method is None:
            method = "GET" if body is None else "POST"
        import syncwrap

        kwargs: dict[str, Any] = {
            "headers": headers,
            "timeout": _timeout(args),
            "allow_redirects": args.follow,
            "max_redirects": args.max_redirects,
            "stream": True,
        }
        if body is not None:
            kwargs["data"] = body
        if args.insecure:
            kwargs["verify"] = False
        auth = _auth(args)
        if auth is not None:
            kwargs["auth"] = auth
        try:
            response = syncwrap.request(method, url, **kwargs)
        except syncwrap.InvalidURL as exc:
            raise UsageError(_error_line(exc)) from None
    finally:
        for f in opened:
            f.close()

    with response:
        if args.include:
            head = b"".join(_format_head(r) for r in response.history)
            sys.stdout.buffer.write(head + _format_head(response))
            sys.stdout.buffer.flush()
        if args.fail and response.status_code >= 400:
            reason = f" {response.reason}" if response.reason else ""
            raise _Failure(f"the server returned {response.status_code}{reason} for {response.url}")
        if args.output and args.output != "-":
            _write_file(response, args.output, args.silent)
        else:
            _write_stdout(response, args.stream)
    return EXIT_OK


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit-time flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["tour"]:
            from . import tour

            return tour.main(argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv)
        try:
            return _perform(args)
        except UsageError as exc:
            parser.print_usage(sys.stderr)
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except _Failure as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except BrokenPipeError:
            _quiet_stdout()
            return EXIT_ERROR
        except Exception as exc:
            import syncwrap

            if isinstance(exc, syncwrap.ClientError):
                print(f"{PROG}: error: {_error_line(exc)}", file=sys.stderr)
                return EXIT_ERROR
            raise
    except KeyboardInterrupt:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            _quiet_stdout()
        return EXIT_INTERRUPTED


def run() -> None:
    """Entry point for ``python -m syncwrap``."""
    sys.exit(main())
