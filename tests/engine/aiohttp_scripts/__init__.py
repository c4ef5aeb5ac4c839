"""Everyday aiohttp client scripts. Each begins with ``import syncwrap.engine as aiohttp``
and is otherwise plain aiohttp code; ``main(base)`` returns what the script observed.
tests/engine/test_aiohttp_scripts.py runs each under syncwrap's engine and under aiohttp."""
