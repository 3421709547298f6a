"""``guichets simulate`` as a person runs it: a real process on a real port."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ezpages import NO_SLOT, form_text, walk
from tests.simthread import Browser

GUICHETS = [sys.executable, "-m", "guichets"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_line(process: subprocess.Popen[str], marker: str, timeout: float = 30) -> str:
    """Read the process's output until a line holds ``marker`` (it prints once it listens).

    Only the first lines can be awaited this way: readline buffers ahead of select.
    """
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen = []
    while selector.select(timeout):
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return line
    raise AssertionError(f"{marker!r} never printed; output: {''.join(seen)}")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    port = _free_port()
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    process = subprocess.Popen(
        [*GUICHETS, "simulate", "--scenario", "france-demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        _wait_for_line(process, "Simulating")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0


def test_simulate_serves_a_person_path_and_the_truth(served: str) -> None:
    result = walk(Browser(), served + "/puy-de-dome/booking/create/7001/0")
    assert result.kind == "no_slot" and form_text(result.page) == NO_SLOT
    page = Browser().request(served + "/_truth/63-clermont-renouvellement?at=2026-10-06T10:00:00Z")
    assert page.status == 200 and '"available": false' in page.text
    assert '"count": 0' in Browser().request(served + "/_forbidden").text


def test_simulate_clock_can_be_moved(served: str) -> None:
    import json
    import urllib.request

    before = json.loads(Browser().request(served + "/_clock").text)["now"]
    request = urllib.request.Request(
        served + "/_clock", data=b'{"advance": 3600}', method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request) as response:
        after = json.loads(response.read())["now"]
    assert before < after


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([*GUICHETS, *args], capture_output=True, text=True, env=env, timeout=60)


def test_help_explains_scenarios_and_truth_endpoints() -> None:
    result = _run("simulate", "--help")
    assert result.returncode == 0
    for words in ("--scenario", "france-demo", "/_truth", "/_forbidden", "/_clock", "curl"):
        assert words in result.stdout


def test_bad_scenario_exits_2_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[scenario]\nname = "x"\nstart = "soon"\n', encoding="utf-8")
    result = _run("simulate", "--scenario", str(path), "--port", "0")
    assert result.returncode == 2
    assert f"{path}:3" in result.stderr


def test_refuses_to_listen_beyond_loopback() -> None:
    result = _run("simulate", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2 and "loopback" in result.stderr


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.startswith("guichets ")
