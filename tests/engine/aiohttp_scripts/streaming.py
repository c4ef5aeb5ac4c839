import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/stream") as resp:
            chunks = [chunk async for chunk in resp.content.iter_chunked(1024)]
        chunked = (b"".join(chunks).count(b"\n"), max(map(len, chunks)) <= 1024)

        async with session.get(f"{base}/stream") as resp:
            pieces = []
            async for data in resp.content.iter_any():
                pieces.append(data)
        any_ = len(b"".join(pieces))

        async with session.get(f"{base}/stream") as resp:
            head = await resp.content.read(5)
            first = await resp.content.readline()
            lines = [first]
            async for line in resp.content:
                lines.append(line)
            eof = resp.content.at_eof()
    return chunked, any_, head, len(lines), lines[1][:8], eof
