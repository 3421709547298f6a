"""Evidence: every exchange of every probe in WARC files, digests, a hash chain per service,
screenshots of archived pages, court dossiers and retention. See ``docs/evidence.md``.

One module per part: ``warc`` (records, written and read with warcio), ``layout`` (where files
live), ``archive`` (the writer a run uses), ``recovery`` (after a crash), ``verify``,
``screenshot``, ``dossier``, ``retention``. The rows and the ledger's digests are the store's
(``guichets.store.evidence``, ``guichets.store.ledger``): they are written in the probe's own
transaction.
"""
