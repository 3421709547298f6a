"""Changes to a catalogue file that keep what its author wrote: comments, order, layout.

``catalogue add`` appends rows, ``catalogue verify`` writes ``verified`` and ``last_outcome`` into
rows it read right. Both edit the file through tomlkit's document (a style-preserving TOML
library), check the result with the catalogue's own loader before anything is replaced, and
replace the file in one step, so that a crash or a mistake never leaves half a catalogue.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table

from guichets.catalogue import Defaults, Service, host_problem, load_catalogue, service_table
from guichets.files import atomic_file, partial_path
from guichets.tomlconfig import ConfigError, Problem

__all__ = [
    "allows_local",
    "append_services",
    "implied_values",
    "mark_verified",
    "read_document",
]


def read_document(path: Path) -> tomlkit.TOMLDocument:
    """The file as tomlkit's editable document (an empty one for a file not yet written)."""
    if not path.exists():
        return tomlkit.document()
    text = path.read_text("utf-8")
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(path, [Problem(str(path), None, "", f"not valid TOML: {exc}")]) from exc


def implied_values(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a row gets without writing it: the built-in defaults, then the file's [defaults]."""
    implied: dict[str, Any] = {
        name: info.default for name, info in Service.model_fields.items() if not info.is_required()
    }
    raw = document.get("defaults")
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            if key in Defaults.model_fields:
                implied[key] = _plain(value)
    return implied


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def _rows(document: tomlkit.TOMLDocument) -> AoT:
    rows = document.get("services")
    if rows is None:
        if document.body:
            document.add(tomlkit.nl())
        document.append("services", tomlkit.aot())
        rows = document.get("services")
    if not isinstance(rows, AoT):
        raise ValueError("the file's 'services' is not a list of [[services]] tables")
    return rows


def allows_local(document: Mapping[str, Any]) -> bool:
    """Whether the file already says ``allow_local = true`` at its top."""
    return _plain(document.get("allow_local")) is True


def append_services(path: Path, services: Sequence[Service], allow_local: bool = False) -> bool:
    """Append one ``[[services]]`` table per service at the end of the file.

    A service on a loopback, private or numeric host (a simulated site, a local imitation) needs
    ``allow_local = true`` at the top of the file. That setting relaxes the host check for every
    row of the file, so it is written only when the caller says so (``allow_local``, the
    command's ``--allow-local``); True is then returned so that the command says it did.
    Without it, such a row makes the loader refuse the result and the file is left unchanged.
    """
    document = read_document(path)
    local = allow_local and _needs_allow_local(document, services)
    if local:
        _set_top_level(document, "allow_local", True)
    implied = implied_values(document)
    rows = _rows(document)
    for service in services:
        table = service_table(service, implied)
        if len(rows):
            table.trivia.indent = "\n"  # a blank line before each new [[services]], as written
        rows.append(table)
    _replace(path, tomlkit.dumps(document))
    return local


def _needs_allow_local(document: tomlkit.TOMLDocument, services: Sequence[Service]) -> bool:
    if allows_local(document):
        return False
    return any(
        host_problem(s.url, allow_local=False) and host_problem(s.url, allow_local=True) is None
        for s in services
    )


def _set_top_level(document: tomlkit.TOMLDocument, key: str, value: Any) -> None:
    """A top-level key before the file's first table (after its opening comments)."""
    body = document.body
    first = next(
        (n for n, (_, item) in enumerate(body) if isinstance(item, Table | AoT)), len(body)
    )
    if first >= len(body):
        document[key] = value
    else:
        document._insert_at(first, key, value)


def mark_verified(path: Path, outcomes: Mapping[str, str], day: date) -> None:
    """Write ``verified = day`` and ``last_outcome`` into the rows whose ids are given."""
    document = read_document(path)
    left = dict(outcomes)
    for table in _tables(document):
        ident = _plain(table.get("id"))
        if ident in left:
            _set_in_place(table, "verified", day)
            _set_in_place(table, "last_outcome", left.pop(ident))
    if left:
        raise ValueError(f"no row with the id {', '.join(sorted(left))}")
    _replace(path, tomlkit.dumps(document))


def _set_in_place(table: Table, key: str, value: Any) -> None:
    """Set ``key`` in ``table`` next to its other keys.

    tomlkit keeps the blank lines and comments that follow a table's last key inside that table
    (they come before the next header); a key added with ``table[key] = ...`` would land after
    them, separating the next row from the comment written above it. So a new key goes right
    after the last key. ``Container._insert_at`` is tomlkit's own (pinned in constraints.txt;
    ``tests/test_cli_catalogue.py`` checks the result).
    """
    if key in table:
        table[key] = value
        return
    body = table.value.body
    last = max((number for number, (name, _) in enumerate(body) if name is not None), default=-1)
    if last + 1 >= len(body):
        table[key] = value
    else:
        table.value._insert_at(last + 1, key, value)


def _tables(document: tomlkit.TOMLDocument) -> Iterable[Table]:
    rows = document.get("services")
    if isinstance(rows, AoT):
        yield from rows


def _replace(path: Path, text: str) -> None:
    """Check the new text as a catalogue, then put it in place atomically."""
    with atomic_file(path, "w", permissions=0o600) as out:
        out.write(text)
        out.flush()
        try:
            load_catalogue(partial_path(path))  # the file on disk stays as it was
        except ConfigError as error:
            problems = [replace(problem, file=str(path)) for problem in error.problems]
            raise ConfigError(path, problems) from None
        if path.exists():
            os.fchmod(out.fileno(), path.stat().st_mode & 0o7777)
