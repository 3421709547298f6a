"""Alerts: the rules that turn probes into news (``rules.py``), their French messages
(``messages.py``), delivery through Apprise (``delivery.py``), the monitor that stores them after
every probe and on a watchdog (``monitor.py``), their configuration (``config.py``) and how a run
sets them up (``service.py``). See ``docs/alerts.md``."""
