import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    async with aiohttp.request("GET", f"{base}/echo", params={"one": "shot"}) as resp:
        data = await resp.json()
    text_type = None
    async with aiohttp.ClientSession(base_url=base) as session:
        async with session.get("/echo", params={"via": "base_url"}) as resp:
            text_type = resp.content_type
            rel = await resp.json()
        try:
            async with session.get("/status/200") as resp:
                await resp.json()
        except aiohttp.ContentTypeError as e:
            wrong = (type(e).__name__, e.status)
    return data["query"], rel["query"], text_type, wrong
