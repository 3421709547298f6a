"""Content decoding, bounded: gzip and deflate undone up to a limit (a gzip bomb stops there),
and the charset a body is read in. Public because the evidence reads archived bodies with the
same code the robot read them with (``evidence/screenshot.py``).
"""

from __future__ import annotations

import codecs
import re
import zlib

__all__ = ["TooLarge", "charset", "decode"]

_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class TooLarge(Exception):
    """A body that decompresses to more than the limit (and was not to be truncated)."""


def decode(raw: bytes, encoding: str, limit: int, truncate: bool = False) -> bytes:
    """Undo gzip/deflate, bounded: a gzip bomb stops at ``limit`` bytes of output.

    An encoding we did not ask for (``br``...) is left as it came: the reader sees bytes it does not
    recognise, which is the honest finding.
    """
    data = raw
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        if not data:
            break
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, 16 + zlib.MAX_WBITS, limit, truncate, members=True)
        elif coding == "deflate":
            try:
                data = _inflate(data, zlib.MAX_WBITS, limit, truncate)
            except zlib.error:  # servers often send raw deflate without the zlib wrapper
                data = _inflate(data, -zlib.MAX_WBITS, limit, truncate)
        elif coding != "identity":
            break
    return data


def _inflate(data: bytes, wbits: int, limit: int, truncate: bool, members: bool = False) -> bytes:
    out = bytearray()
    pending = data
    while pending:
        inflater = zlib.decompressobj(wbits)
        chunk = pending
        while chunk:
            out += inflater.decompress(chunk, limit + 1 - len(out))
            if len(out) > limit:
                if truncate:
                    return bytes(out[:limit])
                raise TooLarge
            chunk = inflater.unconsumed_tail
            if inflater.eof:
                break
        pending = inflater.unused_data if members and inflater.eof else b""
        if pending[:2] != b"\x1f\x8b":
            break  # trailing padding after the last gzip member
    return bytes(out)


def charset(content_type: str, body: bytes) -> str:
    """BOM, then the Content-Type charset, then ``<meta charset>``, else UTF-8."""
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for found in (_HEADER_CHARSET.search(content_type), _META_CHARSET.search(body[:4096])):
        if found is None:
            continue
        name = found.group(1)
        name = name.decode("ascii") if isinstance(name, bytes) else name
        try:
            info = codecs.lookup(name)
        except LookupError:
            continue
        if getattr(info, "_is_text_encoding", True):
            return info.name
    return "utf-8"
