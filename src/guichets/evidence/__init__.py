"""Evidence: every exchange of every probe in WARC files, digests, a hash chain per service,
screenshots of archived pages, court dossiers and retention. See ``docs/evidence.md``.

One module per part: ``warc`` (records, written and read with warcio), ``ledger`` (the digests),
``layout`` (where files live), ``archive`` (the writer a run uses), ``recovery`` (after a crash),
``verify``, ``screenshot``, ``dossier``, ``retention``. This package imports nothing at import time
so that the store can use :mod:`guichets.evidence.ledger` without a cycle.
"""
