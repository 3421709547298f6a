"""Figures from observations: pure functions, no I/O."""
