import asyncio
import socket

import syncwrap.engine as aiohttp


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(base: str) -> object:
    caught = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        try:
            await session.get(f"http://127.0.0.1:{closed_port()}/")
        except aiohttp.ClientConnectorError as e:
            caught.append(("connector", e.host, isinstance(e, OSError)))

        try:
            await session.get("http://no-such-host.invalid/")
        except aiohttp.ClientConnectorDNSError as e:
            caught.append(("dns", e.host, isinstance(e, aiohttp.ClientConnectorError)))

        try:
            async with session.get(f"{base}/status/404") as resp:
                resp.raise_for_status()
        except aiohttp.ClientResponseError as e:
            caught.append(("status", e.status, e.request_info.url.path))

        try:
            async with session.get(f"{base}/slow", timeout=aiohttp.ClientTimeout(sock_read=0.2)):
                pass
        except aiohttp.ServerTimeoutError as e:
            caught.append(("sock_read", isinstance(e, asyncio.TimeoutError)))

        try:
            async with session.get(f"{base}/slow", timeout=aiohttp.ClientTimeout(total=0.2)):
                pass
        except asyncio.TimeoutError:
            caught.append(("total",))

        try:
            async with session.get(f"{base}/status/500", raise_for_status=True):
                pass
        except aiohttp.ClientResponseError as e:
            caught.append(("raise_for_status=True", e.status))
    return caught
