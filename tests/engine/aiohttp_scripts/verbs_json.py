import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    seen = []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/echo", params={"q": "aiohttp", "page": 2}) as resp:
            data = await resp.json()
            seen.append((resp.status, data["method"], data["query"]))
        async with session.post(f"{base}/echo", json={"name": "Ada", "tags": [1, 2]}) as resp:
            data = await resp.json()
            seen.append((data["method"], data["content_type"], data["body"]))
        async with session.put(f"{base}/echo", data=b"raw bytes") as resp:
            data = await resp.json()
            seen.append((data["method"], data["content_type"], data["body"]))
        async with session.patch(f"{base}/echo", data={"a": "1", "b": "two words"}) as resp:
            data = await resp.json()
            seen.append((data["method"], data["content_type"], data["body"]))
        async with session.delete(f"{base}/echo") as resp:
            seen.append((resp.status, (await resp.json())["method"]))
        async with session.head(f"{base}/echo") as resp:
            seen.append((resp.status, await resp.read()))
        async with session.options(f"{base}/echo") as resp:
            seen.append((resp.status, (await resp.json())["method"]))
    return seen
