"""The store: every probe the robot made, as it found it, in SQLite or PostgreSQL.

Everything downstream (statistics, evidence, the public site) reads the probes stored here, so
the store never rewrites or drops a probe: a second probe for a slot of the schedule that already
has one is refused, not merged. Opening a store brings its schema to the latest migration.

All the SQL of guichets is in this package, one module per concern, behind one facade,
:class:`Store`: ``engine`` (opening, migrations, transactions), ``runs``, ``probes`` (writing),
``readings`` (reading probes back), ``rollups`` (the daily rollups), ``totals`` (the running totals
the database's triggers keep: probes per hour, the rollups' sums per day), ``evidence`` (WARC rows
and the ledger; its digests in ``ledger``), ``export`` (the open-data rows); ``schema`` holds the
tables and ``migrations/`` their history. Functions of the store, by concern, for the layers above:
``alerts``, ``outbox`` (alert messages not yet delivered), ``assisted``, ``advisory`` (the run
lock), ``connection`` (a lost connection, a ping, the libpq URI), ``vantage``; and the workers'
async SQL on their psycopg pool: ``book``, ``host_gates``, ``jobs``. The contract ``sql-in-store``
(pyproject) keeps it so.
"""

from __future__ import annotations

from guichets.datadir import DB_FILE, DEFAULT_HOME
from guichets.store.engine import StoreError
from guichets.store.evidence import Evidence, EvidenceFile, EvidenceRecord, LedgerEntry
from guichets.store.probes import Origin
from guichets.store.readings import Readings, as_utc
from guichets.store.rollups import Rollups
from guichets.store.runs import Run, Runs
from guichets.store.schema import metadata

__all__ = [
    "DB_FILE",
    "DEFAULT_HOME",
    "EvidenceFile",
    "EvidenceRecord",
    "LedgerEntry",
    "Origin",
    "Run",
    "Store",
    "StoreError",
    "as_utc",
    "metadata",
]


class Store(Evidence, Readings, Rollups, Runs):
    """Probes and runs in one database. Open with :meth:`open`; safe to share between threads."""
