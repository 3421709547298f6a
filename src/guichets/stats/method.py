"""The version of the method (docs/method.md): published figures and open data carry it.

Bump it when a definition changes (what counts as valid, the categories, an indicator), so that
figures computed under different rules are never mixed without saying so. The open data of each
version lives in its own folder of the site (``donnees/v<version>/``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["METHOD_VERSION"]

METHOD_VERSION: Final = "1.0"
