"""WebSocket echo server for the ws group: websockets' own asyncio server, in its own process.

Every message comes back as it came (text as text, binary as binary); no compression, no
size limit, no pings of its own. It runs on uvloop when available and, like nginx, is
pinned to the server CPU. run.py starts it with :class:`WSEcho`; by hand:
python bench/ws_echo.py PORT_FILE [CPU] - it writes its port to PORT_FILE once it listens
and exits on SIGTERM/SIGINT or after --max-seconds (default 3 h).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from server_process import ServerProcess, serve_main


async def echo(ws: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def serve(port_file: Path, max_seconds: float) -> None:
    from websockets.asyncio.server import serve as ws_serve

    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with ws_serve(echo, "127.0.0.1", 0, compression=None, max_size=None,
                        ping_interval=None, backlog=1024) as server:
        port = server.sockets[0].getsockname()[1]
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(port_file)
        try:
            await asyncio.wait_for(stop, max_seconds)
        except asyncio.TimeoutError:
            pass


class WSEcho(ServerProcess):
    """Context manager running this file as a subprocess; ``url`` is ``ws://127.0.0.1:P``."""

    script = __file__
    what = "the WebSocket echo server"

    def url_for(self, port: int) -> str:
        return f"ws://127.0.0.1:{port}"

    @staticmethod
    def version() -> str:
        try:
            import websockets

            return f"websockets {websockets.__version__} echo server"
        except ImportError:
            return "websockets not installed"


def main() -> None:
    serve_main("WebSocket echo server for the benchmarks", serve)


if __name__ == "__main__":
    main()
