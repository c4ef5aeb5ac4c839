import syncwrap.engine as aiohttp


async def main(base: str) -> object:
    async with aiohttp.ClientSession() as session:
        form = aiohttp.FormData()
        form.add_field("greeting", "Привет", content_type="text/plain; charset=koi8-r")
        form.add_field("blob", b"\x00\x01", filename="b.bin",
                       content_type="application/octet-stream")
        async with session.post(f"{base}/upload", data=form) as resp:
            declared = await resp.json()

        with aiohttp.MultipartWriter("form-data") as mp:
            koi8 = aiohttp.StringPayload("мир", content_type="text/plain; charset=koi8-r")
            part = mp.append(koi8)
            part.set_content_disposition("form-data", name="world")
            part = mp.append_json({"ok": True})
            part.set_content_disposition("form-data", name="meta")
        async with session.post(f"{base}/upload", data=mp) as resp:
            written = await resp.json()

        form = aiohttp.FormData(charset="koi8-r")
        form.add_field("city", "Москва")
        form.add_field("note", b"plain bytes", filename="note.bin")
        async with session.post(f"{base}/upload", data=form) as resp:
            form_wide = await resp.json()
    return declared, written, form_wide
