"""robots.txt as RFC 9309 says: which paths of a host the robot may fetch.

The observatory asks before it looks: every host's ``robots.txt`` is read and obeyed unless an
operator recorded a reason to override it for that host (see :mod:`guichets.http`). This module is
plain data and matching, no I/O, so the rules can be tested against the RFC's own examples.

Matching follows RFC 9309: groups of one or more ``User-agent`` lines, the robot's product token
compared case-insensitively, rules of all groups naming the token combined (else all ``*`` groups),
``*`` and ``$`` wildcards, the longest matching rule wins and ``Allow`` wins a tie, percent-encoding
normalised on both sides, and only the first 500 KiB parsed.

Why our own code rather than the standard library's ``urllib.robotparser`` or a package: a refusal
is evidence, so the probe must record *which rule decided* (``RobotsTxt.deciding_rule``, quoted in
the probe's message as ``Disallow: /pattern``), and ``urllib.robotparser`` answers only yes or no
(and predates RFC 9309: first match instead of longest, no ``$``). That reason stands; if a
maintained RFC 9309 parser that names the deciding rule appears, it should replace this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "PARSE_LIMIT",
    "RobotsTxt",
    "Rule",
    "normalise_path",
    "product_token",
]

PARSE_LIMIT = 500 * 1024  # RFC 9309 2.5: parse at least 500 KiB; we parse exactly that

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_RESERVED = frozenset(":/?#[]@!$&'()*+,;=")
_HEX = frozenset("0123456789abcdefABCDEF")
_TOKEN = re.compile(r"[A-Za-z_-]+")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def product_token(user_agent: str) -> str:
    """The first product of a User-Agent (``guichets/0.1 (...)`` -> ``guichets``), lower case.

    RFC 9309 matches groups on this token, never on the whole header.
    """
    match = _TOKEN.match(user_agent.strip())
    return match.group(0).lower() if match else ""


def normalise_path(path: str, *, pattern: bool = False) -> str:
    """One spelling per path, so that a rule and a URL compare octet by octet (RFC 9309 2.2.2).

    Non-ASCII and characters that may not appear raw in a URI are percent-encoded as UTF-8;
    percent-encoded unreserved characters are decoded (``%62`` -> ``b``); every other escape keeps
    its encoding, with upper-case hex. In a rule, ``*`` and ``$`` are wildcards and stay; in a URL
    they are plain characters and become ``%2A`` and ``%24``, which is how a rule names them
    (RFC 9309 2.2.3).
    """
    out: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char == "%" and i + 2 < len(path) and path[i + 1] in _HEX and path[i + 2] in _HEX:
            octet = int(path[i + 1 : i + 3], 16)
            decoded = chr(octet)
            out.append(decoded if decoded in _UNRESERVED else f"%{octet:02X}")
            i += 3
            continue
        if char in "*$" and not pattern:
            out.append("%2A" if char == "*" else "%24")
        elif char in _UNRESERVED or char in _RESERVED:
            out.append(char)
        else:  # a lone "%", a space, a control or non-ASCII character
            out.extend(f"%{octet:02X}" for octet in char.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _matches(pattern: str, path: str) -> bool:
    """Whether ``pattern`` (with ``*`` and a final ``$``) matches the start of ``path``.

    A set of reachable positions rather than a regular expression: the patterns come from the
    sites, and ``a*a*a*a*b`` must not cost exponential time.
    """
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    if "*" not in pattern:
        return path == pattern if anchored else path.startswith(pattern)
    positions = {0}
    for char in pattern:
        if char == "*":
            positions = set(range(min(positions), len(path) + 1))
        else:
            positions = {p + 1 for p in positions if p < len(path) and path[p] == char}
        if not positions:
            return False
    return len(path) in positions if anchored else True


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``Allow`` or ``Disallow`` line, its pattern normalised."""

    allow: bool
    pattern: str

    def matches(self, path: str) -> bool:
        return _matches(self.pattern, path)


@dataclass(frozen=True)
class RobotsTxt:
    """The groups of one robots.txt: product token (``*`` for the fallback) -> combined rules."""

    groups: dict[str, tuple[Rule, ...]]
    default: bool = True  # the verdict when no rule matches: False only for "unreachable"

    @classmethod
    def allow_all(cls) -> RobotsTxt:
        """What a 4xx robots.txt means (RFC 9309 2.3.1.3): no restriction."""
        return cls({})

    @classmethod
    def disallow_all(cls) -> RobotsTxt:
        """What an unreachable robots.txt means (RFC 9309 2.3.1.4): nothing may be fetched."""
        return cls({}, default=False)

    @classmethod
    def parse(cls, content: bytes | str) -> RobotsTxt:
        """Read the groups; lines the RFC does not define, and rules outside a group, are ignored.

        Only the first :data:`PARSE_LIMIT` octets count; a line cut there is dropped whole, so that
        a truncated ``Allow`` never allows more than the site wrote.
        """
        raw = content.encode("utf-8") if isinstance(content, str) else content
        if len(raw) > PARSE_LIMIT:
            raw = raw[:PARSE_LIMIT]
            cut = max(raw.rfind(b"\n"), raw.rfind(b"\r"))
            raw = raw[: cut + 1] if cut >= 0 else b""
        text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
        groups: dict[str, list[Rule]] = {}
        agents: list[str] = []
        in_rules = False  # a user-agent line after rules starts a new group
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            key, sep, value = line.partition(":")
            if not sep:
                continue
            key = key.strip().lower()
            value = value.strip()
            if key in ("user-agent", "useragent", "user agent"):
                if in_rules:
                    agents, in_rules = [], False
                token = "*" if value.startswith("*") else product_token(value)
                if token:
                    agents.append(token)
                    groups.setdefault(token, [])
                continue
            if key not in ("allow", "disallow"):
                continue  # sitemap, crawl-delay and the like do not end a group
            in_rules = True
            if not value or not agents:
                continue  # an empty rule allows; a rule before any user-agent belongs to no one
            if not value.startswith(("/", "*")):
                value = "/" + value
            rule = Rule(allow=key == "allow", pattern=normalise_path(value, pattern=True))
            for agent in agents:
                groups[agent].append(rule)
        return cls({agent: tuple(rules) for agent, rules in groups.items()})

    def rules_for(self, token: str) -> tuple[Rule, ...]:
        """The rules that apply to ``token``: its own groups, else the ``*`` groups."""
        token = token.lower()
        if token in self.groups:
            return self.groups[token]
        return self.groups.get("*", ())

    def allowed(self, target: str, token: str) -> bool:
        """Whether the robot called ``token`` may fetch ``target`` (a URL or a path with query)."""
        path = _target_path(target)
        if path == "/robots.txt":
            return True  # RFC 9309 2.2.2: implicitly allowed
        rule = self._decide(path, token)
        return self.default if rule is None else rule.allow

    def deciding_rule(self, target: str, token: str) -> Rule | None:
        """The rule that decides ``target``: the longest match, ``Allow`` on a tie (None: none)."""
        return self._decide(_target_path(target), token)

    def _decide(self, path: str, token: str) -> Rule | None:
        matching = [r for r in self.rules_for(token) if r.matches(path)]
        if not matching:
            return None
        return max(matching, key=lambda r: (len(r.pattern), r.allow))


def _target_path(target: str) -> str:
    """The normalised path and query of a URL or path: what rules are matched against."""
    if _ABSOLUTE.match(target):
        parts = urlsplit(target)
        target = parts.path + ("?" + parts.query if parts.query else "")
    if not target.startswith("/"):
        target = "/" + target
    return normalise_path(target)
