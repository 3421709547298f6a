"""robots.txt matching, checked against RFC 9309's own examples and a few sharp edges."""

from __future__ import annotations

import time

import pytest

from guichets.http.robots import PARSE_LIMIT, RobotsTxt, normalise_path, product_token

# RFC 9309, section 5.1 ("Simple Example"), verbatim.
RFC_EXAMPLE = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
"""


@pytest.mark.parametrize(
    ("agent", "path", "allowed"),
    [
        # foobot: its own group only, "*" rules do not apply
        ("foobot", "/", False),
        ("foobot", "/other", False),
        ("foobot", "/example/page.html", True),
        ("foobot", "/example/allowed.gif", True),
        ("foobot", "/example/other.gif", False),
        # barbot and bazbot share one group
        ("barbot", "/example/page.html", False),
        ("barbot", "/example/other.html", True),
        ("bazbot", "/example/page.html", False),
        ("bazbot", "/picture.gif", True),
        # quxbot: a group without rules allows everything
        ("quxbot", "/example/page.html", True),
        ("quxbot", "/picture.gif", True),
        # everyone else: the "*" group
        ("otherbot", "/picture.gif", False),
        ("otherbot", "/dir/picture.gif", False),
        ("otherbot", "/picture.gif?x=1", True),  # "$" anchors the end
        ("otherbot", "/example/", False),
        ("otherbot", "/example/page.html", False),
        ("otherbot", "/publications/", True),
        ("otherbot", "/publications/list.html", True),
        ("otherbot", "/", True),
    ],
)
def test_rfc_simple_example(agent: str, path: str, allowed: bool) -> None:
    assert RobotsTxt.parse(RFC_EXAMPLE).allowed(path, agent) is allowed


def test_rfc_longest_match_example() -> None:
    # RFC 9309, section 5.2.
    robots = RobotsTxt.parse(
        "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
    )
    assert robots.allowed("/example/page/", "foobot")
    assert robots.allowed("/example/page/other.gif", "foobot")
    assert not robots.allowed("/example/page/disallowed.gif", "foobot")


def test_allow_wins_a_tie() -> None:
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /page\nAllow: /page\n")
    assert robots.allowed("/page", "guichets")
    robots = RobotsTxt.parse("User-agent: *\nAllow: /page\nDisallow: /page\n")
    assert robots.allowed("/page", "guichets")


def test_longest_match_counts_wildcards_as_written() -> None:
    robots = RobotsTxt.parse("User-agent: *\nAllow: /page\nDisallow: /*.html\n")
    assert not robots.allowed("/page.html", "guichets")  # 7 octets beat 5
    assert robots.allowed("/page", "guichets")
    robots = RobotsTxt.parse("User-agent: *\nAllow: /x/page.\nDisallow: /*.html\n")
    assert robots.allowed("/x/page.html", "guichets")  # 8 octets beat 7
    assert not robots.allowed("/x/y.html", "guichets")


def test_dollar_anchor_on_root() -> None:
    robots = RobotsTxt.parse("User-agent: *\nAllow: /$\nDisallow: /\n")
    assert robots.allowed("/", "guichets")
    assert not robots.allowed("/index.html", "guichets")


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/fish", "/fish", True),
        ("/fish", "/fish.html", True),
        ("/fish", "/fish/salmon.html", True),
        ("/fish", "/fishheads", True),
        ("/fish", "/Fish.asp", False),  # case-sensitive
        ("/fish", "/catfish", False),
        ("/fish*", "/fishheads/yummy.html", True),
        ("/fish/", "/fish/", True),
        ("/fish/", "/fish/?id=anything", True),
        ("/fish/", "/fish", False),
        ("/fish/", "/fish.html", False),
        ("/*.php", "/index.php", True),
        ("/*.php", "/folder/filename.php?parameters", True),
        ("/*.php", "/folder/any.php.file.html", True),
        ("/*.php", "/", False),
        ("/*.php$", "/folder/filename.php", True),
        ("/*.php$", "/filename.php?parameters", False),
        ("/*.php$", "/filename.php/", False),
        ("/*.php$", "/filename.php5", False),
        ("/fish*.php", "/fishheads/catfish.php?parameters", True),
        ("/fish*.php", "/Fish.PHP", False),
        ("/this/*/exactly", "/this/is/exactly", True),
        ("/this/path/exactly$", "/this/path/exactly", True),
        ("/this/path/exactly$", "/this/path/exactly/not", False),
        ("*", "/anything", True),
        ("/a*b*c$", "/aXbYc", True),
        ("/a*b*c$", "/aXbYcZ", False),
    ],
)
def test_wildcards(pattern: str, path: str, matches: bool) -> None:
    robots = RobotsTxt.parse(f"User-agent: *\nDisallow: {pattern}\n")
    assert robots.allowed(path, "guichets") is not matches


def test_wildcard_matching_is_not_exponential() -> None:
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /" + "a*" * 60 + "b$\n")
    # CPU time of this process, not wall time, so that a busy machine does not fail it; backtracking
    # over 60 wildcards would take ages (2^60 paths), a linear matcher milliseconds.
    started = time.process_time()
    assert robots.allowed("/" + "a" * 3000, "guichets")
    assert time.process_time() - started < 10.0


@pytest.mark.parametrize(
    ("rule", "url_path"),
    [
        # RFC 9309 2.2.2, table 1
        ("/foo/bar?baz=quz", "/foo/bar?baz=quz"),
        ("/foo/bar/ツ", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%e3%83%84", "/foo/bar/ツ"),
        ("/foo/bar/%62%61%7A", "/foo/bar/baz"),
        ("/foo/bar/baz", "/foo/bar/%62%61%7a"),
        # RFC 9309 2.2.3: special characters matched verbatim are percent-encoded in the rule
        ("/path/file-with-a-%2A.html", "/path/file-with-a-*.html"),
        ("/path/foo-%24", "/path/foo-$"),
    ],
)
def test_percent_encoding_normalised(rule: str, url_path: str) -> None:
    robots = RobotsTxt.parse(f"User-agent: *\nDisallow: {rule}$\n")
    assert not robots.allowed(url_path, "guichets")
    assert not robots.allowed("https://www.example.com" + url_path, "guichets")


def test_reserved_escapes_stay_escaped() -> None:
    # "%2F" is not "/": a rule on /a/b must not catch /a%2Fb
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /a/b\n")
    assert robots.allowed("/a%2Fb", "guichets")
    assert normalise_path("/a%2fb") == "/a%2Fb"
    assert normalise_path("/caf\u00e9 x") == "/caf%C3%A9%20x"


def test_product_token_matching() -> None:
    assert product_token("guichets/0.1 (+https://example.org)") == "guichets"
    assert product_token("Mozilla/5.0 (X11)") == "mozilla"
    robots = RobotsTxt.parse(
        "User-agent: *\nDisallow: /\n\nUser-agent: GUICHETS/2.0 please\nDisallow: /private\n"
    )
    assert robots.allowed("/public", "guichets")  # our group, not "*"
    assert not robots.allowed("/private/x", "guichets")
    assert not robots.allowed("/public", "otherbot")
    # another product that merely starts like ours is not ours
    robots = RobotsTxt.parse("User-agent: guichets-beta\nDisallow: /\n")
    assert robots.allowed("/x", "guichets")


def test_groups_of_one_token_are_combined() -> None:
    robots = RobotsTxt.parse(
        "User-agent: guichets\nDisallow: /a\n\nUser-agent: other\nDisallow: /\n\n"
        "user-agent: Guichets\nDisallow: /b\n"
    )
    assert not robots.allowed("/a", "guichets")
    assert not robots.allowed("/b", "guichets")
    assert robots.allowed("/c", "guichets")


def test_group_boundaries_and_ignored_lines() -> None:
    text = (
        "allow: /foo/bar/\n"  # before any user-agent: belongs to no one
        "\n"
        "user-agent: FooBot\n"
        "disallow: /\n"
        "allow: /x/\n"
        "user-agent: BarBot\n"
        "disallow: /\n"
        "allow: /y/\n"
        "\n\n"
        "sitemap: https://example.com/sitemap.xml\n"
        "allow: /w/\n"  # blank lines and sitemap do not end a group
        "user-agent: BazBot\n"
        "\n"
        "user-agent: FooBot\n"
        "allow: /z/\n"
        "disallow: /\n"
        "not a rule at all\n"
        "crawl-delay: 10\n"
    )
    robots = RobotsTxt.parse(text)
    assert robots.allowed("/x/b", "foobot")
    assert robots.allowed("/z/d", "foobot")
    assert not robots.allowed("/y/c", "foobot")
    assert not robots.allowed("/foo/bar/", "foobot")
    assert robots.allowed("/y/c", "barbot")
    assert robots.allowed("/w/a", "barbot")
    assert not robots.allowed("/z/d", "barbot")
    assert robots.allowed("/z/d", "bazbot")
    assert robots.allowed("/anything", "quxbot")  # no group, no "*": all allowed


def test_empty_disallow_allows_and_comments_are_stripped() -> None:
    robots = RobotsTxt.parse("User-agent: * # everyone\nDisallow:\nDisallow: # nothing\n")
    assert robots.allowed("/anything", "guichets")
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /private # keep out\n")
    assert not robots.allowed("/private/x", "guichets")
    assert robots.allowed("/privat", "guichets")


def test_keys_are_case_insensitive_values_case_sensitive() -> None:
    robots = RobotsTxt.parse("USER-AGENT: FOO BAR\nDISALLOW: /x/\n")
    assert not robots.allowed("/x/y", "foo")
    assert robots.allowed("/X/y", "foo")


def test_crlf_bom_and_rules_without_slash() -> None:
    robots = RobotsTxt.parse(b"\xef\xbb\xbfUser-agent: *\r\nDisallow: private\r\n")
    assert not robots.allowed("/private", "guichets")


def test_robots_txt_itself_is_always_allowed() -> None:
    assert RobotsTxt.parse("User-agent: *\nDisallow: /\n").allowed("/robots.txt", "guichets")
    assert RobotsTxt.disallow_all().allowed("/robots.txt", "guichets")
    assert not RobotsTxt.disallow_all().allowed("/", "guichets")
    assert RobotsTxt.allow_all().allowed("/anything", "guichets")


def test_parse_limit_500_kib() -> None:
    filler = "# " + "x" * 98 + "\n"
    head = "User-agent: *\nDisallow: /early\n"
    body = head + filler * ((PARSE_LIMIT // len(filler)) + 10) + "Disallow: /late\n"
    robots = RobotsTxt.parse(body)
    assert not robots.allowed("/early", "guichets")
    assert robots.allowed("/late", "guichets")  # beyond 500 KiB: not read


def test_line_cut_by_the_limit_is_dropped() -> None:
    head = "User-agent: *\nDisallow: /\n"
    padding = "#" * (PARSE_LIMIT - len(head) - len("Allow: /pub") - 1) + "\n"
    text = head + padding + "Allow: /public-only\n"
    assert len(head + padding + "Allow: /pub") == PARSE_LIMIT
    robots = RobotsTxt.parse(text)
    assert not robots.allowed("/pub", "guichets")  # not a truncated "Allow: /pub"


def test_deciding_rule_for_messages() -> None:
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /booking/\nAllow: /booking/info\n")
    rule = robots.deciding_rule("https://h.example/booking/x?y=1", "guichets")
    assert rule is not None and not rule.allow and rule.pattern == "/booking/"
    assert robots.deciding_rule("/other", "guichets") is None
