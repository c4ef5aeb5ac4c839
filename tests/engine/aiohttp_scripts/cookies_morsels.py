from http.cookies import Morsel, SimpleCookie

from yarl import URL

import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(f"{base}/cookies/set") as resp:
            after_redirect = await resp.json()
            history = [r.status for r in resp.history]
        stored = sorted((c.key, c.value) for c in session.cookie_jar)
        filtered = sorted(session.cookie_jar.filter_cookies(URL(base)).keys())

        morsel: Morsel = Morsel()
        morsel.set("lang", "en", "en")
        morsel["path"] = "/"
        simple = SimpleCookie()
        simple["pref"] = "compact"
        async with session.get(f"{base}/cookies",
                               cookies={"ignored-key": morsel, **simple}) as resp:
            with_morsels = await resp.json()
    return after_redirect, history, stored, filtered, with_morsels
