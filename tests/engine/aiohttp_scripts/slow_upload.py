import asyncio

import syncwrap.engine as aiohttp


async def body():
    for _ in range(8):
        yield b"x" * 1000
        await asyncio.sleep(0.25)


async def main(base: str) -> object:
    timeout = aiohttp.ClientTimeout(total=10, sock_read=1.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(f"{base}/slow-upload", data=body()) as resp:
            return resp.status, await resp.json()
