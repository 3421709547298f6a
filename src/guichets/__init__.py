"""guichets: an observatory of access to French prefecture counters through online booking."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
