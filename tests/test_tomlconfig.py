"""Config files must report problems at the line the user has to edit."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from guichets.tomlconfig import (
    ConfigError,
    LineIndex,
    Problem,
    format_problems,
    load_model,
    read_toml,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Service(Strict):
    name: str
    window_days: int


class Site(Strict):
    name: str
    hosts: list[str] = []
    services: list[Service] = []


class Release(Strict):
    window_days: int
    release: Literal["daily", "weekly"]


class Daily(Strict):
    kind: Literal["daily"]
    hour: int


class Weekly(Strict):
    kind: Literal["weekly"]
    weekday: int


class Scenario(Strict):
    name: str
    seed: int = 0
    model: Release | None = None
    schedule: Daily | Weekly | None = Field(default=None, discriminator="kind")
    sites: list[Site] = []


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> tuple[Path, str]:
    path = tmp_path / name
    text = textwrap.dedent(text).lstrip("\n")
    path.write_text(text, encoding="utf-8")
    return path, text


def line_with(text: str, fragment: str) -> int:
    """1-based line of the only line containing ``fragment``, so tests say which line they mean."""
    found = [number for number, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(found) == 1, f"{fragment!r} found on lines {found}"
    return found[0]


def only_problem(path: Path, model: type[BaseModel] = Scenario) -> Problem:
    with pytest.raises(ConfigError) as caught:
        load_model(path, model)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


TWO_SITES = """
name = "demo"

[[sites]]
name = "first"

[[sites.services]]
name = "titres"
window_days = 10

[[sites.services]]
name = "étrangers"
window_days = 20

[[sites]]
name = "second"

[[sites.services]]  # second site, first service
name = "naturalisation"
window_days = {value}

[[sites.services]]
name = "permis"
window_days = 40
"""


def test_valid_file_loads(tmp_path: Path) -> None:
    path, _ = write(tmp_path, TWO_SITES.format(value="30"))
    scenario = load_model(path, Scenario)
    assert [len(site.services) for site in scenario.sites] == [2, 2]
    assert scenario.sites[1].services[0].window_days == 30


def test_malformed_toml_gives_line_and_column(tmp_path: Path) -> None:
    path, text = write(
        tmp_path,
        """
        name = "demo"
        seed = 3
        release = daily
        """,
    )
    problem = only_problem(path)
    assert problem.line == line_with(text, "release = daily")
    assert problem.column == len("release = ") + 1
    assert "Invalid value" in problem.message
    assert "quoted string" in problem.message  # says what would be right


def test_wrong_type_in_nested_array_of_tables(tmp_path: Path) -> None:
    # sites[1].services[0]: the index restarts for each [[sites]] entry.
    path, text = write(tmp_path, TWO_SITES.format(value='"thirty"'))
    problem = only_problem(path)
    assert problem.where == "sites[1].services[0].window_days"
    assert problem.line == line_with(text, 'window_days = "thirty"')
    assert "'thirty'" in problem.message
    assert "integer" in problem.message


def test_forbidden_extra_key_gives_its_line_and_a_suggestion(tmp_path: Path) -> None:
    path, text = write(
        tmp_path,
        """
        name = "demo"

        [[sites]]
        name = "first"

        [[sites.services]]
        name = "titres"
        windows_days = 10
        window_days = 10
        """,
    )
    problem = only_problem(path)
    assert problem.line == line_with(text, "windows_days")
    assert problem.where == "sites[0].services[0].windows_days"
    assert "unknown key 'windows_days'" in problem.message
    assert "did you mean 'window_days'?" in problem.message


def test_forbidden_key_without_close_match_lists_allowed_keys(tmp_path: Path) -> None:
    path, text = write(tmp_path, 'name = "demo"\ncolour = "blue"\n')
    problem = only_problem(path)
    assert problem.line == line_with(text, "colour")
    assert "allowed keys here: name, seed, model, schedule, sites" in problem.message


def test_missing_key_points_at_enclosing_header(tmp_path: Path) -> None:
    path, text = write(
        tmp_path,
        """
        name = "demo"

        [[sites]]
        name = "first"

        [[sites.services]]
        name = "titres"
        window_days = 1

        [[sites.services]]  # this one
        name = "étrangers"

        [[sites]]
        name = "second"
        """,
    )
    problem = only_problem(path)
    assert problem.where == "sites[0].services[1].window_days"
    assert problem.line == line_with(text, "# this one")
    assert "missing required key 'window_days'" in problem.message


def test_missing_top_level_key_has_no_line(tmp_path: Path) -> None:
    path, _ = write(tmp_path, "seed = 1\n")
    problem = only_problem(path)
    assert problem.line is None
    assert problem.where == "name"
    assert str(problem) == (
        f"{path}: name: missing required key 'name'; "
        "add name = ... at the top of the file, before any [table]"
    )


def test_inline_table_member(tmp_path: Path) -> None:
    path, text = write(
        tmp_path,
        """
        name = "demo"
        # the release model
        model = { window_days = 30, release = "hourly" }
        """,
    )
    problem = only_problem(path)
    assert problem.where == "model.release"
    assert problem.line == line_with(text, "model = {")
    assert "'daily' or 'weekly'" in problem.message
    assert "'hourly'" in problem.message


def test_multi_line_array_element(tmp_path: Path) -> None:
    path, text = write(
        tmp_path,
        """
        name = "demo"

        [[sites]]
        name = "first"
        hosts = [
          "a.example",  # a comment with ] and ,
          \"\"\"b.example\"\"\",
          42,
          "d.example",
        ]
        """,
    )
    problem = only_problem(path)
    assert problem.where == "sites[0].hosts[2]"
    assert problem.line == line_with(text, "42,")
    assert "(found 42)" in problem.message


def test_element_on_the_key_line_maps_to_the_key_line(tmp_path: Path) -> None:
    path, text = write(tmp_path, 'name = "demo"\n[[sites]]\nname = "s"\nhosts = ["a", 7]\n')
    assert only_problem(path).line == line_with(text, "hosts")


def test_array_of_inline_tables(tmp_path: Path) -> None:
    path, text = write(
        tmp_path,
        """
        name = "demo"

        [[sites]]
        name = "first"
        services = [
          { name = "a", window_days = 1 },
          { name = "b", window_days = "two" },
        ]
        """,
    )
    problem = only_problem(path)
    assert problem.where == "sites[0].services[1].window_days"
    assert problem.line == line_with(text, '"two"')


def test_discriminated_union_tag_is_not_shown_and_line_is_kept(tmp_path: Path) -> None:
    path, text = write(
        tmp_path,
        """
        name = "demo"

        [schedule]
        kind = "daily"
        hour = "noon"
        """,
    )
    problem = only_problem(path)
    assert problem.where == "schedule.hour"
    assert problem.line == line_with(text, "hour")


def test_unknown_union_tag_points_at_the_tag(tmp_path: Path) -> None:
    path, text = write(tmp_path, 'name = "demo"\n\n[schedule]\nkind = "hourly"\nhour = 3\n')
    problem = only_problem(path)
    assert problem.where == "schedule"
    assert problem.line == line_with(text, "kind")
    assert "'daily', 'weekly'" in problem.message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    [problem] = caught.value.problems
    assert caught.value.path == path
    assert problem.line is None
    assert "cannot read the file" in problem.message
    assert "No such file" in str(caught.value)
    assert str(path) in str(caught.value)


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "demo"\ncity = "Besançon"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_model(path, Scenario)
    [problem] = caught.value.problems
    assert problem.line == 2
    assert problem.column == len('city = "Besan') + 1
    assert "UTF-8" in problem.message
    assert "0xe7" in problem.message


def test_several_errors_sorted_by_line(tmp_path: Path) -> None:
    # Fields are declared name, seed, ..., sites; the file puts them in another order.
    path, text = write(
        tmp_path,
        """
        [[sites]]
        name = 1

        [[sites.services]]
        name = "x"
        window_days = "many"
        """,
    )
    text_with_header = 'seed = "zero"\n' + text
    path.write_text(text_with_header, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_model(path, Scenario)
    problems = caught.value.problems
    assert [(p.line, p.where) for p in problems] == [
        (None, "name"),
        (line_with(text_with_header, "seed"), "seed"),
        (line_with(text_with_header, "name = 1"), "sites[0].name"),
        (line_with(text_with_header, "window_days"), "sites[0].services[0].window_days"),
    ]


def test_config_error_message_has_file_line_and_message(tmp_path: Path) -> None:
    # The key indented, as people do under a table: the column is where its name starts.
    indented = TWO_SITES.format(value="2.5").replace("window_days = 2.5", "    window_days = 2.5")
    path, text = write(tmp_path, indented)
    with pytest.raises(ConfigError) as caught:
        load_model(path, Scenario)
    line = line_with(text, "window_days = 2.5")
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:5: sites[1].services[0].window_days: ")
    assert "(found 2.5)" in message
    assert message == format_problems(caught.value.problems)


def test_multi_line_string_content_is_not_parsed_as_keys(tmp_path: Path) -> None:
    text = textwrap.dedent(
        '''
        notes = """
        [[sites]]
        window_days = 1
        """
        literal = \'\'\'
        [model]
        \'\'\'
        [[sites]]
        window_days = 2
        '''
    ).lstrip("\n")
    index = LineIndex.from_text(text)
    assert index.line_of(("sites", 0, "window_days")) == line_with(text, "window_days = 2")
    assert index.line_of(("sites", 1)) == index.line_of(("sites",))  # only one real entry
    assert index.line_of(("model",)) is None


def test_line_index_key_forms() -> None:
    text = textwrap.dedent(
        """
        "x y" = 1
        'lit.eral' = 2
        a.b.c = 3
        "esc\\u00e9" = 4

        [t . "u v"]  # spaced header
        k = 5

        [a.d]
        e = 6
        """
    ).lstrip("\n")
    index = LineIndex.from_text(text)
    assert index.line_of(("x y",)) == 1
    assert index.line_of(("lit.eral",)) == 2
    assert index.line_of(("a", "b", "c")) == 3
    assert index.line_of(("a", "b")) == 3  # implicit table from a dotted key
    assert index.line_of(("escé",)) == 4
    assert index.line_of(("t", "u v", "k")) == 7
    assert index.line_of(("t", "u v", "missing")) == 6
    assert index.line_of(("a", "d", "e")) == 10
    assert index.line_of(("nowhere",)) is None


def test_table_under_array_entry_belongs_to_the_last_entry() -> None:
    text = '[[sites]]\nname = "a"\n[[sites]]\nname = "b"\n[sites.meta]\nk = 1\n'
    index = LineIndex.from_text(text)
    assert index.line_of(("sites", 1, "meta", "k")) == 6
    assert index.line_of(("sites", 0, "meta")) == 1  # falls back to the entry's header


def test_unclosed_array_points_at_its_opening_line(tmp_path: Path) -> None:
    path, text = write(tmp_path, 'name = "demo"\nhosts = [\n  "a",\n  "b",\n\nseed = 1\n')
    problem = only_problem(path)
    assert problem.line == line_with(text, "hosts = [")
    assert "this array is never closed" in problem.message
    assert "close it with ']'" in problem.message
    assert "gave up at line 6" in problem.message


def test_unterminated_multi_line_string_points_at_its_opening_line(tmp_path: Path) -> None:
    path, text = write(tmp_path, 'name = "demo"\nnotes = """\nsome text\nseed = 1\n')
    problem = only_problem(path)
    assert problem.line == line_with(text, 'notes = """')
    assert '"""' in problem.message


def test_duplicate_key_names_the_first_definition(tmp_path: Path) -> None:
    path, _ = write(tmp_path, 'name = "demo"\nseed = 1\nseed = 2')
    problem = only_problem(path)
    assert problem.line == 3
    assert "seed is defined twice (first on line 2)" in problem.message


def test_inline_table_split_over_lines_is_explained(tmp_path: Path) -> None:
    path, text = write(
        tmp_path, 'name = "demo"\nmodel = { window_days = 3,\n  release = "daily" }\n'
    )
    problem = only_problem(path)
    assert problem.line == line_with(text, "model = {")
    assert "must fit on one line" in problem.message


def test_problem_str_omits_missing_parts() -> None:
    assert str(Problem("f.toml", 3, "a.b", "bad")) == "f.toml:3: a.b: bad"
    assert str(Problem("f.toml", 3, "", "bad", column=7)) == "f.toml:3:7: bad"
    assert str(Problem("f.toml", None, "", "bad")) == "f.toml: bad"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab=.[]{}\"',#\n \\1"))))
def test_line_index_never_fails_on_garbage(text: str) -> None:
    index = LineIndex.from_text(text)
    line = index.line_of(("a", 0, "b"))
    assert line is None or 1 <= line <= text.count("\n") + 1
