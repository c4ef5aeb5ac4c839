"""Downloads to a file: streamed to ``<name>.part``, verified, renamed into place.

:func:`download` does the file work in the calling thread (never on the loop
thread) with a streamed facade response; the HTTP rules of resuming (which
validator, Range and If-Range, what a 206, 200 or 416 means) are the engine's
(:mod:`syncwrap.engine.ranges`).

Files beside the target ``name``: ``name.part`` holds the bytes received so far and
``name.part.json`` the URL and validator they came with, so that a later call can
resume. The target is only ever written by an atomic ``os.replace`` of a complete,
verified ``.part``: after any failure it holds what it held before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from multidict import CIMultiDict

from ..engine.ranges import Action, Answer, read_answer, resume_headers, validator_of
from ..exceptions import ChecksumMismatchError, ClientPayloadError, ClientResponseError
from .progress import Reporter, reporter_for
from .response import Response

__all__ = ["download", "DEFAULT_CHUNK_SIZE"]

#: Bytes read and written at a time by default.
DEFAULT_CHUNK_SIZE = 65536
_FORCED = ("stream", "auto_decompress", "raise_for_status")
_RANGE_HEADERS = ("range", "if-range")


class _Checksum(NamedTuple):
    algorithm: str
    hexdigest: str

    def new(self) -> Any:
        return hashlib.new(self.algorithm)


def download(request: Callable[..., Response], url: Any, path: Any, *, resume: bool = True,
             progress: Any = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
             checksum: Any = None, request_kwargs: dict[str, Any]) -> Path:
    """Download ``url`` to ``path`` with ``request`` (a Session's ``request``) and
    return the target as a Path (see the module docs and Session.download)."""
    target = _target_path(path)
    if not isinstance(resume, bool):
        raise TypeError(f"resume=: expected a bool, got {type(resume).__name__}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"chunk_size=: expected a positive int, got {chunk_size!r}")
    expected = _checksum_option(checksum)
    headers = _headers_option(request_kwargs)
    reporter = reporter_for(progress, target.name)
    files = _PartFiles(target)
    try:
        hasher = _fetch(request, url, files, resume, headers, request_kwargs, chunk_size,
                        expected, reporter)
    finally:
        reporter.close()
    if expected is not None and hasher.hexdigest() != expected.hexdigest:
        files.discard()
        raise ChecksumMismatchError(expected.algorithm, expected.hexdigest, hasher.hexdigest())
    os.replace(files.part, target)
    files.forget()
    return target


def _fetch(request: Callable[..., Response], url: Any, files: _PartFiles, resume: bool,
           headers: CIMultiDict[str], kwargs: dict[str, Any], chunk_size: int,
           expected: _Checksum | None, reporter: Reporter) -> Any:
    """Request the bytes not held yet and save them to the part file; the hasher of
    the whole part file (a no-op hasher without ``checksum=``)."""
    offset, validator = files.held(url) if resume else (0, None)
    ranged = resume_headers(offset, validator)
    if not ranged:
        files.discard()
    call_headers = headers.copy()
    call_headers.update(ranged)
    with request("GET", url, headers=call_headers, stream=True, auto_decompress=False,
                 raise_for_status=False, **kwargs) as response:
        answer = read_answer(response.status_code, response.headers, offset if ranged else 0)
        if answer.action is Action.RETRY_FULL:  # the held part is not a prefix: start over
            response.close()
            files.discard()
            return _fetch(request, url, files, False, headers, kwargs, chunk_size, expected,
                          reporter)
        _check_status(response, answer)
        hasher = expected.new() if expected is not None else _NoHash()
        if answer.action is not Action.RESTART:
            files.hash_part(hasher, chunk_size)
        reporter.start(answer.start, answer.total)
        if answer.action is not Action.COMPLETE:
            files.remember(url, validator_of(response.headers))
            _receive(response, files.part, answer, hasher, reporter, chunk_size)
    return hasher


def _receive(response: Response, part: Path, answer: Answer, hasher: Any, reporter: Reporter,
             chunk_size: int) -> None:
    """Write the body to the part file (appended at ``answer.start``, or from byte 0).
    On failure the bytes received so far stay there, for a later resume."""
    done = answer.start
    with open(part, "ab" if answer.action is Action.APPEND else "wb") as out:
        for chunk in response.iter_content(chunk_size):
            out.write(chunk)
            hasher.update(chunk)
            done += len(chunk)
            reporter.advance(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if answer.total is not None and done != answer.total:
        raise ClientPayloadError(
            f"Download of {response.url} ended at byte {done} of {answer.total}")


def _check_status(response: Response, answer: Answer) -> None:
    """Only a 2xx body is a download; other statuses raise (HTTPError for 4xx/5xx)."""
    if answer.action is not Action.RESTART or 200 <= response.status_code < 300:
        return
    response.raise_for_status()
    raise ClientResponseError(
        response.request_info, tuple(response.history), status=response.status_code,
        message=f"Download of {response.url} got {response.status_code} {response.reason}",
        headers=response.headers, response=response)


class _NoHash:
    def update(self, data: bytes) -> None:
        pass


class _PartFiles:
    """The part file beside the target and its sidecar (the URL and validator)."""

    def __init__(self, target: Path) -> None:
        self.part = target.with_name(target.name + ".part")
        self.sidecar = target.with_name(target.name + ".part.json")

    def held(self, url: Any) -> tuple[int, str | None]:
        """The bytes held for ``url`` and their validator, or (0, None)."""
        try:
            saved = json.loads(self.sidecar.read_text("utf-8"))
            size = self.part.stat().st_size
        except (OSError, ValueError):
            return 0, None
        if not isinstance(saved, dict) or saved.get("url") != str(url):
            return 0, None
        validator = saved.get("validator")
        return (size, validator) if isinstance(validator, str) else (0, None)

    def remember(self, url: Any, validator: str | None) -> None:
        if validator is None:
            self.forget()
        else:
            self.sidecar.write_text(json.dumps({"url": str(url), "validator": validator}),
                                    "utf-8")

    def hash_part(self, hasher: Any, chunk_size: int) -> None:
        if isinstance(hasher, _NoHash):
            return
        with open(self.part, "rb") as held:
            while block := held.read(max(chunk_size, 1 << 20)):
                hasher.update(block)

    def forget(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.sidecar.unlink()

    def discard(self) -> None:
        self.forget()
        with contextlib.suppress(FileNotFoundError):
            self.part.unlink()


# -- arguments, checked at the call ------------------------------------------------------


def _target_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path=: expected a str or os.PathLike, got {type(path).__name__}")
    target = Path(os.fsdecode(path))
    if not target.name or target.is_dir():
        raise ValueError(f"path=: {str(path)!r} is a directory; give a file name")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"path=: the directory {str(target.parent)!r} does not exist")
    return target


def _checksum_option(checksum: Any) -> _Checksum | None:
    if checksum is None:
        return None
    if (not isinstance(checksum, tuple) or len(checksum) != 2
            or not all(isinstance(part, str) for part in checksum)):
        raise TypeError("checksum=: expected (algorithm, hexdigest), e.g. "
                        f"('sha256', '9f86...'), got {checksum!r}")
    algorithm, hexdigest = checksum
    try:
        hasher = hashlib.new(algorithm)
    except (ValueError, TypeError):
        raise ValueError(f"checksum=: unknown hash algorithm {algorithm!r} (one of "
                         f"{', '.join(sorted(hashlib.algorithms_guaranteed))})") from None
    digest = hexdigest.strip().lower()
    size = getattr(hasher, "digest_size", 0)
    if size == 0 or len(digest) != 2 * size or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"checksum=: {hexdigest!r} is not a {algorithm} hex digest")
    return _Checksum(algorithm, digest)


def _headers_option(kwargs: dict[str, Any]) -> CIMultiDict[str]:
    """The call's headers, with ``Accept-Encoding: identity`` unless given: the file is
    saved as served, and a range resumes those bytes."""
    for name in _FORCED:
        if name in kwargs:
            raise TypeError(f"download() does not take {name}=: a download is streamed, "
                            "saved as served and checks its status itself")
    given = kwargs.pop("headers", None)
    headers: CIMultiDict[str] = CIMultiDict(given or {})
    if any(name in headers for name in _RANGE_HEADERS):
        raise ValueError("headers=: download() sets Range and If-Range itself")
    headers.setdefault("Accept-Encoding", "identity")
    return headers
