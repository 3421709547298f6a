"""Figures from tallies (docs/method.md): pure functions, no SQL, no store, no network.

The indicators (``indicators.py``, ``leadtime.py``, ``wilson.py``) read a
:class:`~guichets.tally.Tally`; ``report.py`` turns daily rollups into the rows that
``guichets report`` prints and ``render.py`` formats them; ``press.py`` writes the monthly press
summary and ``releases.py`` finds batch releases. Reading the store is the use cases' job
(``guichets.usecases.report``); the contract ``pure-stats`` in pyproject.toml enforces it.
"""
