"""Children of ours (``guichets/forks.py``): the pool workers a build forks take SIGINT and SIGTERM
at their default, not the handlers of the process that forked them: ``guichets run --site``
builds in a thread of a process whose event loop stops the run on SIGTERM. A real process with
that handler; synchronised by pipes, never a sleep or a clock.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# A build's pool in ``guichets run --site``: forked from a thread of a process whose event loop
# stops the run on SIGTERM (``usecases/run.py``, ``stop_on_signals``); each worker, once it says
# its pid, blocks reading a pipe that stays open while this process lives; both are sent SIGTERM.
_IN_A_RUN = """
import asyncio, os, signal, sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from guichets.store import Store
from guichets.store.forked import forked_pool

home = Path(sys.argv[1])
said, say = os.pipe()
never, held = os.pipe()


def blocked(_: object = None) -> None:
    os.close(held)  # this process's copy: only the parent's holds the pipe open
    os.write(say, f"{os.getpid()}\\n".encode())
    os.read(never, 1)  # until the parent is gone


def pids() -> list[int]:
    found = b""
    while found.count(b"\\n") < 2:
        found += os.read(said, 64)
    return [int(pid) for pid in found.split()]


def pool() -> str:
    with Store.open(None, home=home) as store, forked_pool(store, 2) as workers:
        futures = [workers.submit(blocked) for _ in range(2)]
        for pid in pids():
            os.kill(pid, signal.SIGTERM)
        try:
            for future in futures:
                future.result()
        except BrokenProcessPool:
            return "the workers ended"
        return "the workers lived on"


async def main() -> None:
    loop = asyncio.get_running_loop()
    told = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, told.set)
    work = asyncio.ensure_future(asyncio.to_thread(pool))
    stop = asyncio.ensure_future(told.wait())
    await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
    print("the run was told to stop" if told.is_set() else work.result(), flush=True)
    os._exit(0)  # workers left blocked (before) end as this process goes: their pipe closes


asyncio.run(main())
"""


def test_pool_workers_forked_in_a_run_take_sigterm_at_its_default(tmp_path: Path) -> None:
    """Pool workers forked in a process whose event loop stops the run on SIGTERM (the figures'
    and the release analyses' ``forked_pool``; the pages' workers and the month files' are
    forked the same way, ``forks.ours``), sent SIGTERM: they end, and the run is not told to
    stop (before: each ignored it, the loop's handler being a no-op there, and the pool waited
    for them for ever)."""
    done = subprocess.run(
        [sys.executable, "-c", _IN_A_RUN, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,  # a hang's bound only: the workers are told at once
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "the workers ended\n"), done.stderr


# The pages a build's processes take one at a time (``pages_work._Next``): a forked process is
# killed while it takes one (in the counter's lock: the OOM killer, a Ctrl-C sent to the whole
# group, systemd's SIGTERM to every process of the service; workers take both at their default).
_KILLED_TAKING = """
import multiprocessing, os, signal
from guichets.site.pages_work import _Next

take = _Next(3, multiprocessing.get_context("fork"))
said, say = os.pipe()
never, held = os.pipe()
child = os.fork()
if child == 0:
    take.lock.acquire()  # where a worker is while it takes a page
    os.write(say, b"in")
    os.read(never, 1)  # until killed
    os._exit(0)
os.read(said, 2)
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
print(take(), take(), take(), take(), flush=True)
take.close()
print(take(), flush=True)
"""


def test_a_process_killed_taking_a_page_stops_no_other() -> None:
    """A process killed while it takes the next page leaves the others taking theirs, and a
    failed build's stop handing out no more (before: the counter's lock, a multiprocessing
    lock, stayed held by the dead process, and every later take, the stop's too, waited for
    it for ever: the build hung, killed here at the 120 s bound)."""
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_TAKING],
        capture_output=True,
        text=True,
        timeout=120,  # a hang's bound only: the pages are taken at once
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "0 1 2 None\nNone\n"), done.stderr
