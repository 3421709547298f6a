"""Figures from observations (docs/method.md).

The indicators are pure functions of tallies (``tally.py``, ``indicators.py``, ``leadtime.py``,
``wilson.py``); ``rollups.py`` holds the SQL of the daily rollups that the store runs, and
``report.py`` turns rollups into the rows that ``guichets report`` prints.
"""
