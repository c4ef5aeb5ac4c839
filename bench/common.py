"""Shared pieces of the benchmark suite: the case spec, measurement helpers, payloads.

Both sides use this module: ``run.py`` (the orchestrator) builds :class:`Spec` objects and
``worker.py`` (one subprocess per measured case) executes them.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

RESULT_MARKER = "BENCH-RESULT "

MIB = 1 << 20
UPLOAD_CHUNK = MIB  # every client's upload generator yields bytes chunks of this size
DOWNLOAD_CHUNK = MIB  # sync clients' iter_content / stream chunk size
ASYNC_ITER_CHUNKED = 65536  # aiohttp-style iter_chunked(n)
SMALL_BODY_LEN = 100  # length of the /small response body


class Unavailable(Exception):
    """The client (or the API the case needs) is not installed / not implemented yet."""


class BadResponse(Exception):
    """The server answered something other than what the case expects."""


@dataclasses.dataclass
class Spec:
    """One measured case, serialised to JSON and handed to a worker subprocess."""

    group: str  # "engine" | "facade" | "upload" | "gzip" | "chunked" | "https" | "proxy" | "ws"
    case: str  # "seq" | "conc" | "threads" | "download" | "upload_gen" | "upload_file" | "rtt"
    #            | "download_gz" | "chunked" | "tls_seq" | "tls_threads" | "tls_download"
    #            | "tls_gz" | "tls_chunked" | "proxy_seq" | "proxy_download" | "tunnel_seq" | ...
    client: str  # "aiohttp", "httpx", "syncwrap.engine", "requests", "raw", ...
    base_url: str = ""
    variant: str = ""  # streaming method, e.g. "iter_any"
    loop: str = ""  # "asyncio" | "uvloop" for async clients, "" for sync ones
    count: int = 0  # request budget (seq / conc / threads / rtt); /big transfers (download)
    seconds: float = 0.0  # time budget (seq / conc / threads)
    concurrency: int = 1
    warmup: int = 0  # warm-up requests (per worker for conc / threads)
    size: int = 0  # body size for download / upload
    warm_size: int = 0  # body size of the warm-up transfer
    upload_url: str = ""  # the upload sink (bench/sink.py, or nginx's /upload)
    upload_exact: bool = True  # the sink answers the exact body size (nginx: $request_length)
    data_file: str = ""  # the file served as /big, also used for file uploads
    warm_file: str = ""  # the file served as /warm, also used for file upload warm-up
    pin_cpu: int = -1  # pin the worker to this CPU (-1: no pinning)
    proxy: str = ""  # the proxy group: URL of the forward proxy every request goes through
    ca_file: str = ""  # an https:// target (https, proxy groups): the CA to check it with
    server_pids: list[int] = dataclasses.field(default_factory=list)  # their CPU time is read

    @property
    def label(self) -> str:
        parts = [self.case, self.client]
        if self.variant:
            parts.append(self.variant)
        if self.loop:
            parts.append(self.loop)
        return " ".join(parts)


@dataclasses.dataclass
class Sample:
    """What a case measured in its timed section."""

    elapsed: float  # seconds
    ops: int = 0  # requests completed (or loop round trips for "rtt")
    nbytes: int = 0  # body bytes transferred
    rss_base: int = 0  # RSS in bytes right before the timed section
    cpu: float = 0.0  # this process's CPU time (user + system, all threads), seconds
    server_cpu: float = -1.0  # the servers' CPU time, seconds (-1: not known)
    steal: float = -1.0  # CPU time the hypervisor took from the machine, seconds (-1: not known)


# --------------------------------------------------------------------------- memory


def current_rss() -> int:
    """Resident set size of this process in bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss


def peak_rss() -> int:
    """Peak resident set size of this process in bytes.

    Uses VmHWM (the high-water mark of this process image) rather than ru_maxrss, because
    on Linux ru_maxrss can carry over the parent's peak across fork/vfork + exec.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --------------------------------------------------------------------------- timing


def process_family(pid: int) -> list[int]:
    """``pid`` and its children's process ids (a server's master and workers)."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if parent == pid:
                pids.append(int(entry))
    return pids


#: The server processes whose CPU time a Stopwatch reads (set by the worker from its Spec).
SERVER_PIDS: list[int] = []


def server_cpu_time() -> float:
    """CPU time of the processes in SERVER_PIDS (every thread), seconds; -1 if unknown.
    Read from ``schedstat`` (nanoseconds: the tick counts of ``stat`` are too coarse for a
    run of a second)."""
    if not SERVER_PIDS:
        return -1.0
    total = 0
    try:
        for pid in SERVER_PIDS:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return -1.0
    return total / 1e9


def steal_time() -> float:
    """CPU time the hypervisor took from this machine's CPUs (every CPU), seconds; -1 if
    unknown. A run during which it took much measured the host, not the client."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")  # cpu user nice system idle ... steal
    except (OSError, IndexError, ValueError):
        return -1.0


def cpu_time() -> float:
    """This process's CPU time (user + system, every thread), seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Stopwatch:
    """Records the RSS, the time and the CPU times (this process's, the servers') at the
    start of the timed section. The servers' CPU time says whether a case measured the
    client or the server: a server busy all the time bounds every client alike."""

    def __init__(self) -> None:
        self.rss_base = current_rss()
        self.server0 = server_cpu_time()
        self.steal0 = steal_time()
        self.cpu0 = cpu_time()
        self.t0 = time.perf_counter()

    def sample(self, ops: int = 0, nbytes: int = 0) -> Sample:
        elapsed = time.perf_counter() - self.t0
        cpu = cpu_time() - self.cpu0
        server = server_cpu_time()
        server = server - self.server0 if server >= 0 and self.server0 >= 0 else -1.0
        steal = steal_time()
        steal = steal - self.steal0 if steal >= 0 and self.steal0 >= 0 else -1.0
        return Sample(elapsed, ops, nbytes, self.rss_base, cpu, server, steal)


class Budget:
    """A request budget bounded both in count and in wall time (whichever runs out first)."""

    def __init__(self, count: int, seconds: float) -> None:
        self.left = count
        self.deadline = time.perf_counter() + seconds

    def take(self) -> bool:
        """Claim one request; False once the budget is spent. Thread-safe enough under the GIL
        for our purpose (an overshoot of a few requests is harmless: they are counted)."""
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.left -= 1
        return True


# --------------------------------------------------------------------------- payloads

_CHUNK = os.urandom(UPLOAD_CHUNK)


def _chunk_plan(size: int) -> tuple[int, bytes]:
    full, rest = divmod(size, UPLOAD_CHUNK)
    return full, _CHUNK[:rest]


def body_chunks(size: int) -> Iterator[bytes]:
    """Upload body generator: ``size`` bytes as UPLOAD_CHUNK-sized bytes objects.

    The same preallocated bytes object is yielded every time, so the generator itself costs
    nothing; whatever the client copies shows up in its numbers.
    """
    full, tail = _chunk_plan(size)
    for _ in range(full):
        yield _CHUNK
    if tail:
        yield tail


async def abody_chunks(size: int) -> AsyncIterator[bytes]:
    """Async twin of :func:`body_chunks` for async clients."""
    full, tail = _chunk_plan(size)
    for _ in range(full):
        yield _CHUNK
    if tail:
        yield tail


def check_upload_echo(body: bytes | str, size: int, exact: bool) -> None:
    """bench/sink.py answers the number of body bytes it received (``exact``); nginx's echo
    sink answers $request_length, i.e. request head + body + chunk framing (at least size)."""
    text = body.decode() if isinstance(body, (bytes, bytearray)) else body
    try:
        received = int(text.strip())
    except ValueError:
        raise BadResponse(f"upload sink answered {text[:80]!r}") from None
    if received < size or (exact and received != size):
        raise BadResponse(f"upload sink received {received} bytes, expected {size}")


def check_status(status: int) -> None:
    if status != 200:
        raise BadResponse(f"HTTP status {status}")


def check_length(got: int, expected: int) -> None:
    if got != expected:
        raise BadResponse(f"received {got} body bytes, expected {expected}")
