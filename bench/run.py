"""syncwrap benchmark suite: entry point.

    python bench/run.py [--quick] [--only engine|facade|upload|gzip|proxy|ws|https|chunked|fanout]
                        [--case CASE] [--reps N] [--size MIB] [--json PATH]

Starts a private nginx on 127.0.0.1 (bench/nginx.py; for the https and proxy groups also its
TLS listeners with a trustme certificate, bench/tls.py; for the proxy group a private
tinyproxy, bench/proxy.py; for the ws group a WebSocket echo server,
bench/ws_echo.py), runs every case of the selected groups
in its own subprocess (bench/worker.py), several times, and prints one table per group. See
bench/README.md for what each case does and how the numbers are taken.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from common import BENCH_DIR, MIB, REPO_ROOT, RESULT_MARKER, Spec

WORKER = BENCH_DIR / "worker.py"
MEMORY_CAP = 4 << 30  # a worker above this RSS is killed (a client buffering without bound)
RSS_TARGET = 64 * MIB
# A run whose machine lost STEAL_NOTED of its CPU time to the host (steal) is noted; one that
# lost STEAL_REPEAT measured the host, not the client, and is run again, at most
# STEAL_RETRIES times (the last attempt counts anyway).
STEAL_NOTED = 0.02
STEAL_REPEAT = 0.05
STEAL_RETRIES = 2
LOOPS = ("asyncio", "uvloop")
GROUPS = ("engine", "facade", "upload", "gzip", "proxy", "ws", "https", "chunked", "fanout")
ASYNC_DOWNLOAD_VARIANTS = {
    "syncwrap.engine": ("iter_any", "iter_chunked"),
    "aiohttp": ("iter_chunked", "iter_any"),
    "httpx.AsyncClient": ("aiter_raw", "aiter_bytes"),
}
SYNC_DOWNLOAD_VARIANT = {
    "syncwrap.Session": "iter_content",
    "requests.Session": "iter_content",
    "httpx.Client": "iter_bytes",
    "urllib3.PoolManager": "stream",
    "urllib3.ProxyManager": "stream",
}
RAW = "raw socket"
RAW_VARIANT = "recv_into"
SYNC_CLIENTS = ("syncwrap.Session", "requests.Session", "httpx.Client", "urllib3.PoolManager")
ASYNC_CLIENTS = ("syncwrap.engine", "aiohttp", "httpx.AsyncClient")
UPLOAD_CLIENTS = ("syncwrap.Session", "syncwrap.engine", "requests.Session", "httpx.Client",
                  "urllib3.PoolManager", "aiohttp")
OTHER_UPLOADERS = tuple(c for c in UPLOAD_CLIENTS if not c.startswith("syncwrap"))
#: The gzip download: every client decodes /big.gz (the variants that decode).
GZIP_ASYNC_VARIANTS = {
    "syncwrap.engine": ("iter_any", "iter_chunked"),
    "aiohttp": ("iter_chunked", "iter_any"),
    "httpx.AsyncClient": ("aiter_bytes",),
}
#: The proxy group: every client through the same tinyproxy, async ones on asyncio's loop.
PROXY_ROUTES = ("proxy", "tunnel")  # absolute-form to an http:// target; CONNECT to https://
PROXY_SYNC_CLIENTS = ("syncwrap.Session", "requests.Session", "httpx.Client",
                      "urllib3.ProxyManager")
PROXY_ASYNC_VARIANT = {"syncwrap.engine": "iter_any", "aiohttp": "iter_any",
                       "httpx.AsyncClient": "aiter_raw"}
BYTES_CASES = ("download", "download_gz", "upload_gen", "upload_file", "proxy_download",
               "tunnel_download", "ws_mib", "chunked", "tls_download", "tls_gz", "tls_chunked")
#: The ws group: async clients on both loops, sync clients; each against bench/ws_echo.py.
WS_ASYNC = ("syncwrap.engine", "aiohttp", "websockets")
WS_SYNC = ("syncwrap.Session", "websockets.sync")
WS_CASES = ("ws_rtt", "ws_mib")
#: The https group (TLS to nginx, every client verifying the run's CA) and the chunked group
#: (plain HTTP, 64 KiB chunks): every client, async ones on both loops, one download variant
#: each (the async ones decode gzip with these).
USER_ASYNC_VARIANT = {"syncwrap.engine": "iter_any", "aiohttp": "iter_any",
                      "httpx.AsyncClient": "aiter_bytes"}
HTTPS_CASES = ("tls_seq", "tls_threads", "tls_download", "tls_gz", "tls_chunked")
#: Many threads on one client (async clients: as many tasks on one session), plain and HTTPS.
THREADS_CASES = ("threads", "tls_threads")
CHUNKED_CASES = ("chunked",)
VARIANT_LABEL = {"iter_chunked": "iter_chunked(65536)", "iter_content": "iter_content(1 MiB)",
                 "iter_bytes": "iter_bytes(1 MiB)", "stream": "stream(1 MiB)"}


@dataclasses.dataclass(frozen=True)
class Profile:
    reps: int
    raw_reps: int  # the raw floors: cheap, and every "vs raw" ratio leans on them
    size: int  # /big and upload size
    warm_size: int
    seq_count: int
    seq_seconds: float
    seq_warmup: int
    conc: int
    conc_count: int
    conc_seconds: float
    conc_warmup: int  # per task
    threads: int
    threads_count: int
    threads_seconds: float
    threads_warmup: int  # per thread
    rtt_count: int
    rtt_warmup: int
    downloads: int  # /big transfers per download run, timed together
    timeout: float  # per worker process


FULL = Profile(reps=3, raw_reps=5, size=256 * MIB, warm_size=32 * MIB,
               seq_count=20000, seq_seconds=3.0, seq_warmup=200,
               conc=256, conc_count=20000, conc_seconds=6.0, conc_warmup=2,
               threads=16, threads_count=10000, threads_seconds=10.0, threads_warmup=5,
               rtt_count=20000, rtt_warmup=1000, downloads=4, timeout=180.0)
QUICK = Profile(reps=1, raw_reps=1, size=16 * MIB, warm_size=2 * MIB,
                seq_count=300, seq_seconds=0.2, seq_warmup=20,
                conc=256, conc_count=1000, conc_seconds=0.5, conc_warmup=1,
                threads=16, threads_count=400, threads_seconds=0.5, threads_warmup=2,
                rtt_count=2000, rtt_warmup=100, downloads=1, timeout=30.0)


# --------------------------------------------------------------------------- results


def metric(spec: Spec, run: dict[str, Any]) -> float:
    if spec.case == "rtt":
        return run["elapsed"] / run["ops"] * 1e6
    if spec.case in BYTES_CASES:
        return run["nbytes"] / run["elapsed"] / MIB
    return run["ops"] / run["elapsed"]


def unit(spec: Spec) -> str:
    if spec.case == "rtt":
        return "µs/call"
    if spec.case == "ws_rtt":
        return "msg/s"
    if spec.case in BYTES_CASES:
        return "MiB/s"  # download_gz: decoded bytes
    return "req/s"


def counts(run: dict[str, Any]) -> bool:
    """Whether a run counts: it succeeded and did some work in measurable time."""
    return run["status"] == "ok" and run.get("elapsed", 0) > 0 and run.get("ops", 0) > 0


@dataclasses.dataclass
class Outcome:
    """All repetitions of one case. value = the best run (highest throughput or lowest
    latency); RSS figures = the worst (highest) over the successful runs."""

    spec: Spec
    runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    repeated: int = 0  # runs thrown away and run again: the host took the CPUs (steal)

    @property
    def ok_runs(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if counts(r)]

    @property
    def values(self) -> list[float]:
        return [metric(self.spec, r) for r in self.ok_runs]

    @property
    def value(self) -> float | None:
        values = self.values
        if not values:
            return None
        return min(values) if self.spec.case == "rtt" else max(values)

    @property
    def median(self) -> float | None:
        values = self.values
        return statistics.median(values) if values else None

    @property
    def spread(self) -> float | None:
        values = self.values
        if len(values) < 2:
            return None
        return (max(values) - min(values)) / max(values)

    @property
    def cpu_per_op(self) -> float | None:
        """Median CPU time of the client process (user + system, all threads), in µs per MiB
        (byte cases) or per request / round trip."""
        costs = []
        for r in self.ok_runs:
            if "cpu" in r:
                amount = r["nbytes"] / MIB if self.spec.case in BYTES_CASES else r["ops"]
                costs.append(r["cpu"] * 1e6 / amount if amount else 0.0)
        return statistics.median(costs) if costs else None

    @property
    def server_busy(self) -> float | None:
        """Median share of the timed section the servers spent on a CPU (1.0: a server was
        busy all the time, so the server set the pace, not the client)."""
        busy = [r["server_cpu"] / r["elapsed"] for r in self.ok_runs
                if r.get("server_cpu", -1) >= 0]
        return statistics.median(busy) if busy else None

    @property
    def stolen_runs(self) -> int:
        """Runs during which the hypervisor took at least STEAL_NOTED of the CPUs' time."""
        return sum(1 for r in self.ok_runs if (steal_share(r) or 0.0) >= STEAL_NOTED)

    @property
    def rss_peak(self) -> int | None:
        return max((r["rss_peak"] for r in self.ok_runs), default=None)

    @property
    def rss_delta(self) -> int | None:
        return max((max(0, r["rss_peak"] - r["rss_base"]) for r in self.ok_runs), default=None)

    @property
    def status(self) -> str:
        if self.ok_runs:
            return "ok"
        return self.runs[0]["status"] if self.runs else "not run"

    @property
    def problems(self) -> list[str]:
        return sorted({f"{r['status']}: {r.get('reason', '')}" for r in self.runs
                       if r["status"] != "ok"})


def spec_key(spec: Spec) -> tuple[str, str, str, str]:
    return spec.case, spec.client, spec.variant, spec.loop


# --------------------------------------------------------------------------- running workers


def run_worker(spec: Spec, timeout: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter; bounded in time and memory."""
    psutil = _PSUTIL
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, str(WORKER), json.dumps(dataclasses.asdict(spec))],
                                stdout=out, stderr=err, cwd=str(REPO_ROOT))
        killed = ""
        try:
            watched = _watch(psutil, proc.pid)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() > deadline:
                    killed = f"timeout: still running after {timeout:.0f} s"
                elif watched is not None and _rss(watched) > MEMORY_CAP:
                    killed = f"error: RSS above {MEMORY_CAP >> 20} MiB"
                if killed:
                    proc.kill()
                    proc.wait()
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if killed:
            status, reason = killed.split(": ", 1)
            return {"status": status, "reason": reason}
        out.seek(0)
        for line in reversed(out.read().decode(errors="replace").splitlines()):
            if line.startswith(RESULT_MARKER):
                return json.loads(line[len(RESULT_MARKER):])
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
        return {"status": "error",
                "reason": f"worker exited {proc.returncode}: {' | '.join(tail)}"[:300]}


def _watch(psutil: Any, pid: int) -> Any:
    if psutil is None:
        return None
    try:
        return psutil.Process(pid)
    except psutil.Error:  # already gone
        return None


def _rss(process: Any) -> int:
    try:
        return process.memory_info().rss
    except Exception:  # the process may just have exited
        return 0


_PSUTIL: Any = None  # the psutil module once ensure_psutil() found or installed it


def ensure_psutil() -> None:
    """psutil watches the workers' memory; installed with pip when missing."""
    global _PSUTIL
    try:
        import psutil
    except ImportError:
        print("bench: installing psutil", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "psutil"], check=False)
        importlib.invalidate_caches()
        try:
            import psutil
        except ImportError:
            print("bench: psutil unavailable; workers are bounded in time only", file=sys.stderr)
            return
    _PSUTIL = psutil


def steal_share(run: dict[str, Any]) -> float | None:
    """The share of the machine's CPU time the hypervisor took during a timed section."""
    steal, elapsed = run.get("steal", -1), run.get("elapsed", 0)
    if steal < 0 or not elapsed:
        return None
    return float(steal / (elapsed * (os.cpu_count() or 1)))


def _steal_note(run: dict[str, Any]) -> str:
    share = steal_share(run)
    return "" if share is None or share < STEAL_NOTED else f", host steal {share:.0%}"


def reps_for(spec: Spec, profile: Profile) -> int:
    """The raw floors take well under a second and every ratio leans on them: they run more
    often so that one unlucky run does not set the floor."""
    return profile.raw_reps if spec.client == RAW else profile.reps


def run_group(name: str, specs: list[Spec], profile: Profile,
              results: dict[tuple[str, str, str, str], Outcome]) -> None:
    """Run every spec ``profile.reps`` times, interleaved (rep 1 of all, then rep 2, ...) so
    slow drifts of the machine spread evenly over the clients. Cases already measured in this
    invocation (the raw floor is shared by groups) are not run again."""
    todo = [s for s in specs if spec_key(s) not in results]
    for spec in todo:
        results[spec_key(spec)] = Outcome(spec)
    total = sum(reps_for(s, profile) for s in todo)
    done = 0
    for rep in range(max((reps_for(s, profile) for s in todo), default=0)):
        for spec in todo:
            outcome = results[spec_key(spec)]
            if rep >= reps_for(spec, profile) or (rep and outcome.status == "n/a"):
                continue  # done, or not available: no point asking again
            done += 1
            for attempt in range(1 + STEAL_RETRIES):
                run = run_worker(spec, profile.timeout)
                stolen = run["status"] == "ok" and (steal_share(run) or 0.0) >= STEAL_REPEAT
                if stolen and attempt < STEAL_RETRIES:
                    outcome.repeated += 1
                    print(f"  [{name} {done}/{total}] {spec.label}: repeated, the host took "
                          f"{steal_share(run):.0%} of the CPUs' time", file=sys.stderr, flush=True)
                    continue
                break
            run["round_of"] = name  # the group whose rounds this run was in (_paired_ratio)
            outcome.runs.append(run)
            if run["status"] == "ok":
                shown = (f"{metric(spec, run):,.1f} {unit(spec)}, "
                         f"peak RSS {fmt_mib(run['rss_peak'])}{_steal_note(run)}")
            else:
                shown = f"{run['status']}: {run.get('reason', '')}"[:120]
            print(f"  [{name} {done}/{total}] {spec.label}: {shown}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- specs


def engine_specs(p: Profile, base: dict[str, Any]) -> list[Spec]:
    specs = []
    for loop in LOOPS:
        for client in ASYNC_CLIENTS:
            specs.append(Spec(group="engine", case="seq", client=client, loop=loop,
                              count=p.seq_count, seconds=p.seq_seconds, warmup=p.seq_warmup,
                              **base))
            specs.append(Spec(group="engine", case="conc", client=client, loop=loop,
                              count=p.conc_count, seconds=p.conc_seconds, warmup=p.conc_warmup,
                              concurrency=p.conc, **base))
            for variant in ASYNC_DOWNLOAD_VARIANTS[client]:
                specs.append(Spec(group="engine", case="download", client=client, loop=loop,
                                  variant=variant, count=p.downloads, **base))
    return specs + raw_specs(p, base)


def raw_specs(p: Profile, base: dict[str, Any]) -> list[Spec]:
    return [
        Spec(group="raw", case="seq", client=RAW, count=p.seq_count, seconds=p.seq_seconds,
             warmup=p.seq_warmup, **base),
        Spec(group="raw", case="download", client=RAW, variant=RAW_VARIANT, count=p.downloads,
             **base),
    ]


def facade_specs(p: Profile, base: dict[str, Any]) -> list[Spec]:
    specs = []
    for client in SYNC_CLIENTS:
        specs.append(Spec(group="facade", case="seq", client=client, count=p.seq_count,
                          seconds=p.seq_seconds, warmup=p.seq_warmup, **base))
        specs.append(Spec(group="facade", case="download", client=client,
                          variant=SYNC_DOWNLOAD_VARIANT[client], count=p.downloads, **base))
    rtt = dict(group="facade", case="rtt", count=p.rtt_count, warmup=p.rtt_warmup, **base)
    specs.append(Spec(client="syncwrap.run", **rtt))
    for loop in LOOPS:
        specs.append(Spec(client="reference thread", loop=loop, **rtt))
    # 16 threads on one Session against aiohttp's (and the engine's) 16 tasks on one session
    specs += user_specs("facade", ("threads",), p, base)
    return specs + raw_specs(p, base)


def gzip_specs(p: Profile, base: dict[str, Any]) -> list[Spec]:
    """The gzip download: /big.gz decoded by every client (decoded bytes are counted)."""
    specs = []
    for loop in LOOPS:
        for client, variants in GZIP_ASYNC_VARIANTS.items():
            for variant in variants:
                specs.append(Spec(group="gzip", case="download_gz", client=client, loop=loop,
                                  variant=variant, count=p.downloads, **base))
    for client in SYNC_CLIENTS:
        specs.append(Spec(group="gzip", case="download_gz", client=client,
                          variant=SYNC_DOWNLOAD_VARIANT[client], count=p.downloads, **base))
    return specs


@dataclasses.dataclass(frozen=True)
class ProxySetup:
    proxy: str  # tinyproxy's URL
    plain_url: str  # nginx's proxied server, plain HTTP (absolute-form requests)
    tls_url: str  # the same over TLS (CONNECT tunnel)
    ca_file: str  # the CA of nginx's certificate


def proxy_specs(p: Profile, base: dict[str, Any], setup: ProxySetup) -> list[Spec]:
    """Sequential GETs of /small and the /big download, through the proxy (plain target) and
    through a CONNECT tunnel (TLS target), every client plus the raw client (the proxy's
    own limit)."""
    specs = []
    for route in PROXY_ROUTES:
        where = dict(base, base_url=setup.plain_url if route == "proxy" else setup.tls_url,
                     proxy=setup.proxy, ca_file=setup.ca_file if route == "tunnel" else "")
        clients = [(c, "", SYNC_DOWNLOAD_VARIANT[c]) for c in PROXY_SYNC_CLIENTS]
        clients += [(c, "asyncio", v) for c, v in PROXY_ASYNC_VARIANT.items()]
        clients.append((RAW, "", RAW_VARIANT))
        for client, loop, variant in clients:
            specs.append(Spec(group="proxy", case=f"{route}_seq", client=client, loop=loop,
                              count=p.seq_count, seconds=p.seq_seconds, warmup=p.seq_warmup,
                              **where))
            specs.append(Spec(group="proxy", case=f"{route}_download", client=client, loop=loop,
                              variant=variant, count=p.downloads, **where))
    return specs


def user_specs(group: str, cases: Iterable[str], p: Profile, base: dict[str, Any]) -> list[Spec]:
    """The https and chunked groups, and the facade group's 16 threads: every case for every
    client (the raw floor too, but for 16 threads: it has one connection)."""
    clients = [(c, loop, USER_ASYNC_VARIANT[c]) for loop in LOOPS for c in ASYNC_CLIENTS]
    clients += [(c, "", SYNC_DOWNLOAD_VARIANT[c]) for c in SYNC_CLIENTS]
    clients.append((RAW, "", RAW_VARIANT))
    specs = []
    for case in cases:
        for client, loop, variant in clients:
            kw: dict[str, Any]
            if case == "tls_seq":
                kw = dict(count=p.seq_count, seconds=p.seq_seconds, warmup=p.seq_warmup)
            elif case in THREADS_CASES:
                if client == RAW:
                    continue
                kw = dict(count=p.threads_count, seconds=p.threads_seconds,
                          warmup=p.threads_warmup, concurrency=p.threads)
            else:
                kw = dict(variant=variant, count=p.downloads)
            specs.append(Spec(group=group, case=case, client=client, loop=loop, **kw, **base))
    return specs


def ws_specs(p: Profile, base: dict[str, Any]) -> list[Spec]:
    """Echo round trips of a small text message, one at a time, and 1 MiB binary messages
    (``size // 1 MiB`` of them), against the echo server (``base_url`` is its ws:// URL)."""
    rtt = dict(group="ws", case="ws_rtt", count=p.seq_count, seconds=p.seq_seconds,
               warmup=p.seq_warmup, **base)
    mib = dict(group="ws", case="ws_mib", count=p.size // MIB, seconds=60.0, warmup=4,
               **dict(base, size=MIB))
    specs = []
    for loop in LOOPS:
        for client in WS_ASYNC:
            specs += [Spec(client=client, loop=loop, **rtt), Spec(client=client, loop=loop, **mib)]
    for client in WS_SYNC:
        specs += [Spec(client=client, **rtt), Spec(client=client, **mib)]
    return specs


def upload_specs(p: Profile, base: dict[str, Any]) -> list[Spec]:
    specs = []
    for case in ("upload_gen", "upload_file"):
        for client in (*UPLOAD_CLIENTS, RAW):
            loop = "asyncio" if client in ASYNC_CLIENTS else ""
            variant = ("sendall" if case == "upload_gen" else "sendfile") if client == RAW else ""
            specs.append(Spec(group="upload", case=case, client=client, loop=loop,
                              variant=variant, **base))
    return specs


# --------------------------------------------------------------------------- reporting


def fmt_mib(n: int | None) -> str:
    return "-" if n is None else f"{n / MIB:.1f} MiB"


def fmt_value(o: Outcome) -> str:
    if o.value is None:
        return {"ok": "?", "n/a": "n/a", "error": "ERROR", "timeout": "TIMEOUT"}.get(
            o.status, o.status)
    digits = 1 if o.spec.case == "rtt" else 0
    return f"{o.value:,.{digits}f} {unit(o.spec)}"


def fmt_ratio(a: Outcome | None, b: Outcome | None) -> str:
    if a is None or b is None or a.value is None or b.value is None or b.value == 0:
        return ""
    return f"{a.value / b.value:.2f}"


def fmt_spread(o: Outcome) -> str:
    return "-" if o.spread is None else f"{o.spread * 100:.0f}%"


def client_label(spec: Spec) -> str:
    if spec.variant:
        return f"{spec.client} {VARIANT_LABEL.get(spec.variant, spec.variant)}"
    return spec.client


def render(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    numeric = [i >= 2 for i in range(len(headers))]  # first two columns are names

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def stats_cells(o: Outcome) -> list[str]:
    median = "" if o.median is None or len(o.values) < 2 else (
        f"{o.median:,.{1 if o.spec.case == 'rtt' else 0}f}")
    cpu = o.cpu_per_op
    cost = "-" if cpu is None else (
        f"{cpu:,.0f} µs/MiB" if o.spec.case in BYTES_CASES else f"{cpu:,.1f} µs/op")
    busy = "-" if o.server_busy is None else f"{o.server_busy * 100:.0f}%"
    return [fmt_value(o), median, fmt_spread(o), fmt_mib(o.rss_peak), fmt_mib(o.rss_delta),
            cost, busy]


def problems_text(outcomes: Iterable[Outcome]) -> str:
    lines, stolen = [], []
    for o in outcomes:
        for problem in o.problems:
            lines.append(f"  {o.spec.label}: {problem}")
        if o.stolen_runs or o.repeated:
            stolen.append(f"{o.spec.label} {o.stolen_runs}/{len(o.ok_runs)}"
                          + (f" ({o.repeated} repeated)" if o.repeated else ""))
    text = ("not measured / failed:\n" + "\n".join(lines)) if lines else ""
    if stolen:
        text += ("\n" if text else "") + (
            f"runs during which the host took >= {STEAL_NOTED:.0%} of the CPUs' time (steal; "
            f"repeated at >= {STEAL_REPEAT:.0%}): "
            + ", ".join(stolen))
    return text


def verdict(ratio: float | None, target: float, more_is_better: bool = True) -> str:
    if ratio is None:
        return "n/a"
    ok = ratio >= target if more_is_better else ratio < target
    return "PASS" if ok else "MISS"


def _ratio_value(a: Outcome | None, b: Outcome | None) -> float | None:
    if a is None or b is None or a.value is None or not b.value:
        return None
    return a.value / b.value


def _median_ratio(a: Outcome | None, b: Outcome | None) -> float | None:
    if a is None or b is None or a.median is None or not b.median:
        return None
    return a.median / b.median


def _paired_ratio(a: Outcome | None, b: Outcome | None) -> float | None:
    """The median over rounds of ``a``'s result over ``b``'s in the same round. Rounds are
    interleaved, so a pair saw the same state of the host: on a noisy host this moves less
    than the ratio of the medians. None when the two were not run in the same group's rounds
    (the raw floor and aiohttp's sequential runs are run once per invocation, by the first
    group that needs them)."""
    if a is None or b is None:
        return None
    rounds = zip(a.runs, b.runs, strict=False)  # the raw floor may have more runs
    pairs = [metric(a.spec, x) / metric(b.spec, y) for x, y in rounds
             if counts(x) and counts(y) and _round_of(a, x) == _round_of(b, y)]
    return statistics.median(pairs) if pairs else None


def _round_of(outcome: Outcome, run: dict[str, Any]) -> str:
    return run.get("round_of", outcome.spec.group)  # JSON of older runs: the case's group


def _target(a: Outcome | None, b: Outcome | None, target: float) -> str:
    """``best R1, median R2 (target >= T) PASS|MISS`` (PASS when both meet the target),
    then the paired ratio (:func:`_paired_ratio`), shown beside the verdict."""
    best, median = _ratio_value(a, b), _median_ratio(a, b)
    ok = verdict(best, target) == verdict(median, target) == "PASS"
    result = "n/a" if best is None else "PASS" if ok else "MISS"  # n/a: not measured
    paired = _paired_ratio(a, b)
    return (f"best {_fmt_opt(best)}, median {_fmt_opt(median)} (target >= {target:.2f}) "
            f"{result}" + ("" if paired is None else f"; paired by round {paired:.2f}"))


def _cost_line(a: Outcome | None, b: Outcome | None) -> str:
    """The client's own cost beside a wall-clock target: CPU per MiB (or per request) of
    ``a`` and ``b``, and how busy the server was (near 100 %: the server set the pace)."""
    if a is None or b is None or a.cpu_per_op is None or b.cpu_per_op is None:
        return "client CPU: n/a"
    busy = [f"{o.server_busy * 100:.0f}%" if o.server_busy is not None else "-" for o in (a, b)]
    per = "MiB" if a.spec.case in BYTES_CASES else "op"
    return (f"client CPU per {per}: {a.cpu_per_op:,.0f} µs vs {b.cpu_per_op:,.0f} µs "
            f"(theirs / ours {b.cpu_per_op / a.cpu_per_op:.2f}); server busy {busy[0]} / {busy[1]}")


def _best(outcomes: Iterable[Outcome | None]) -> Outcome | None:
    present = [o for o in outcomes if o is not None and o.value is not None]
    return max(present, key=lambda o: o.value or 0.0, default=None)


class Report:
    def __init__(self, results: dict[tuple[str, str, str, str], Outcome]) -> None:
        self.results = results

    def get(self, case: str, client: str, variant: str = "", loop: str = "") -> Outcome | None:
        return self.results.get((case, client, variant, loop))

    def best_variant(self, case: str, client: str, loop: str) -> Outcome | None:
        return _best(o for k, o in self.results.items()
                     if k[0] == case and k[1] == client and k[3] == loop)

    def raw(self, case: str) -> Outcome | None:
        return self.get(case, RAW, RAW_VARIANT if case == "download" else "")

    # ------------------------------------------------------------------ A. engine

    def engine(self) -> str:
        headers = ["case", "client", "loop", "result", "median", "spread", "peak RSS", "ΔRSS",
                   "client CPU", "server busy",
                   "vs aiohttp", "vs raw"]
        rows, shown = [], []
        for case in ("seq", "conc", "download"):
            for loop in LOOPS:
                aio = self.best_variant(case, "aiohttp", loop)
                for o in self.results.values():
                    s = o.spec
                    if s.group == "engine" and s.case == case and s.loop == loop:
                        rows.append([CASE_LABEL[case], client_label(s), loop, *stats_cells(o),
                                     fmt_ratio(o, aio), fmt_ratio(o, self.raw(case))])
                        shown.append(o)
            raw = self.raw(case)
            if raw is not None:
                rows.append([CASE_LABEL[case], client_label(raw.spec), "-", *stats_cells(raw),
                             "", "1.00"])
                shown.append(raw)
        targets = []
        for loop in LOOPS:
            for case in ("seq", "conc"):
                targets.append(f"  syncwrap.engine / aiohttp, {CASE_LABEL[case]}, {loop}: "
                               + _target(self.get(case, "syncwrap.engine", "", loop),
                                         self.get(case, "aiohttp", "", loop), 1.2))
            dl = self.get("download", "syncwrap.engine", "iter_any", loop)
            rss = dl.rss_peak if dl is not None else None
            targets.append(f"  syncwrap.engine iter_any download / raw floor, {loop}: "
                           f"{_target(dl, self.raw('download'), 0.9)}; peak RSS "
                           f"{fmt_mib(rss)} (target < 64 MiB) "
                           f"{verdict(None if rss is None else rss / RSS_TARGET, 1.0, False)}")
        return self._section("A. Engine (async)", headers, rows, shown, targets)

    # ------------------------------------------------------------------ B. facade

    def facade(self) -> str:
        headers = ["case", "client", "result", "median", "spread", "peak RSS", "ΔRSS",
                   "client CPU", "server busy",
                   "vs requests", "vs httpx", "vs raw"]
        rows, shown = [], []
        for case in ("seq", "threads", "download"):
            req = self.best_variant(case, "requests.Session", "")
            hx = self.best_variant(case, "httpx.Client", "")
            for o in self.results.values():
                s = o.spec
                if s.group == "facade" and s.case == case:
                    label = client_label(s) + (f" ({s.loop})" if s.loop else "")
                    rows.append([CASE_LABEL[case], label, *stats_cells(o),
                                 fmt_ratio(o, req), fmt_ratio(o, hx),
                                 fmt_ratio(o, self.raw(case))])
                    shown.append(o)
            raw = self.raw(case)
            if raw is not None:
                rows.append([CASE_LABEL[case], client_label(raw.spec), *stats_cells(raw),
                             "", "", "1.00"])
                shown.append(raw)
        rtt_rows = []
        ref = self.get("rtt", "reference thread", "", "asyncio")
        for o in self.results.values():
            if o.spec.case == "rtt":
                rtt_rows.append([client_label(o.spec), o.spec.loop or "(its own)", fmt_value(o),
                                 fmt_spread(o), fmt_ratio(o, ref)])
                shown.append(o)
        rtt = render(["loop round trip", "loop", "mean", "spread", "vs reference asyncio"],
                     rtt_rows) if rtt_rows else ""
        targets = []
        sw = "syncwrap.Session"
        for case in ("seq", "threads", "download"):
            o = self.best_variant(case, sw, "")
            r1 = _ratio_value(o, self.best_variant(case, "requests.Session", ""))
            r2 = _ratio_value(o, self.best_variant(case, "httpx.Client", ""))
            targets.append(f"  {sw} {CASE_LABEL[case]}: vs requests {_fmt_opt(r1)}, "
                           f"vs httpx {_fmt_opt(r2)}")
            if case != "download":  # aiohttp's sequential runs are the engine group's
                targets += self._vs_aiohttp(case, o)
        dl = self.best_variant("download", sw, "")
        rss = dl.rss_peak if dl is not None else None
        targets.append(f"  {sw} download / raw floor: {_target(dl, self.raw('download'), 0.9)}"
                       f"; peak RSS {fmt_mib(rss)} (target < 64 MiB) "
                       f"{verdict(None if rss is None else rss / RSS_TARGET, 1.0, False)}")
        return self._section("B. Facade (sync)", headers, rows, shown, targets, extra=rtt)

    # ------------------------------------------------------------------ D. gzip

    def gzip(self) -> str:
        headers = ["client", "loop", "decoded", "median", "spread", "peak RSS", "ΔRSS",
                   "client CPU", "server busy",
                   "vs best peer", "median vs peer"]
        rows, shown, targets = [], [], []
        for loop in (*LOOPS, ""):
            family = [o for o in self.results.values()
                      if o.spec.case == "download_gz" and o.spec.loop == loop]
            peers = [o for o in family if not o.spec.client.startswith("syncwrap")]
            best = _best(peers)
            best_median = max(peers, key=lambda o: o.median or 0, default=None)
            for o in family:
                rows.append([client_label(o.spec), loop or "-", *stats_cells(o),
                             fmt_ratio(o, best), _fmt_opt(_median_ratio(o, best_median))])
                shown.append(o)
            for o in family:
                if o.spec.client.startswith("syncwrap") and best is not None:
                    targets.append(f"  {client_label(o.spec)} ({loop or 'sync'}) vs fastest peer "
                                   f"({client_label(best.spec)}): best "
                                   f"{_fmt_opt(_ratio_value(o, best))}, median "
                                   f"{_fmt_opt(_median_ratio(o, best_median))}")
        return self._section("D. gzip download (/big.gz, decoded MiB/s)", headers, rows, shown,
                             targets)

    # ------------------------------------------------------------------ G. https, H. chunked

    def users(self, group: str) -> str:
        """One table for the https (or chunked) group; the targets of issue 16 under it."""
        headers = ["case", "client", "loop", "result", "median", "spread", "peak RSS", "ΔRSS",
                   "client CPU", "server busy",
                   "vs aiohttp", "vs fastest peer", "vs raw"]
        rows, shown, targets = [], [], []
        for case in HTTPS_CASES if group == "https" else CHUNKED_CASES:
            family = [o for o in self.results.values()
                      if o.spec.group == group and o.spec.case == case]
            raw = next((o for o in family if o.spec.client == RAW), None)
            peer = _best(o for o in family if o is not raw and not _own(o))
            for o in family:
                aio = self.best_variant(case, "aiohttp", o.spec.loop or "asyncio")
                rows.append([CASE_LABEL[case], client_label(o.spec), o.spec.loop or "-",
                             *stats_cells(o), "" if o.spec.client == "aiohttp" else
                             fmt_ratio(o, aio), "" if o is raw else fmt_ratio(o, peer),
                             fmt_ratio(o, raw)])
                shown.append(o)
            targets += self._user_targets(case, family, peer, raw)
        title = ("G. HTTPS (nginx TLS listener, every client verifying the run's CA)"
                 if group == "https" else "H. Chunked download (/big.chunked, 64 KiB chunks)")
        return self._section(title, headers, rows, shown, targets)

    def _user_targets(self, case: str, family: list[Outcome], peer: Outcome | None,
                      raw: Outcome | None) -> list[str]:
        """Issue 16's targets for the facade (judged), the engine's ratios (shown)."""
        label = CASE_LABEL[case]
        facade = next((o for o in family if o.spec.client == "syncwrap.Session"), None)
        lines = []
        if case in ("tls_seq", "tls_threads"):
            return self._vs_aiohttp(case, facade)
        urllib3 = next((o for o in family if o.spec.client == "urllib3.PoolManager"), None)
        other, goal = ((peer, "fastest peer") if case == "tls_gz" else (urllib3, "urllib3"))
        name = client_label(other.spec) if other is not None else "n/a"
        lines.append(f"  syncwrap.Session {label} / {goal} ({name}): "
                     f"{_target(facade, other, 1.0)}")
        lines.append(f"    {_cost_line(facade, other)}")
        for o in family:
            if _own(o):
                lines.append(f"  {o.spec.client} ({o.spec.loop or 'sync'}) {label}: vs fastest "
                             f"peer {_pair(o, peer)}; vs raw {_pair(o, raw)}")
        peaks = [o.rss_peak for o in family if _own(o) and o.rss_peak is not None]
        top = max(peaks, default=None)
        lines.append(f"  syncwrap {label}, highest peak RSS {fmt_mib(top)} (target < 64 MiB) "
                     f"{verdict(None if top is None else top / RSS_TARGET, 1.0, False)}")
        return lines

    def _vs_aiohttp(self, case: str, facade: Outcome | None) -> list[str]:
        """Issue 16's blocking-as-fast-as-async targets, on each loop: the facade against
        aiohttp, sequential (>= 1.0) and 16 threads against 16 tasks (>= 1.5); the engine's
        ratio shown beside it."""
        label, goal = CASE_LABEL[case], 1.5 if case in THREADS_CASES else 1.0
        lines = []
        for loop in LOOPS:
            aio = self.get(case, "aiohttp", "", loop)
            lines.append(f"  syncwrap.Session {label} / aiohttp ({loop}): "
                         f"{_target(facade, aio, goal)}")
            engine = self.get(case, "syncwrap.engine", "", loop)
            lines.append(f"  syncwrap.engine {label} / aiohttp ({loop}): {_pair(engine, aio)}")
        return lines

    # ------------------------------------------------------------------ C. upload

    def upload(self) -> str:
        headers = ["source", "client", "result", "median", "spread", "peak RSS", "ΔRSS",
                   "client CPU", "server busy",
                   "vs best other", "vs raw"]
        rows, shown, targets = [], [], []
        for case in ("upload_gen", "upload_file"):
            best_other = _best(self.best_variant(case, c, self._upload_loop(c))
                               for c in OTHER_UPLOADERS)
            raw = _best(o for k, o in self.results.items() if k[0] == case and k[1] == RAW)
            for o in self.results.values():
                if o.spec.case == case:
                    rows.append([CASE_LABEL[case], client_label(o.spec), *stats_cells(o),
                                 fmt_ratio(o, best_other), fmt_ratio(o, raw)])
                    shown.append(o)
            for client in ("syncwrap.Session", "syncwrap.engine"):
                o = self.best_variant(case, client, self._upload_loop(client))
                r = _ratio_value(o, best_other)
                other = best_other.spec.client if best_other else "n/a"
                targets.append(f"  {client} {CASE_LABEL[case]}: vs fastest other ({other}) "
                               f"{_fmt_opt(r)}; peak RSS {fmt_mib(o.rss_peak if o else None)}")
        return self._section("C. Upload", headers, rows, shown, targets)

    # ------------------------------------------------------------------ E. proxy

    def proxy(self) -> str:
        headers = ["case", "client", "loop", "result", "median", "spread", "peak RSS", "ΔRSS",
                   "client CPU", "server busy",
                   "vs fastest peer", "vs proxy limit"]
        rows, shown, targets, limits = [], [], [], []
        for case in (f"{r}_{k}" for r in PROXY_ROUTES for k in ("seq", "download")):
            family = [o for o in self.results.values() if o.spec.case == case]
            raw = next((o for o in family if o.spec.client == RAW), None)
            best = _best(o for o in family
                         if o is not raw and not o.spec.client.startswith("syncwrap"))
            for o in family:
                rows.append([CASE_LABEL[case], client_label(o.spec), o.spec.loop or "-",
                             *stats_cells(o), "" if o is raw else fmt_ratio(o, best),
                             fmt_ratio(o, raw)])
                shown.append(o)
            peer = client_label(best.spec) if best is not None else "n/a"
            for o in family:
                if o.spec.client.startswith("syncwrap"):
                    targets.append(f"  {o.spec.client}, {CASE_LABEL[case]}, vs fastest peer "
                                   f"({peer}): {_target(o, best, 1.0)}")
            limits.append(self._proxy_limit(case, family, raw))
        return self._section("E. Proxy (tinyproxy: absolute-form to http://, CONNECT tunnel to "
                             "https://)", headers, rows, shown, targets + ["", *limits])

    # ------------------------------------------------------------------ F. WebSockets

    def ws(self) -> str:
        headers = ["case", "client", "loop", "result", "median", "spread", "peak RSS", "ΔRSS",
                   "client CPU", "server busy",
                   "vs peer", "peer"]
        rows, shown, targets = [], [], []
        for case in WS_CASES:
            for loop in (*LOOPS, ""):
                family = [o for o in self.results.values()
                          if o.spec.group == "ws" and o.spec.case == case and o.spec.loop == loop]
                peer = self._ws_peer(case, loop, family)
                for o in family:
                    own = o.spec.client.startswith("syncwrap")
                    rows.append([CASE_LABEL[case], o.spec.client, loop or "-", *stats_cells(o),
                                 fmt_ratio(o, peer) if own else "",
                                 peer.spec.client if own and peer is not None else ""])
                    shown.append(o)
                    if own:
                        target = 0.8 if case == "ws_mib" else (1.2 if loop else 1.0)
                        name = peer.spec.client if peer is not None else "n/a"
                        targets.append(f"  {o.spec.client} {CASE_LABEL[case]} "
                                       f"({loop or 'sync'}) / {name}: {_target(o, peer, target)}")
        return self._section("F. WebSockets (echo server: websockets, own process)", headers,
                             rows, shown, targets)

    @staticmethod
    def _ws_peer(case: str, loop: str, family: list[Outcome]) -> Outcome | None:
        """Round trips: aiohttp (async) or websockets' sync client; 1 MiB messages: the
        fastest other client of the same kind."""
        others = [o for o in family if not o.spec.client.startswith("syncwrap")]
        if case == "ws_rtt":
            wanted = "aiohttp" if loop else "websockets.sync"
            return next((o for o in others if o.spec.client == wanted), None)
        return _best(others)

    @staticmethod
    def _proxy_limit(case: str, family: list[Outcome], raw: Outcome | None) -> str:
        """Whether the proxy, not the clients, sets the pace: the fastest client reaches
        PROXY_BOUND of the raw client through the same proxy."""
        if raw is None or raw.value is None:
            return f"  {CASE_LABEL[case]}: proxy limit not measured"
        fastest = _best(o for o in family if o is not raw)
        r = _ratio_value(fastest, raw)
        who = "n/a" if r is None else (
            "the proxy is the limit" if r >= PROXY_BOUND else "the clients are the limit")
        name = client_label(fastest.spec) if fastest is not None else "n/a"
        return (f"  {CASE_LABEL[case]}: proxy limit (raw socket through it) {fmt_value(raw)}; "
                f"fastest client ({name}) at {_fmt_opt(r)} of it: {who}")

    @staticmethod
    def _upload_loop(client: str) -> str:
        return "asyncio" if client in ASYNC_CLIENTS else ""

    @staticmethod
    def _section(title: str, headers: list[str], rows: list[list[str]], shown: list[Outcome],
                 targets: list[str], extra: str = "") -> str:
        parts = [f"\n=== {title} ===", render(headers, rows)]
        if extra:
            parts += ["", extra]
        parts += ["", "ratios:", *targets]
        problems = problems_text(shown)
        if problems:
            parts += ["", problems]
        return "\n".join(parts)


CASE_LABEL = {"seq": "sequential", "conc": "256 concurrent", "threads": "16 threads",
              "download": "download", "download_gz": "gzip download",
              "upload_gen": "generator", "upload_file": "file",
              "rtt": "loop round trip", "proxy_seq": "proxy sequential",
              "proxy_download": "proxy download", "tunnel_seq": "CONNECT sequential",
              "tunnel_download": "CONNECT download", "ws_rtt": "echo round trips",
              "ws_mib": "1 MiB messages", "chunked": "chunked download",
              "tls_seq": "HTTPS sequential", "tls_threads": "HTTPS 16 threads",
              "tls_download": "HTTPS download", "tls_gz": "HTTPS gzip download",
              "tls_chunked": "HTTPS chunked download"}
PROXY_BOUND = 0.8  # the proxy is "the limit" when the fastest client gets this close to raw


def _fmt_opt(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}"


def _pair(a: Outcome | None, b: Outcome | None) -> str:
    """``best R1 / median R2``: a ratio shown without a target."""
    return f"best {_fmt_opt(_ratio_value(a, b))} / median {_fmt_opt(_median_ratio(a, b))}"


def _own(o: Outcome) -> bool:
    return o.spec.client.startswith("syncwrap")


# --------------------------------------------------------------------------- main


def versions() -> str:
    out = []
    for name in ("aiohttp", "httpx", "requests", "urllib3", "uvloop", "psutil", "websockets"):
        try:
            out.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name} -")
    return ", ".join(out)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="syncwrap benchmark suite")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small counts, 16 MiB bodies, 1 repetition (< 60 s)")
    parser.add_argument("--only", action="append",
                        choices=GROUPS,
                        help="run only this group (repeatable)")
    parser.add_argument("--case", action="append",
                        help="run only these cases of the groups (repeatable), e.g. download")
    parser.add_argument("--reps", type=int, help="repetitions per case (default 3; quick 1)")
    parser.add_argument("--size", type=int, metavar="MIB",
                        help="download/upload body size in MiB (default 256; quick 16)")
    parser.add_argument("--json", metavar="PATH", help="also write all runs as JSON here")
    parser.add_argument("--sink", choices=("python", "nginx"), default="python",
                        help="upload sink: bench/sink.py (default) or nginx + echo module")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the client to one CPU and nginx to another")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.reps:
        reps = max(1, min(args.reps, 20))
        profile = dataclasses.replace(profile, reps=reps, raw_reps=max(reps, profile.raw_reps))
    if args.size:
        size = max(1, min(args.size, 4096)) * MIB
        profile = dataclasses.replace(profile, size=size, warm_size=min(profile.warm_size, size))
    groups = args.only or list(GROUPS)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that nginx gets stopped

    ensure_psutil()
    import fanout
    from nginx import Nginx
    from proxy import SOURCE, Tinyproxy
    from sink import UploadSink
    from tls import make_tls_files
    from ws_echo import WSEcho

    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    client_cpu, server_cpu = (cpus[0], cpus[-1]) if pin else (-1, -1)
    started = time.monotonic()
    uploads = "upload" in groups
    with contextlib.ExitStack() as stack:
        tls = None
        if "proxy" in groups or "https" in groups:
            tls = make_tls_files(Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="syncwrap-bench-tls-"))))
        server = None
        if any(group != "ws" for group in groups):  # the ws group needs no nginx
            server = stack.enter_context(Nginx(profile.size, profile.warm_size, cpu=server_cpu,
                                               upload=uploads and args.sink == "nginx",
                                               tls=tls, proxy_source=SOURCE))
        setup = None
        if "proxy" in groups and tls is not None and server is not None:
            proxy = stack.enter_context(Tinyproxy(server.tls_port, cpu=server_cpu))
            setup = ProxySetup(proxy.url, server.proxied_url, server.tls_url, str(tls.ca_file))
        upload_url, upload_exact = "", True
        upload_pids: list[int] = []
        if uploads and args.sink == "python":
            sink = stack.enter_context(UploadSink(cpu=server_cpu))
            upload_url, upload_pids = sink.url, sink.pids()
        elif uploads and server is not None and server.can_upload:
            upload_url, upload_exact = server.base_url + "/upload", False
            upload_pids = server.pids()
        ws_echo = stack.enter_context(WSEcho(cpu=server_cpu)) if "ws" in groups else None
        servers = []
        if server is not None:
            servers.append(subprocess.run([server.binary, "-v"], capture_output=True,
                                          text=True).stderr.strip() + ", 1 worker")
        if setup:
            servers.append(f"{proxy.version} (proxy group)")
        if ws_echo is not None:
            servers.append(f"{WSEcho.version()} (ws group)")
        print(f"syncwrap bench ({'quick' if args.quick else 'full'}): Python "
              f"{platform.python_version()}, {cpu_model()}, {os.cpu_count()} CPUs; "
              f"{'; '.join(servers)}\n{versions()}\n"
              + (f"client pinned to CPU {client_cpu}, servers to CPU {server_cpu}"
                 if pin else "no CPU pinning")
              + f"; body {profile.size // MIB} MiB; upload sink: "
              + ("bench/sink.py" if args.sink == "python" else "nginx echo module")
              + f"; load average {os.getloadavg()[0]:.2f}\n{profile.reps} run(s) per case: "
              "best throughput / lowest latency shown, peak RSS = highest over runs", flush=True)
        if os.getloadavg()[0] > 0.5:
            print("WARNING: the machine is busy (load average > 0.5): numbers will be noisy",
                  flush=True)
        base: dict[str, Any] = dict(size=profile.size, warm_size=profile.warm_size,
                                    upload_url=upload_url, upload_exact=upload_exact,
                                    pin_cpu=client_cpu)
        if server is not None:
            base.update(base_url=server.base_url, data_file=str(server.big_file),
                        warm_file=str(server.warm_file), server_pids=server.pids())
        results: dict[tuple[str, str, str, str], Outcome] = {}
        report = Report(results)
        plan: list[tuple[str, Callable[[Profile, dict[str, Any]], list[Spec]],
                         Callable[[], str]]] = [
            ("engine", engine_specs, report.engine),
            ("facade", facade_specs, report.facade),
            ("upload", lambda p, b: upload_specs(p, dict(b, server_pids=upload_pids)),
             report.upload),
            ("gzip", gzip_specs, report.gzip),
            ("proxy", lambda p, b: proxy_specs(p, dict(b, server_pids=[
                *b.get("server_pids", []), *proxy.pids()]), setup) if setup else [],
             report.proxy),
            ("ws", lambda p, b: ws_specs(p, dict(b, base_url=ws_echo.url,
                                                 server_pids=ws_echo.pids())) if ws_echo else [],
             report.ws),
            ("fanout", fanout.specs, lambda: fanout.render(results.values())),
            ("https", lambda p, b: user_specs("https", HTTPS_CASES, p, dict(
                b, base_url=server.https_url, ca_file=str(tls.ca_file))) if tls and server else [],
             lambda: report.users("https")),
            ("chunked", lambda p, b: user_specs("chunked", CHUNKED_CASES, p, b),
             lambda: report.users("chunked")),
        ]
        for name, make_specs, render_group in plan:
            if name not in groups:
                continue
            if name == "upload" and not upload_url:
                print("\n=== C. Upload === skipped: nginx has no echo module (try --sink python)")
                continue
            specs = make_specs(profile, base)
            if args.case:
                specs = [s for s in specs if s.case in args.case]
            run_group(name, specs, profile, results)
            print(render_group(), flush=True)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"spec": dataclasses.asdict(o.spec), "value": o.value, "unit": unit(o.spec),
                        "runs": o.runs} for o in results.values()], f, indent=1)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # nginx and the sink were stopped on the way out
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
