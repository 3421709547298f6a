"""The public website: static pages (French first, English second), map, charts, open data.

``build.py`` turns the store into plain files any web server can host, with no network at run
time (no CDN, no external font or script) and readable without JavaScript; ``figures.py`` reads
what the pages show; ``francemap.py`` and ``charts.py`` draw server-side SVG; ``opendata.py``
writes the CSV/JSON and their ``datapackage.json``; ``i18n.py`` holds the words of both languages.
"""
