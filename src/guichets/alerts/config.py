"""The alerts' configuration file (TOML): where to deliver, quiet hours, the rules' thresholds.

```toml
[notify]
urls = ["json://127.0.0.1:8080/", "mailto://robot:secret@smtp.example.org?to=veille@example.org"]
quiet_hours = "22:00-07:00"   # Paris time; messages wait until the end
digest = "08:00"              # optional: a daily digest of the alerts at that Paris time
site_url = "https://guichets.example.org/"  # for links to the service pages

[rules]
closed_probes = 6
closed_hours = 24
```

Every key is optional; a wrong one is refused with its line (``guichets.tomlconfig``).
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guichets.alerts.delivery import QuietHours
from guichets.alerts.rules import Rules
from guichets.tomlconfig import load_model

__all__ = ["AlertsFile", "load_alerts_file"]


class RulesSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closed_probes: int = Field(Rules.closed_probes, ge=1)
    closed_hours: float = Field(Rules.closed_hours, ge=0)
    reopen_probes: int = Field(Rules.reopen_probes, ge=1)
    blind_probes: int = Field(Rules.blind_probes, ge=1)
    platform_services: int = Field(Rules.platform_services, ge=1)
    platform_hours: float = Field(Rules.platform_hours, ge=0)
    stalled_cadences: float = Field(Rules.stalled_cadences, ge=0)

    def rules(self) -> Rules:
        return Rules(**self.model_dump())


class NotifySection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[str] = []
    quiet_hours: str | None = None
    site_url: str | None = None
    digest: time | None = None  # e.g. "08:00": a daily digest at that Paris time

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None:
            QuietHours.parse(value)
        return value


class AlertsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notify: NotifySection = NotifySection()
    rules: RulesSection = RulesSection()


def load_alerts_file(path: Path) -> AlertsFile:
    """Read and check the file; ConfigError lists every problem at its line."""
    return load_model(path, AlertsFile)
