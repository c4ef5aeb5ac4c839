import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    auth = aiohttp.BasicAuth("alice", "s3cret")
    async with aiohttp.ClientSession(auth=auth) as session:
        async with session.get(f"{base}/basic", params=[("k", "1"), ("k", "2")]) as resp:
            authed = (resp.status, await resp.json())
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/basic") as resp:
            anonymous = (resp.status, resp.headers.get("WWW-Authenticate"))
        async with session.get(f"{base}/redirect/3") as resp:
            data = await resp.json()
            followed = ([h.status for h in resp.history], [str(h.url.path) for h in resp.history],
                        resp.url.path, data["query"])
        async with session.get(f"{base}/redirect/3", allow_redirects=False) as resp:
            stopped = (resp.status, resp.headers["Location"])
        try:
            async with session.get(f"{base}/redirect/5", max_redirects=2):
                pass
        except aiohttp.TooManyRedirects as e:
            too_many = (type(e).__name__, e.history[0].url.path)
    return authed, anonymous, followed, stopped, too_many
