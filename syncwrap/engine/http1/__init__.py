"""HTTP/1.1 on one connection: parsing, writing, body decoding and the protocol.

``parser`` (sans-I/O response parsing on llhttp), ``writer`` (request heads and
body framing), ``decoders`` (Content-Encoding, bounded per step) and
``connection`` (the asyncio protocol that drives them).
"""
