import pathlib
import tempfile

import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp) / "report.csv"
        report.write_bytes(b"a,b\n1,2\n")
        async with aiohttp.ClientSession() as session:
            with open(report, "rb") as f:
                async with session.post(f"{base}/upload", data={"file": f}) as resp:
                    plain = await resp.json()
            form = aiohttp.FormData()
            form.add_field("title", "Quarterly")
            with open(report, "rb") as f:
                form.add_field("report", f, filename="q3.csv", content_type="text/csv")
                async with session.post(f"{base}/upload", data=form) as resp:
                    built = await resp.json()
    return plain, built
