"""A second ``guichets run`` on the same data exits at once, non-zero, naming the first run
(pid, host, start time); the lock goes with the process that held it, however it ended."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text  # the tests look into pg_locks as an operator would
from sqlalchemy.exc import DBAPIError

from guichets.runlock import LOCK_FILE, AlreadyRunning, LockLost, LockUnknown, run_lock
from guichets.store import Store, StoreError
from guichets.store.connection import is_connection_loss
from tests.dbfixtures import pg_base_url, pg_schema

GUICHETS = [sys.executable, "-m", "guichets"]
ENV = dict(os.environ, COLUMNS="300", NO_COLOR="1")
HUNG = 300.0  # only a hung process reaches this; a busy machine stays far below


@pytest.fixture
def silent_host() -> Iterator[int]:
    """A port that accepts connections and never answers: a run probing it waits, cheaply."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _run(home: Path, catalogue: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*GUICHETS, "run", "--catalogue", str(catalogue), "--home", str(home), "--once",
         "--gap", "0", "--timeout", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip


def test_a_second_run_is_refused_naming_the_first(silent_host: int, tmp_path: Path) -> None:
    """While a real run is at work (waiting on a host that does not answer), a second one on
    the same --home exits 1 without probing anything, and its message names the first run's
    pid and host."""
    home, catalogue = tmp_path / "data", tmp_path / "catalogue.toml"
    catalogue.write_text(
        'allow_local = true\n[[services]]\nid = "38-silence"\ndepartement = "38"\n'
        'site = "x"\nprocedure = "p"\nplatform = "ezbooking"\ncadence = "1h"\n'
        f'url = "http://127.0.0.1:{silent_host}/booking/create/1"\n',
        "utf-8",
    )
    first = _run(home, catalogue)
    try:
        limit = time.monotonic() + HUNG
        while str(first.pid) not in _lock_text(home):  # the first run holds the lock
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < limit
            time.sleep(0.05)
        second = _run(home, catalogue)
        out, err = second.communicate(timeout=HUNG)
        assert second.returncode == 1, (out, err)
        assert f"pid {first.pid} on host {socket.gethostname()}" in " ".join(err.split())
        assert "probes" not in out  # it did not run at all
        assert first.poll() is None  # the first goes on
    finally:
        first.kill()
        first.wait()


def _lock_text(home: Path) -> str:
    try:
        return (home / LOCK_FILE).read_text("utf-8")
    except OSError:
        return ""


def test_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves no stale lock: the next one takes it at once."""
    home = tmp_path / "data"
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time; from pathlib import Path\n"
            "from guichets.runlock import run_lock\nfrom guichets.store import Store\n"
            f"home = Path({str(home)!r})\n"
            "with Store.open(None, home=home) as store, run_lock(home, store):\n"
            "    print('held', flush=True); time.sleep(600)\n"
        )],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with Store.open(None, home=home) as store:
            with pytest.raises(AlreadyRunning, match=f"pid {holder.pid} "), run_lock(home, store):
                pass
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=HUNG)
            with run_lock(home, store):
                assert str(os.getpid()) in _lock_text(home)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


@pytest.mark.postgres
def test_one_run_per_postgresql_database(tmp_path: Path) -> None:
    """Two runs on one PostgreSQL schema from two data directories (two machines, say): the
    second is refused naming the first's connection; another schema is free."""
    base = pg_base_url()
    with (
        pg_schema(base) as url,
        pg_schema(base) as other,
        Store.open(url, home=tmp_path / "a") as first,
        run_lock(tmp_path / "a", first),
    ):
        with (
            Store.open(url, home=tmp_path / "b") as second,
            pytest.raises(AlreadyRunning, match="in use by guichets run"),
            run_lock(tmp_path / "b", second),
        ):
            pass
        with Store.open(other, home=tmp_path / "c") as third, run_lock(tmp_path / "c", third):
            pass


def _lock_backend(url: str, holder: str) -> int | None:
    """The pid of the server process holding the run lock whose application_name names
    ``holder``, seen from a connection of the test's own."""
    with Store.open(url, home=None) as probe_store, probe_store.reading("find") as conn:
        row = conn.execute(
            text(
                "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE :name"
            ),
            {"name": f"guichets run%{holder}%"},
        ).first()
    return None if row is None else int(row[0])


def _terminate(url: str, pid: int) -> None:
    """End the server process ``pid`` and wait until it is gone (its locks with it)."""
    with Store.open(url, home=None) as admin, admin.reading("terminate") as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # a fresh view each query
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        limit = time.monotonic() + HUNG
        while conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar_one():
            assert time.monotonic() < limit
            time.sleep(0.05)


@pytest.mark.postgres
def test_a_lock_lost_with_its_connection_is_taken_again_when_free(tmp_path: Path) -> None:
    """The lock's backend is terminated (a network cut, a restart would do the same): the
    run's next check notices and takes the lock again on a new connection, and a second run
    is then refused as before."""
    with (
        pg_schema(pg_base_url()) as url,
        Store.open(url, home=tmp_path / "a") as store,
        run_lock(tmp_path / "a", store) as lock,
    ):
        lock.check()  # held: nothing to do
        assert lock.retaken == 0
        before = _lock_backend(url, f'"pid": {os.getpid()}')
        assert before is not None
        _terminate(url, before)
        lock.check()
        assert lock.retaken == 1
        after = _lock_backend(url, f'"pid": {os.getpid()}')
        assert after is not None and after != before
        with (
            Store.open(url, home=tmp_path / "b") as second,
            pytest.raises(AlreadyRunning, match="in use by guichets run"),
            run_lock(tmp_path / "b", second),
        ):
            pass


@pytest.mark.postgres
def test_a_lock_whose_session_cannot_tell_is_neither_given_up_nor_taken_for_held(
    tmp_path: Path,
) -> None:
    """The lock's session is alive but answers with an error (here its transaction is aborted):
    whether it holds the lock cannot be told. The check says so (LockUnknown, a StoreError that
    is not a connection loss: the run stops rather than wait it out or probe on), and does not
    let go of the lock: a second run is still refused. Once the session answers, it holds."""
    with (
        pg_schema(pg_base_url()) as url,
        Store.open(url, home=tmp_path / "a") as store,
        run_lock(tmp_path / "a", store) as lock,
    ):
        session = lock.database._conn if lock.database is not None else None
        assert session is not None
        session.execute(text("BEGIN"))
        with pytest.raises(DBAPIError):
            session.execute(text("SELECT 1 / 0"))  # the transaction is aborted now
        with pytest.raises(LockUnknown) as caught:
            lock.check()
        message = str(caught.value)
        assert "\n" not in message and "could not tell" in message
        assert not is_connection_loss(caught.value)
        assert isinstance(caught.value, StoreError)
        with (
            Store.open(url, home=tmp_path / "b") as second,
            pytest.raises(AlreadyRunning, match="in use by guichets run"),
            run_lock(tmp_path / "b", second),
        ):
            pass
        session.execute(text("ROLLBACK"))
        lock.check()
        assert lock.retaken == 0


@pytest.mark.postgres
def test_a_lock_lost_to_a_second_run_stops_the_first(tmp_path: Path) -> None:
    """The lock's backend is terminated and a second run takes the lock before the first
    checks: the first's check raises LockLost, one line naming the new holder."""
    with (
        pg_schema(pg_base_url()) as url,
        Store.open(url, home=tmp_path / "a") as store,
        run_lock(tmp_path / "a", store) as lock,
    ):
        pid = _lock_backend(url, f'"pid": {os.getpid()}')
        assert pid is not None
        _terminate(url, pid)
        with Store.open(url, home=tmp_path / "b") as second, run_lock(tmp_path / "b", second):
            with pytest.raises(LockLost) as caught:
                lock.check()
            message = str(caught.value)
            assert "\n" not in message
            assert "lost with its connection" in message
            assert "guichets run" in message and "this run stops" in message


@pytest.mark.postgres
def test_the_command_stops_in_one_line_when_another_run_took_its_lost_lock(
    silent_host: int, tmp_path: Path
) -> None:
    """``guichets run`` on PostgreSQL, its probe waiting on a host that does not answer: its
    lock's backend is terminated and a second run takes the lock; before saving, the first
    notices, stores nothing more and exits 1 with one line naming the holder."""
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text(
        'allow_local = true\n[[services]]\nid = "38-silence"\ndepartement = "38"\n'
        'site = "x"\nprocedure = "p"\nplatform = "ezbooking"\ncadence = "1h"\n'
        f'url = "http://127.0.0.1:{silent_host}/booking/create/1"\n',
        "utf-8",
    )
    with pg_schema(pg_base_url()) as url:
        run = subprocess.Popen(
            [*GUICHETS, "run", "--catalogue", str(catalogue), "--home", str(tmp_path / "a"),
             "--db", url, "--once", "--gap", "0", "--timeout", "20", "--no-evidence"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        try:
            limit = time.monotonic() + HUNG
            while (pid := _lock_backend(url, f'"pid": {run.pid}')) is None:
                assert run.poll() is None, run.communicate()
                assert time.monotonic() < limit
                time.sleep(0.1)
            _terminate(url, pid)
            with Store.open(url, home=tmp_path / "b") as second, run_lock(tmp_path / "b", second):
                out, err = run.communicate(timeout=HUNG)
                assert second.count() == 0
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert run.returncode == 1, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: the run lock on postgresql")
    assert "lost with its connection" in lines[0] and "this run stops" in lines[0]
    assert f'"pid": {os.getpid()}' in lines[0]  # the holder: this test's run_lock
