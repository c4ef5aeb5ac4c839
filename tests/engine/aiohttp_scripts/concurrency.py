import asyncio

import syncwrap.engine as aiohttp


async def fetch(session: aiohttp.ClientSession, url: str, n: int) -> dict:
    async with session.get(url, params={"n": n}) as resp:
        return await resp.json()


async def main(base: str) -> object:
    async with aiohttp.TCPConnector(limit=2) as connector:
        async with aiohttp.ClientSession(connector=connector, connector_owner=False) as session:
            await session.post(f"{base}/work/reset")
            results = await asyncio.gather(*(fetch(session, f"{base}/work", n) for n in range(6)))
            task = asyncio.create_task(session.get(f"{base}/work", params={"n": 99}))
            resp = await task
            last = await resp.json()
            resp.release()
    return [r["n"] for r in results], max(r["peak"] for r in results) <= 2, last["n"], \
        connector.closed
