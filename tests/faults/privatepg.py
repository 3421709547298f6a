"""A private PostgreSQL cluster for tests that stop or restart the server: its own folder, its
own port on 127.0.0.1, its own socket folder. The shared server on 5432 is never touched."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.skip(f"PostgreSQL's {name} is not installed (make test installs postgresql)")
    return found[-1]


def _as_postgres(*command: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivatePostgres:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres(_bin("pg_ctl"), "-D", str(self.folder / "data"), *args),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-l", str(self.folder / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def start_later(self, seconds: float) -> threading.Thread:
        """Start the server again after ``seconds`` (a restart as an operator would do it)."""
        timer = threading.Timer(seconds, self.start)
        timer.start()
        return timer


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    folder = Path(tempfile.mkdtemp(prefix="guichets-pg-", dir="/tmp"))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PrivatePostgres(folder, _free_port())
    try:
        subprocess.run(
            _as_postgres(_bin("initdb"), "-D", str(folder / "data"), "-A", "trust", "-U",
                         "postgres", "--no-sync"),
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        server.start()
        yield server
    finally:
        subprocess.run(
            _as_postgres(_bin("pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"),
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
