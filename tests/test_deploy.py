"""deploy/: the systemd unit is valid and hardened, the container and web server agree with it."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "guichets.service"
HARDENING = {
    "DynamicUser": "yes",
    "ProtectSystem": "strict",
    "NoNewPrivileges": "yes",
    "StateDirectory": "guichets",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
}


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text("utf-8").replace("\\\n", " "))
    return parser


def test_the_unit_is_hardened_and_runs_the_service() -> None:
    service = unit()["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, key
    command = " ".join(service["ExecStart"].split())
    assert " run --catalogue /etc/guichets/catalogue.toml" in command
    assert "--metrics 127.0.0.1:9108" in command and "--site /srv/guichets/site" in command
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > 300  # a probe in flight is bounded at 300 s
    # the site is built beside --site and swapped in: its parent must be writable
    assert service["ReadWritePaths"] == "/srv/guichets"


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    """The unit as systemd reads it: no unknown key, no bad value (warnings fail the test).

    ``make test`` installs systemd's tools when missing (scripts/ensure-systemd-analyze.sh)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: sh scripts/ensure-systemd-analyze.sh"
    guichets = Path(sys.executable).with_name("guichets")
    copy = tmp_path / "guichets.service"
    copy.write_text(
        UNIT.read_text("utf-8").replace("/opt/guichets/.venv/bin/guichets", str(guichets)),
        "utf-8",
    )
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_the_container_and_the_web_server_agree_with_the_unit() -> None:
    containerfile = (DEPLOY / "Containerfile").read_text("utf-8")
    assert "constraints.txt" in containerfile  # the pinned versions, as everywhere
    assert "\nUSER guichets\n" in containerfile
    assert "STOPSIGNAL SIGTERM" in containerfile and "/healthz" in containerfile
    # a build is staged beside the site and swapped in: the site's parent is mounted, not the site
    assert "-v /srv/guichets:/srv/guichets" in containerfile
    assert ":/srv/guichets/site" not in containerfile
    nginx = (DEPLOY / "nginx.conf").read_text("utf-8")
    assert "root /srv/guichets/site;" in nginx
    assert "9108" not in nginx.split("#")[0]  # health and metrics are not published
    for line in nginx.splitlines():
        code = line.split("#", 1)[0]
        assert "9108" not in code and "proxy_pass" not in code
