"""The peer for the aiohttp client scripts: aiohttp's own ``aiohttp.web`` server, run on a
thread of its own with its own event loop, on 127.0.0.1, bounded in time."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

TOKEN_FRESH = "fresh-token"


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({
        "method": request.method,
        "path": request.path,
        "query": sorted(request.query.items()),
        "body": body.decode("latin-1"),
        "content_type": request.headers.get("Content-Type"),
        "authorization": request.headers.get("Authorization"),
        "x_token": request.headers.get("X-Token"),
    })


async def upload(request: web.Request) -> web.Response:
    reader = await request.multipart()
    parts = []
    while (part := await reader.next()) is not None:
        raw = await part.read()
        parts.append({
            "name": part.name,
            "filename": part.filename,
            # RFC 7578 §4.4: a part without Content-Type is text/plain (UTF-8 for a form)
            "content_type": part.headers.get("Content-Type") or "text/plain; charset=utf-8",
            "hex": raw.hex(),
        })
    return web.json_response(parts)


async def set_cookies(request: web.Request) -> web.Response:
    resp = web.HTTPFound("/cookies")
    resp.set_cookie("session", "abc", path="/")
    resp.set_cookie("theme", "dark", path="/", max_age=3600)
    raise resp


async def cookies(request: web.Request) -> web.Response:
    return web.json_response(dict(sorted(request.cookies.items())))


async def stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await resp.prepare(request)
    for i in range(20):
        await resp.write(f"line {i:02d} {'x' * 300}\n".encode())
        if i % 5 == 0:
            await asyncio.sleep(0.01)
    await resp.write_eof()
    return resp


async def compressed(request: web.Request) -> web.Response:
    resp = web.Response(text="".join(f"line {i:03d} {'word ' * 40}\n" for i in range(300)))
    resp.enable_compression(web.ContentCoding.gzip)
    return resp


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text=f"status {code}")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("delay", "2")))
    return web.Response(text="late")


async def slow_upload(request: web.Request) -> web.Response:
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
    return web.json_response({"received": size})


async def protected(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN_FRESH}":
        return web.Response(status=401, text="expired")
    return web.json_response({"ok": True})


async def basic(request: web.Request) -> web.Response:
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    if request.headers.get("Authorization") != expected:
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})
    return web.json_response({"user": "alice", "query": sorted(request.query.items())})


async def redirect(request: web.Request) -> web.Response:
    n = int(request.match_info["n"])
    target = "/echo?from=redirect" if n <= 1 else f"/redirect/{n - 1}"
    raise web.HTTPFound(target)


class Gauge:
    """How many requests are in /work at once, and the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0


GAUGE = web.AppKey("gauge", Gauge)


async def work(request: web.Request) -> web.Response:
    gauge: Gauge = request.app[GAUGE]
    gauge.now += 1
    gauge.peak = max(gauge.peak, gauge.now)
    try:
        await asyncio.sleep(0.05)
    finally:
        gauge.now -= 1
    return web.json_response({"n": int(request.query["n"]), "peak": gauge.peak})


async def peak_reset(request: web.Request) -> web.Response:
    request.app[GAUGE].peak = 0
    return web.Response(text="ok")


def make_app() -> web.Application:
    app = web.Application()
    app[GAUGE] = Gauge()
    app.router.add_route("*", "/echo", echo)
    app.router.add_post("/upload", upload)
    app.router.add_get("/cookies/set", set_cookies)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/stream", stream)
    app.router.add_get("/compressed", compressed)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/slow", slow)
    app.router.add_post("/slow-upload", slow_upload)
    app.router.add_get("/protected", protected)
    app.router.add_get("/basic", basic)
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_get("/work", work)
    app.router.add_post("/work/reset", peak_reset)
    return app


async def stop(runner: web.AppRunner) -> None:
    await runner.cleanup()
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


@contextmanager
def aiohttp_peer(timeout: float = 10.0) -> Iterator[str]:
    """Serve :func:`make_app` on 127.0.0.1 in a thread; yields the base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    thread = threading.Thread(target=loop.run_forever, name="aiohttp-peer", daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout)
    finally:
        asyncio.run_coroutine_threadsafe(stop(runner), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()


__all__ = ["TOKEN_FRESH", "aiohttp_peer", "make_app"]
