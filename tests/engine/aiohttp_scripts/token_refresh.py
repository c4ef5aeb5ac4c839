import syncwrap.engine as aiohttp


class TokenRefresh:
    def __init__(self) -> None:
        self.token = "stale-token"
        self.refreshes = 0

    async def __call__(self, request: aiohttp.ClientRequest,
                       handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = await handler(request)
        if response.status == 401:
            self.token = "fresh-token"
            self.refreshes += 1
            request.headers["Authorization"] = f"Bearer {self.token}"
            response = await handler(request)
        return response


async def log(request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType):
    seen.append((request.method, request.url.path))
    return await handler(request)


seen: list = []


async def main(base: str) -> object:
    seen.clear()
    refresh = TokenRefresh()
    async with aiohttp.ClientSession(middlewares=(log, refresh)) as session:
        async with session.get(f"{base}/protected") as resp:
            first = (resp.status, await resp.json())
        async with session.get(f"{base}/protected") as resp:
            second = resp.status
        async with session.get(f"{base}/protected", middlewares=()) as resp:
            bare = resp.status
    return first, second, bare, refresh.refreshes, list(seen)
