import hashlib
import zlib

from isal import isal_zlib

import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    seen = []
    for lib in (zlib, isal_zlib):  # isal last: syncwrap's default with the speedups
        aiohttp.set_zlib_backend(lib)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/compressed") as resp:
                body = await resp.read()
                seen.append((resp.headers["Content-Encoding"], len(body),
                             hashlib.sha256(body).hexdigest()[:16]))
    return seen
