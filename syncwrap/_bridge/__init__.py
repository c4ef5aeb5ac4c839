"""The blocking facade's helpers: crossing the thread boundary.

Not public API (``syncwrap.api`` is the facade's door). What lives here is the
facade's own work: handing bodies, messages and results between the loop thread
and calling threads through one bounded channel (``channel``: ``downloads``,
``uploads``), and running user code (sync generators, hooks, sync auth flows and
requests-style auth callables: ``auth``, ``hooks``) in the calling thread through
one mechanism (``caller``). ``cookies`` is the thread-safe cookie view.
"""
