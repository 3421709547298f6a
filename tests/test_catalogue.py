"""The catalogue decides what is probed: a mistake must be reported at the line to edit."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from guichets.catalogue import (
    DEFAULT_HORIZON_DAYS,
    PLATFORMS,
    Catalogue,
    Defaults,
    Service,
    catalogue_to_toml,
    check_report,
    load_catalogue,
    parse_cadence,
)
from guichets.departements import (
    COLLECTIVITES,
    DEPARTEMENTS,
    closest_codes,
    departement_name,
    is_departement,
)
from guichets.tomlconfig import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "catalogues" / "example.toml"

GOOD = """\
# two services, the second overriding the defaults
[defaults]
cadence = "1h"
horizon_days = 60

[[services]]
id = "38-grenoble-renouvellement"
departement = "38"
site = "Préfecture de l'Isère (Grenoble)"
procedure = "renouvellement"
platform = "ezbooking"
url = "https://www.isere.gouv.fr/booking/create/4129"
planning = 4130
label = "Renouvellement de titre de séjour"

[[services]]
id = "69-lyon-etudiants"
departement = "69"
site = "Préfecture du Rhône (Lyon)"
procedure = "titre-etudiant"
platform = "rdvpref"
url = "https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/3720/"
cadence = "30m"
horizon_days = 28
enabled = false
"""


def write(tmp_path: Path, text: str, name: str = "catalogue.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_with(text: str, fragment: str) -> int:
    """1-based line of the only line containing ``fragment``: the test says which line it means."""
    found = [number for number, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(found) == 1, f"{fragment!r} found on lines {found}"
    return found[0]


def position_with(text: str, fragment: str) -> str:
    """``LINE:COLUMN`` of the only line containing ``fragment``, the column that of its first
    character that is not a space (where the key, or the table's header, is written)."""
    line = line_with(text, fragment)
    written = text.splitlines()[line - 1]
    return f"{line}:{len(written) - len(written.lstrip()) + 1}"


def problems(path: Path) -> list[str]:
    code, text = check_report(path)
    assert code == 2, text
    return text.splitlines()


def service(**changes: object) -> Service:
    values: dict[str, object] = {
        "id": "38-grenoble-renouvellement",
        "departement": "38",
        "site": "Préfecture de l'Isère (Grenoble)",
        "procedure": "renouvellement",
        "platform": "ezbooking",
        "url": "https://www.isere.gouv.fr/booking/create/4129",
        "planning": 4130,
        "cadence": "1h",
    }
    values.update(changes)
    return Service.model_validate(values)


# --------------------------------------------------------------------------------------------
# Départements


def test_departements_are_all_there_with_their_official_names() -> None:
    assert len(DEPARTEMENTS) == 101 + 6
    assert len([code for code in DEPARTEMENTS if code not in COLLECTIVITES]) == 101
    assert sorted(COLLECTIVITES) == ["975", "977", "978", "986", "987", "988"]
    assert departement_name("93") == "Seine-Saint-Denis"
    assert departement_name("95") == "Val-d'Oise"
    assert departement_name("63") == "Puy-de-Dôme"
    assert departement_name("22") == "Côtes-d'Armor"
    assert departement_name("2A") == "Corse-du-Sud"
    assert departement_name("2B") == "Haute-Corse"
    assert departement_name("90") == "Territoire de Belfort"
    assert departement_name("974") == "La Réunion"
    assert departement_name("976") == "Mayotte"
    assert departement_name("988") == "Nouvelle-Calédonie"
    assert "20" not in DEPARTEMENTS and "96" not in DEPARTEMENTS
    assert [code for code in DEPARTEMENTS if code.isdigit() and len(code) == 2] == [
        f"{number:02d}" for number in range(1, 96) if number != 20
    ]


def test_departement_lookups_are_exact() -> None:
    assert is_departement("01") and is_departement("2A") and is_departement("987")
    assert not is_departement("1") and not is_departement("2a") and not is_departement("20")
    with pytest.raises(KeyError, match="'99'"):
        departement_name("99")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2a", ["2A"]),
        ("1", ["01"]),
        ("20", ["2A", "2B"]),
        ("96", ["95", "94"]),
        ("979", ["978", "977"]),
        ("Isère", ["38"]),
        ("isere", ["38"]),
        ("seine saint denis", ["93"]),
        ("Val d'Oise", ["95"]),
        ("150", []),
        ("nowhere at all", []),
    ],
)
def test_closest_codes(text: str, expected: list[str]) -> None:
    assert closest_codes(text) == expected


# --------------------------------------------------------------------------------------------
# A good file


def test_a_good_catalogue_loads_with_defaults_applied_and_overridden(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    catalogue = load_catalogue(path)
    assert catalogue.source == path
    assert catalogue.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert list(catalogue.by_id) == ["38-grenoble-renouvellement", "69-lyon-etudiants"]
    grenoble = catalogue.by_id["38-grenoble-renouvellement"]
    lyon = catalogue.by_id["69-lyon-etudiants"]
    # from [defaults]
    assert grenoble.cadence == "1h" and grenoble.cadence_seconds == 3600
    assert grenoble.horizon_days == 60
    assert grenoble.enabled is True
    # overridden by the service
    assert lyon.cadence == "30m" and lyon.cadence_seconds == 1800
    assert lyon.horizon_days == 28
    assert lyon.enabled is False
    assert grenoble.host == "https://www.isere.gouv.fr"
    assert grenoble.form_id == 4129 and grenoble.planning == 4130
    assert lyon.form_id is None and lyon.planning is None and lyon.label is None
    assert catalogue.defaults == Defaults(cadence="1h", horizon_days=60)


def test_without_defaults_the_built_in_ones_apply(tmp_path: Path) -> None:
    text = GOOD.replace("horizon_days = 60\n", "").replace("horizon_days = 28\n", "")
    grenoble = load_catalogue(write(tmp_path, text)).services[0]
    assert grenoble.horizon_days == DEFAULT_HORIZON_DAYS == 91


def test_the_check_summarises_a_good_catalogue(tmp_path: Path) -> None:
    extra = """
[[services]]
id = "2a-ajaccio-renouvellement"
departement = "2A"
site = "Préfecture de Corse-du-Sud (Ajaccio)"
procedure = "renouvellement"
platform = "ezbooking"
url = "http://rdv.corse-du-sud.example:8765/index.php/booking/create/12?x=1"
cadence = "3h"
"""
    path = write(tmp_path, GOOD + extra)
    code, text = check_report(path)
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith(f"{path}: ok (sha256 ")
    assert "services: 3 (2 enabled)" in lines
    assert "départements: 3 (2A, 38, 69)" in lines
    assert "platforms: ezbooking 2, rdvpref 1" in lines
    # 24 (1h) + 8 (3h); the disabled 30m service costs nothing
    assert lines[-1].startswith("probes per day: 32 (")
    assert "on 2 hosts" in lines[-1]


def test_the_example_catalogue_is_valid() -> None:
    code, text = check_report(EXAMPLE)
    assert code == 0, text
    catalogue = load_catalogue(EXAMPLE)
    assert 8 <= len(catalogue.services) <= 14
    assert {s.platform for s in catalogue.services} == {"ezbooking"}
    # unverified real targets: nothing is probed until someone enables a row by hand
    assert not any(s.enabled for s in catalogue.services)
    assert all(s.form_id is not None for s in catalogue.services)
    assert all(s.url.startswith("https://") and ".gouv.fr/" in s.url for s in catalogue.services)
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count("Public sources, unverified") == len(catalogue.services)


# --------------------------------------------------------------------------------------------
# One mistake, one message, at its line


BAD = [
    pytest.param(
        'platform = "ezbooking"',
        'platform = "ezbokking"',
        "ezbokking",
        "services[0].platform",
        ["did you mean 'ezbooking'?", "ezbooking, rdvpref, eappointment"],
        id="misspelt-platform",
    ),
    pytest.param(
        'platform = "rdvpref"',
        'platform = "doctolib"',
        "doctolib",
        "services[1].platform",
        ["unknown platform", "ezbooking, rdvpref, eappointment", "(found 'doctolib')"],
        id="unknown-platform",
    ),
    pytest.param(
        'url = "https://www.isere.gouv.fr/booking/create/4129"',
        'url = "www.isere.gouv.fr/booking/create/4129"',
        'url = "www',
        "services[0].url",
        ["must start with https://", "a booking URL on ezbooking looks like", "/create/4129"],
        id="url-without-scheme",
    ),
    pytest.param(
        'url = "https://www.isere.gouv.fr/booking/create/4129"',
        'url = "ftp://www.isere.gouv.fr/booking/create/4129"',
        "ftp://",
        "services[0].url",
        ["must start with https://", "https://www.isere.gouv.fr/booking/create/4129"],
        id="url-ftp",
    ),
    pytest.param(
        'url = "https://www.isere.gouv.fr/booking/create/4129"',
        'url = "https:///booking/create/4129"',
        "https:///",
        "services[0].url",
        ["no host name"],
        id="url-without-host",
    ),
    pytest.param(
        'url = "https://www.rdv-prefecture',
        'url = "https://www.rdv prefecture',
        "rdv prefecture",
        "services[1].url",
        ["no spaces", "rdvpref/reservation/demarche/"],
        id="url-with-space",
    ),
    pytest.param(
        'url = "https://www.isere.gouv.fr/booking/create/4129"',
        'url = "https://www.isere.gouv.fr/prendre-rendez-vous"',
        "prendre-rendez-vous",
        "services[0].url",
        ["/booking/create/<form id>", "found the path '/prendre-rendez-vous'"],
        id="ezbooking-url-without-form",
    ),
    pytest.param(
        'departement = "38"',
        'departement = "2a"',
        '"2a"',
        "services[0].departement",
        ['did you mean "2A" (Corse-du-Sud)?'],
        id="departement-lowercase-corsica",
    ),
    pytest.param(
        'departement = "69"',
        'departement = "96"',
        '"96"',
        "services[1].departement",
        ['"95" (Val-d\'Oise) or "94" (Val-de-Marne)'],
        id="departement-near-number",
    ),
    pytest.param(
        'departement = "69"',
        'departement = "Rhône"',
        '"Rhône"',
        "services[1].departement",
        ['did you mean "69" (Rhône)?'],
        id="departement-name",
    ),
    pytest.param(
        'departement = "69"',
        'departement = "XYZZY"',
        "XYZZY",
        "services[1].departement",
        ['two digits ("38")', '"2A" or "2B"', 'three digits overseas ("974"'],
        id="departement-nonsense",
    ),
    pytest.param(
        'departement = "38"',
        "departement = 38",
        "departement = 38",
        "services[0].departement",
        ['in quotes: departement = "38"'],
        id="departement-number",
    ),
    pytest.param(
        'id = "69-lyon-etudiants"',
        'id = "38-lyon-etudiants"',
        "38-lyon-etudiants",
        "services[1].id",
        ["must start with '69-'", "(69, Rhône)", "'69-lyon-etudiants'"],
        id="id-of-another-departement",
    ),
    pytest.param(
        'id = "69-lyon-etudiants"',
        'id = "Lyon étudiants"',
        "Lyon étudiants",
        "services[1].id",
        ['like "38-grenoble-renouvellement"', "lowercase"],
        id="id-format",
    ),
    pytest.param(
        'procedure = "titre-etudiant"',
        'procedure = "Titre étudiant"',
        "Titre étudiant",
        "services[1].procedure",
        ['like "renouvellement"', "lowercase"],
        id="procedure-not-a-slug",
    ),
    pytest.param(
        'cadence = "30m"',
        'cadence = "7h"',
        '"7h"',
        "services[1].cadence",
        ["does not divide a day", '"30m", "1h", "3h", "1d"'],
        id="cadence-not-dividing-a-day",
    ),
    pytest.param(
        'cadence = "30m"',
        'cadence = "90s"',
        '"90s"',
        "services[1].cadence",
        ["not a cadence", '"30m", "1h", "3h", "1d"'],
        id="cadence-in-seconds",
    ),
    pytest.param(
        'cadence = "30m"',
        'cadence = "5m"',
        '"5m"',
        "services[1].cadence",
        ["too frequent", "from 10m to 7d"],
        id="cadence-too-frequent",
    ),
    pytest.param(
        'cadence = "30m"',
        "cadence = 1800",
        "1800",
        "services[1].cadence",
        ["not a cadence", "in quotes"],
        id="cadence-number",
    ),
    pytest.param(
        "planning = 4130",
        "planning = 0",
        "planning = 0",
        "services[0].planning",
        ["positive whole number", "(found 0)"],
        id="planning-zero",
    ),
    pytest.param(
        "planning = 4130",
        'planning = "4130"',
        'planning = "4130"',
        "services[0].planning",
        ["positive whole number, without quotes"],
        id="planning-quoted",
    ),
    pytest.param(
        "enabled = false",
        "enabled = false\nplanning = 12",
        "planning = 12",
        "services[1].planning",
        ["counter of the ezbooking platform", "remove it for rdvpref"],
        id="planning-on-rdvpref",
    ),
    pytest.param(
        "horizon_days = 28",
        "horizon_days = 0",
        "horizon_days = 0",
        "services[1].horizon_days",
        ["from 1 to 366"],
        id="horizon-zero",
    ),
    pytest.param(
        "enabled = false",
        'enabled = "no"',
        'enabled = "no"',
        "services[1].enabled",
        ["true or false"],
        id="enabled-quoted",
    ),
    pytest.param(
        "planning = 4130",
        "planing = 4130",
        "planing",
        "services[0].planing",
        ["unknown key 'planing'", "did you mean 'planning'?"],
        id="misspelt-key",
    ),
    pytest.param(
        "horizon_days = 60",
        'horizon_days = 60\nplatform = "eappointment"',
        "eappointment",
        "defaults.platform",
        ["unknown key 'platform'", "allowed keys here: cadence, horizon_days, enabled"],
        id="platform-in-defaults",
    ),
]


@pytest.mark.parametrize(("old", "new", "marker", "where", "words"), BAD)
def test_each_mistake_is_reported_once_at_its_line(
    tmp_path: Path, old: str, new: str, marker: str, where: str, words: list[str]
) -> None:
    assert GOOD.count(old) == 1, old
    text = GOOD.replace(old, new)
    position = position_with(text, marker)
    path = write(tmp_path, text)
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{position}: {where}: "), found[0]
    for word in words:
        assert word in found[0], (word, found[0])


def test_lines_are_the_real_ones(tmp_path: Path) -> None:
    """The same check with hand-counted line numbers, in case line_with and the loader agree on a
    wrong count."""
    text = GOOD.replace('platform = "rdvpref"', 'platform = "rdv"').replace(
        "planning = 4130", "planning = -1"
    )
    path = write(tmp_path, text)
    found = problems(path)
    assert [entry.split(": ", 1)[0] for entry in found] == [f"{path}:13:1", f"{path}:21:1"]
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    assert [(p.line, p.where) for p in caught.value.problems] == [
        (13, "services[0].planning"),
        (21, "services[1].platform"),
    ]


def test_a_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    text = GOOD.replace('id = "69-lyon-etudiants"', 'id = "38-grenoble-renouvellement"')
    text = text.replace('departement = "69"', 'departement = "38"')
    path = write(tmp_path, text)
    found = problems(path)
    assert found == [
        f"{path}:17:1: services[1].id: the id '38-grenoble-renouvellement' is already used on "
        "line 7; each service needs its own id"
    ]


def test_malformed_toml_gives_the_parser_line(tmp_path: Path) -> None:
    text = GOOD.replace('site = "Préfecture du Rhône (Lyon)"', 'site = "Préfecture du Rhône')
    path = write(tmp_path, text)
    found = problems(path)
    assert len(found) == 1
    assert found[0].startswith(f"{path}:19:28: invalid TOML: "), found[0]


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    found = problems(path)
    assert found == [f"{path}: cannot read the file: No such file or directory"]


def test_an_empty_catalogue_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[defaults]\ncadence = "1h"\n')
    assert problems(path) == [
        f"{path}: the catalogue lists no service; add a [[services]] table for each one to probe"
    ]


def test_a_missing_cadence_says_where_it_can_go(tmp_path: Path) -> None:
    text = GOOD.replace('[defaults]\ncadence = "1h"\n', "[defaults]\n")
    path = write(tmp_path, text)
    found = problems(path)
    assert found == [
        f'{path}:5:1: services[0].cadence: missing cadence; add cadence = "1h" '
        '(or "30m", "3h", "1d"...) to this service, or to a [defaults] table for all services'
    ]


def test_a_bad_default_is_reported_once_at_the_defaults_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('cadence = "1h"', 'cadence = "hourly"'))
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:3:1: defaults.cadence: not a cadence; "), found[0]


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    text = (
        GOOD.replace("horizon_days = 60", "horizon_days = 999")
        .replace('departement = "38"', 'departement = "2a"')
        .replace("https://www.isere.gouv.fr/booking/create/4129", "https://www.isere.gouv.fr/")
        .replace('id = "69-lyon-etudiants"', 'id = "38-lyon-etudiants"')
        .replace('cadence = "30m"', 'cadence = "1w"')
    )
    text += '\n[[services]]\nid = "38-lyon-etudiants"\n'
    path = write(tmp_path, text)
    code, report = check_report(path)
    assert code == 2
    heads = [line.split(": ", 2)[:2] for line in report.splitlines()]
    assert heads == [
        [f"{path}:4:1", "defaults.horizon_days"],
        [f"{path}:8:1", "services[0].departement"],
        [f"{path}:12:1", "services[0].url"],
        [f"{path}:17:1", "services[1].id"],
        [f"{path}:23:1", "services[1].cadence"],
        [f"{path}:27:1", "services[2].departement"],
        [f"{path}:27:1", "services[2].site"],
        [f"{path}:27:1", "services[2].procedure"],
        [f"{path}:27:1", "services[2].platform"],
        [f"{path}:27:1", "services[2].url"],
        [f"{path}:28:1", "services[2].id"],
    ]
    assert "is already used on line 17" in report.splitlines()[-1]
    assert "must start with '69-'" in report.splitlines()[3]


# --------------------------------------------------------------------------------------------
# Built in code, written back


def test_services_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValidationError, match="must start with '69-'"):
        service(departement="69")
    with pytest.raises(ValidationError, match="/booking/create/<form id>"):
        service(url="https://www.isere.gouv.fr/")
    with pytest.raises(ValidationError, match="remove it for rdvpref"):
        service(platform="rdvpref", url="https://www.rdv-prefecture.interieur.gouv.fr/x/")
    with pytest.raises(ValidationError, match="already used"):
        Catalogue(services=(service(), service()), source=Path("x.toml"), digest="0")


def test_service_properties() -> None:
    assert service(url="HTTP://WWW.Isere.gouv.fr:8080/booking/create/1").host == (
        "http://www.isere.gouv.fr:8080"
    )
    assert service(url="http://[::1]:8765/isere/booking/create/7/0").host == "http://[::1]:8765"
    assert service(url="http://[::1]:8765/isere/booking/create/7/0").form_id == 7
    assert service(cadence="1d").probes_per_day == 1
    assert service(cadence="45m").probes_per_day == 32
    assert service(cadence="1h", enabled=False).probes_per_day == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10m", 600),
        ("30m", 1800),
        ("45m", 2700),
        ("60m", 3600),
        ("1h", 3600),
        ("3h", 10800),
        ("24h", 86400),
        ("1d", 86400),
        ("2d", 172800),
        ("7d", 604800),
    ],
)
def test_cadences(text: str, seconds: int) -> None:
    assert parse_cadence(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "0h", "01h", "1.5h", "1 h", "5m", "7h", "36h"])
def test_bad_cadences(text: str) -> None:
    with pytest.raises(ValueError, match='"30m", "1h", "3h", "1d"'):
        parse_cadence(text)


TRICKY_LABELS = [
    'Dépôt « 1er titre » - "urgent"',
    "C:\\dossiers\\titre\\n (pas un saut de ligne)",
    "# pas un commentaire = [table] {x = 1}",
    "apostrophe ' et guillemets ''' \"\"\"",
    "Île-de-France, Réunion, Mayotte — ½ ✓",
    "\\",
    '"',
]


def generated_services() -> list[Service]:
    out = [
        service(
            id=f"38-grenoble-service-{number}",
            label=label,
            site=f'Préfecture de l\'Isère "{number}" \\ Grenoble',
            url=f"http://127.0.0.{number + 2}:8765/booking/create/{4000 + number}",
            planning=None if number % 2 else 5000 + number,
            cadence=["1h", "30m", "3h"][number % 3],
            horizon_days=[91, 30, 91, 120][number % 4],
            enabled=number % 3 != 1,
        )
        for number, label in enumerate(TRICKY_LABELS)
    ]
    out.append(
        Service(
            id="2b-bastia-titre-etudiant",
            departement="2B",
            site="Préfecture de Haute-Corse (Bastia)",
            procedure="titre-etudiant",
            platform="eappointment",
            url="https://rdv.example/eAppointment/element/jsp/appointment.jsp?sitekey=P1&x=é",
            cadence="1d",
        )
    )
    return out


@pytest.mark.parametrize(
    "defaults",
    [
        None,
        Defaults(cadence="1h"),
        Defaults(cadence="30m", horizon_days=91, enabled=False),
        Defaults(horizon_days=30, enabled=True),
    ],
)
def test_a_generated_catalogue_loads_back_identical(
    tmp_path: Path, defaults: Defaults | None
) -> None:
    services = generated_services()
    text = catalogue_to_toml(services, defaults)
    path = tmp_path / "generated.toml"
    path.write_text(text, encoding="utf-8")
    code, report = check_report(path)
    assert code == 0, report
    catalogue = load_catalogue(path)
    assert list(catalogue.services) == services
    assert catalogue.defaults == (defaults or Defaults())
    assert catalogue_to_toml(catalogue.services, catalogue.defaults) == text


def test_generated_files_leave_out_what_defaults_imply() -> None:
    grenoble = service(label='Titre "A" \\ B')
    lyon = service(
        id="38-grenoble-etudiants",
        cadence="30m",
        planning=None,
        enabled=False,
        horizon_days=DEFAULT_HORIZON_DAYS,
    )
    text = catalogue_to_toml([grenoble, lyon], Defaults(cadence="1h"))
    assert text == (
        "[defaults]\n"
        'cadence = "1h"\n'
        "\n"
        "[[services]]\n"
        'id = "38-grenoble-renouvellement"\n'
        'departement = "38"\n'
        'site = "Préfecture de l\'Isère (Grenoble)"\n'
        'procedure = "renouvellement"\n'
        'platform = "ezbooking"\n'
        'url = "https://www.isere.gouv.fr/booking/create/4129"\n'
        "planning = 4130\n"
        'label = "Titre \\"A\\" \\\\ B"\n'
        "\n"
        "[[services]]\n"
        'id = "38-grenoble-etudiants"\n'
        'departement = "38"\n'
        'site = "Préfecture de l\'Isère (Grenoble)"\n'
        'procedure = "renouvellement"\n'
        'platform = "ezbooking"\n'
        'url = "https://www.isere.gouv.fr/booking/create/4129"\n'
        'cadence = "30m"\n'
        "enabled = false\n"
    )


def test_writing_refuses_repeated_ids() -> None:
    with pytest.raises(ValueError, match="38-grenoble-renouvellement"):
        catalogue_to_toml([service(), service()])


def test_platforms_are_the_three_known_ones() -> None:
    assert PLATFORMS == ("ezbooking", "rdvpref", "eappointment")
