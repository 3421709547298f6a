"""Several machines on one schedule: workers that take due probes from PostgreSQL.

``guichets run`` is one process on one machine, with its schedule in memory and SQLite by
default. Here the schedule lives in the PostgreSQL database the data lives in, as procrastinate
jobs (one per service and period, deferred to the period's random instant), and workers on any
number of machines take the jobs that are due. The probe itself is the same code
(:func:`guichets.probe.run_probe`, the evidence archive, the store).

- ``db.py``: psycopg connection pools from a store URL;
- ``book.py``: the shared book of periods (``schedule_periods``) and workers: plan, claim, lease,
  finish, lose, sweep;
- ``queue.py``: the procrastinate app, its schema, and the jobs;
- ``gate.py``: politeness shared by every worker (``host_gates``);
- ``scheduler.py``: defers the periods ahead of time;
- ``worker.py``: one worker process;
- ``agreement.py``: what the vantage points saw, and how often they agree.
"""
