"""A private nginx for the benchmarks, bound to 127.0.0.1 on a free port.

Locations:
  /small   ~100-byte body from ``return 200``
  /big     the download file (256 MiB by default), served with sendfile
  /warm    a smaller file for warming a connection up before a timed download
  /big.gz  the gzip case: compressible data as big as /big once decoded, gzip-compressed when
           the server starts and served as it is (``Content-Encoding: gzip``, nginx's own gzip
           off); /warm.gz likewise for /warm
  /big.chunked  /big again, but ``Transfer-Encoding: chunked`` in 64 KiB chunks (the addition
           filter drops the length; sendfile off with 64 KiB output buffers sets the chunk
           size, as a dynamic server streaming its output would); /warm.chunked likewise
  /upload  (only with ``upload=True``; run.py --sink nginx) an upload sink that reads the WHOLE
           request body (Content-Length or chunked) before it answers ``$request_length``
           (request head + body bytes). ``return 200`` alone would answer before the body has
           been read (nginx then drains it in the background), so the echo module's
           ``echo_read_request_body`` is used; nginx spools the body to a temp file that it
           deletes at once. The default sink is bench/sink.py instead (see there why).

With ``tls=``, the same server also listens with TLS on ``https_url`` (the https group:
every location above, with the trustme certificate of bench/tls.py), and a
second server (the proxy group) offers /small, /big and /warm on a plain port
(``proxied_url``) and a TLS port (``tls_url``, the trustme certificate of bench/tls.py) to the
bench proxy only: it answers 403 to any peer but ``proxy_source`` (the address tinyproxy's
outgoing connections are bound to), so a client that bypassed the proxy fails its case.

Usable on its own for manual poking:  python bench/nginx.py [--size MiB] [--seconds N] [--tls]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

from common import process_family
from tls import TlsFiles

SMALL_BODY = ("syncwrap-bench " * 7)[:100]  # exactly 100 ASCII bytes, no quotes/escapes

_MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/etc/nginx/modules",
                "/usr/lib64/nginx/modules", "/usr/local/nginx/modules")


# --------------------------------------------------------------------------- installation


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
         if os.access(p, os.X_OK)), None)


def find_echo_module(nginx: str) -> str | None:
    """Path of the dynamic echo module, "" if it is compiled in, None if unavailable."""
    for directory in _MODULE_DIRS:
        hits = glob.glob(os.path.join(directory, "ngx_http_echo_module.so"))
        if hits:
            return hits[0]
    version = subprocess.run([nginx, "-V"], capture_output=True, text=True).stderr
    return "" if "echo-nginx-module" in version else None


def apt_install(*packages: str) -> bool:
    """apt-get install with service start-up suppressed (we never want the system's nginx or
    tinyproxy running)."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    policy = Path("/usr/sbin/policy-rc.d")
    added_policy = False
    if not policy.exists():  # keep the package's postinst from starting its service
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        added_policy = True
    try:
        for cmd in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "-o", "DPkg::Lock::Timeout=300", *packages]):
            print("bench:", " ".join(cmd), file=sys.stderr, flush=True)
            if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
                return False
        return True
    finally:
        if added_policy:
            policy.unlink()


def ensure_nginx(want_echo: bool) -> tuple[str, str | None]:
    """Install nginx (and, if wanted, its echo module) when missing.
    Returns (binary, echo module path or "" if built in, None if not available/wanted)."""
    nginx = find_nginx()
    if nginx is None:
        if not (apt_install("nginx-light") or apt_install("nginx")):
            raise RuntimeError("nginx is not installed and could not be installed via apt-get")
        nginx = find_nginx()
        if nginx is None:
            raise RuntimeError("nginx was installed but its binary was not found")
    if not want_echo:
        return nginx, None
    echo = find_echo_module(nginx)
    if echo is None and apt_install("libnginx-mod-http-echo"):
        echo = find_echo_module(nginx)
    return nginx, echo


# --------------------------------------------------------------------------- server


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _write_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    path.chmod(0o644)


def compressible_block(size: int = 1 << 20) -> bytes:
    """``size`` bytes of text-like data (random words from a 16-letter alphabet, seeded):
    gzip makes it about 2.5 times smaller."""
    rnd = random.Random(20261124)
    words = [bytes(rnd.choices(b"etaoinshrdlucmfw", k=rnd.randint(2, 9))) for _ in range(2000)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rnd.choices(words, k=4096)) + b"\n"
    return bytes(out[:size])


def _write_gzip_file(path: Path, size: int) -> None:
    """``size`` bytes (a multiple of 1 MiB) of :func:`compressible_block` repeated, as ONE gzip
    member. The block is compressed once (level 6) and ends with a full flush, which resets
    the compressor's window: its output decodes on its own, so it is written once per MiB
    between the header and a trailer carrying the CRC-32 and length of the whole data."""
    block = compressible_block()
    co = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
        for _ in range(size // len(block)):
            f.write(deflated)
            crc = zlib.crc32(block, crc)
        f.write(co.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF))
    path.chmod(0o644)


def _cpu_mask(cpu: int) -> str:
    return "1" + "0" * cpu


class Nginx:
    """Context manager: a private nginx (1 worker) in its own temp prefix; stopped on exit."""

    def __init__(self, size: int, warm_size: int, cpu: int = -1, upload: bool = False,
                 tls: TlsFiles | None = None, proxy_source: str = "127.0.0.2") -> None:
        self.size = size
        self.warm_size = warm_size
        self.cpu = cpu
        self.binary, self.echo_module = ensure_nginx(want_echo=upload)
        self.prefix = Path(tempfile.mkdtemp(prefix="syncwrap-bench-"))
        self.prefix.chmod(0o755)  # nginx workers run as an unprivileged user when we are root
        self.big_file = self.prefix / "big.bin"
        self.warm_file = self.prefix / "warm.bin"
        self.big_gz = self.prefix / "big.gz"
        self.warm_gz = self.prefix / "warm.gz"
        self.empty_file = self.prefix / "empty"
        self.tls = tls
        self.proxy_source = proxy_source
        self.port = self.proxied_port = self.tls_port = self.https_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proxied_url(self) -> str:
        return f"http://127.0.0.1:{self.proxied_port}"

    @property
    def tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def can_upload(self) -> bool:
        return self.echo_module is not None

    def _locations(self) -> str:
        return f"""
        location = /small {{ default_type text/plain; return 200 "{SMALL_BODY}"; }}
        location = /big {{ alias {self.big_file}; }}
        location = /warm {{ alias {self.warm_file}; }}"""

    def _encoded_locations(self) -> str:
        """/big.gz and /big.chunked (and their /warm twins). ``add_after_body`` of an empty
        file drops Content-Length, so nginx sends the file chunked, one chunk per output
        buffer read from the file (sendfile would make the whole file one chunk)."""
        out = ""
        for name, path in (("big", self.big_file), ("warm", self.warm_file)):
            gz = self.big_gz if name == "big" else self.warm_gz
            out += f"""
        location = /{name}.gz {{ alias {gz}; gzip off; add_header Content-Encoding gzip; }}
        location = /{name}.chunked {{
            alias {path}; sendfile off; output_buffers 2 64k;
            add_after_body /empty; addition_types *;
        }}"""
        return out + f"""
        location = /empty {{ alias {self.empty_file}; }}"""

    def _tls_listen(self) -> str:
        if self.tls is None:
            return ""
        return f"""
        listen 127.0.0.1:{self.https_port} ssl backlog=4096;
        ssl_certificate {self.tls.cert_file};
        ssl_certificate_key {self.tls.key_file};"""

    def _proxied_server(self) -> str:
        if self.tls is None:
            return ""
        return f"""
    server {{
        listen 127.0.0.1:{self.proxied_port} backlog=4096;
        listen 127.0.0.1:{self.tls_port} ssl backlog=4096;
        ssl_certificate {self.tls.cert_file};
        ssl_certificate_key {self.tls.key_file};
        if ($remote_addr != "{self.proxy_source}") {{ return 403 "only through the proxy\\n"; }}
        {self._locations()}
    }}"""

    def _config(self) -> str:
        p = self.prefix
        load = f"load_module {self.echo_module};" if self.echo_module else ""
        affinity = f"worker_cpu_affinity {_cpu_mask(self.cpu)};" if self.cpu >= 0 else ""
        upload = """
        location = /upload {
            client_max_body_size 0;
            client_body_buffer_size 1m;
            echo_read_request_body;
            echo_exec @uploaded;
        }
        location @uploaded { default_type text/plain; return 200 "$request_length\\n"; }
        """ if self.can_upload else ""
        return f"""
{load}
daemon off;
master_process on;
worker_processes 1;
{affinity}
worker_rlimit_nofile 8192;
pid {p}/nginx.pid;
error_log {p}/error.log error;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    lingering_time 300s;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;{self._tls_listen()}
        {self._locations()}{self._encoded_locations()}
        {upload}
    }}
    {self._proxied_server()}
}}
"""

    def start(self) -> None:
        _write_file(self.big_file, self.size)
        _write_file(self.warm_file, self.warm_size)
        _write_gzip_file(self.big_gz, self.size)
        _write_gzip_file(self.warm_gz, self.warm_size)
        self.empty_file.write_bytes(b"")
        self.empty_file.chmod(0o644)
        conf = self.prefix / "nginx.conf"
        for _attempt in range(5):
            self.port, self.proxied_port, self.tls_port, self.https_port = free_ports(4)
            conf.write_text(self._config())
            log = open(self.prefix / "stderr.log", "wb")
            self.proc = subprocess.Popen(
                [self.binary, "-p", str(self.prefix), "-c", str(conf)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
            if self._wait_ready():
                self._check_framing()
                return
            self.stop()
        raise RuntimeError(f"nginx did not start; see {self.prefix}/stderr.log and error.log:\n"
                           + self._logs())

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.base_url + "/small", timeout=1) as r:
                    if r.read().decode() == SMALL_BODY:
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def _check_framing(self) -> None:
        """The gzip and chunked cases measure what they say: /warm.gz is gzip-encoded and
        /warm.chunked is chunked (the addition filter's behaviour could change)."""
        for path, header, value in (("/warm.gz", "Content-Encoding", "gzip"),
                                    ("/warm.chunked", "Transfer-Encoding", "chunked")):
            request = urllib.request.Request(self.base_url + path,
                                             headers={"Accept-Encoding": "identity"})
            with urllib.request.urlopen(request, timeout=10) as r:
                got = r.headers.get(header, "")
            if got.lower() != value:
                raise RuntimeError(f"nginx serves {path} with {header}: {got!r}, not {value}")

    def _logs(self) -> str:
        out = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                out.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(out)

    def pids(self) -> list[int]:
        """The master's and its workers' process ids (the bench reads their CPU time)."""
        return process_family(self.proc.pid) if self.proc is not None else []

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> Nginx:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="size of /big in MiB")
    parser.add_argument("--seconds", type=float, default=600, help="serve this long (max 3600)")
    parser.add_argument("--upload", action="store_true", help="add the echo-module /upload sink")
    parser.add_argument("--tls", action="store_true", help="also listen with TLS (trustme CA)")
    args = parser.parse_args()
    # SIGTERM unwinds the with-blocks too, so the servers are stopped and their files removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with contextlib.ExitStack() as stack:
        tls = None
        if args.tls:
            from tls import make_tls_files

            tls = make_tls_files(Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="syncwrap-bench-tls-"))))
        server = stack.enter_context(Nginx(args.size << 20, min(args.size << 20, 32 << 20),
                                           upload=args.upload, tls=tls))
        print(f"serving {server.base_url} (/small /big /warm /big.gz /big.chunked"
              f"{' /upload' if server.can_upload else ''}) for {args.seconds:.0f} s; Ctrl-C stops",
              flush=True)
        if tls is not None:
            print(f"and {server.https_url}, CA file {tls.ca_file}", flush=True)
        try:
            time.sleep(min(args.seconds, 3600))
        except KeyboardInterrupt:
            pass

if __name__ == "__main__":
    main()
