"""HTTP/1.1 on one connection: parsing, writing, body decoding and the protocol.

``parser`` (sans-I/O response parsing on llhttp), ``chunked`` (a chunked body's
framing, sans-I/O), ``writer`` (request heads and
body framing), ``body_writer`` (a request body onto the connection), ``decoders``
(Content-Encoding, bounded per step), ``body`` (where a response body goes),
``direct`` (a large plain body read straight from the socket), ``state`` (the
connection's states and their transitions) and ``connection`` (the asyncio
protocol that drives them, and the room's one public seam).
"""
