"""``python -m syncwrap``: the same as the ``syncwrap`` command (see :mod:`syncwrap.cli`)."""

from .cli.main import run

if __name__ == "__main__":
    run()
