"""Report the loop thread's lifecycle and event-loop class as JSON.

usage: loop_info.py URL [opt-out]   (opt-out: call syncwrap.loop.use_uvloop(False) first)
"""

import asyncio
import json
import sys
import threading

import syncwrap
import syncwrap.loop


async def where() -> str:
    return f"{threading.current_thread().name}:{type(asyncio.get_running_loop()).__module__}"


url = sys.argv[1]
if sys.argv[2:] == ["opt-out"]:
    syncwrap.loop.use_uvloop(False)
before = [t.name for t in threading.enumerate()]
status = syncwrap.get(url).status_code
loop_threads = [t for t in threading.enumerate() if t.name == "syncwrap-loop"]
loop = syncwrap.loop.get_loop()
print(json.dumps({
    "before": before,
    "status": status,
    "loop_threads": len(loop_threads),
    "daemon": all(t.daemon for t in loop_threads),
    "loop_class": f"{type(loop).__module__}.{type(loop).__qualname__}",
    "coroutine_ran_in": syncwrap.run(where()),
}))
