import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    async with aiohttp.ClientSession(headers={"X-Token": "t1"}) as session:
        async with session.get(f"{base}/status/202") as resp:
            text = await resp.text()
            first = (resp.status, resp.reason, resp.ok, resp.content_type, resp.charset,
                     text, resp.url.path, resp.method)
        resp = await session.get(f"{base}/echo", headers={"X-Token": "t2"})
        data = await resp.json()
        resp.release()
        second = (data["x_token"], resp.headers["Content-Type"],
                  int(resp.headers["Content-Length"]) > 0)
    return first, second
