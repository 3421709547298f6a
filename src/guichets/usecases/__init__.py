"""Use cases: what the command line (and the console, the service loop and the workers to come)
asks of the layers below, each assembled once: report rows (``report``), the site's figures
(``figures``), the demo wired to the simulator (``demo``).

This package is the top of the library; only ``guichets.cli`` is above it. A command that needs
the store, the figures and the site together calls a function here instead of wiring them itself.
"""
