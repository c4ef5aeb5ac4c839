"""The blocking facade's helpers: crossing the thread boundary.

Not public API (``syncwrap.api`` is the facade's door). What lives here is the
facade's own work: handing bodies, messages and results between the loop thread
and calling threads through bounded channels, and running user code (sync
generators, hooks, requests-style auth callables) in the calling thread.
"""
