"""The monthly press summary: French figures with their intervals and sample sizes, the worst and
the best services, what changed since the month before, and the method."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guichets.french import NBSP
from guichets.model import Observation, Outcome
from guichets.periods import month_range
from guichets.stats.press import ChangeKind, ServiceName, changes, pct, press_summary
from guichets.stats.report import ReportRow, build_report, rollups_of
from guichets.tally import facts_of
from tests.observations import observation

SEPTEMBER, OCTOBER = month_range(2026, 9), month_range(2026, 10)


def _month(
    first: datetime, plan: dict[str, list[tuple[Outcome, tuple[float, ...]]]]
) -> list[Observation]:
    """Hourly probes for 30 days; each service cycles through its list of (outcome, days)."""
    found = []
    n = 0
    for service, cycle in plan.items():
        dep = service[:2]
        for h in range(30 * 24):
            outcome, days = cycle[h % len(cycle)]
            n += 1
            found.append(
                observation(
                    n + (first.month * 100_000),
                    first + timedelta(hours=h),
                    outcome,
                    days=days,
                    service=service,
                    departement=dep,
                )
            )
    return found


OPEN = (Outcome.AVAILABLE, (1.0, 2.0))
LATE = (Outcome.AVAILABLE, (40.0,))
NONE = (Outcome.UNAVAILABLE, ())
BLOCKED = (Outcome.BARRIER, ())
DOWN = (Outcome.SITE_ERROR, ())


def _rows(observations: list[Observation], month) -> list[ReportRow]:  # type: ignore[no-untyped-def]
    return build_report(rollups_of(map(facts_of, observations)), month)


def _two_months() -> tuple[list[ReportRow], list[ReportRow]]:
    before = _month(
        datetime(2026, 9, 1, 0, 10, tzinfo=UTC),
        {
            "38-grenoble-renouvellement": [OPEN, NONE],  # half
            "63-clermont-renouvellement": [NONE],  # closed all along
            "69-lyon-etudiants": [OPEN],  # fine
            "76-rouen-premier-titre": [OPEN, OPEN, NONE],  # lead of one day
            "94-creteil-titre-sejour": [OPEN],  # open, then the robot is blocked
            "75-paris-aes": [OPEN, NONE],  # gone in October
        },
    )
    now = _month(
        datetime(2026, 10, 1, 0, 10, tzinfo=UTC),
        {
            "38-grenoble-renouvellement": [NONE],  # closed
            "63-clermont-renouvellement": [NONE, NONE, NONE, DOWN],
            "69-lyon-etudiants": [OPEN],
            "76-rouen-premier-titre": [LATE, LATE, NONE],  # forty days now
            "94-creteil-titre-sejour": [BLOCKED, BLOCKED, OPEN],
            "13-marseille-titres": [OPEN, NONE, NONE],  # new
        },
    )
    return _rows(now, OCTOBER), _rows(before, SEPTEMBER)


def test_french_percentages() -> None:
    assert pct(0.46) == f"46{NBSP}%" and pct(1.0) == f"100{NBSP}%" and pct(0.0) == f"0{NBSP}%"
    assert pct(0.9953) == f"99,5{NBSP}%" and pct(0.004) == f"0,4{NBSP}%"


def test_changes_since_the_month_before() -> None:
    now, before = _two_months()
    found = {(c.kind, c.service) for c in changes(now, before)}
    assert found == {
        (ChangeKind.CLOSED, "38-grenoble-renouvellement"),
        (ChangeKind.WINDOW_MOVED, "76-rouen-premier-titre"),
        (ChangeKind.BLOCKED, "94-creteil-titre-sejour"),
        (ChangeKind.NEW, "13-marseille-titres"),
        (ChangeKind.GONE, "75-paris-aes"),
    }
    assert changes(now, []) == [], "no month before: nothing to compare"
    assert changes(now, now) == []


def test_the_summary_reads_like_a_press_release() -> None:
    now, before = _two_months()
    names = {
        "38-grenoble-renouvellement": ServiceName(
            "Renouvellement de titre de séjour - Grenoble",
            "Préfecture de l'Isère",
            "renouvellement",
        )
    }
    text = press_summary(now, before, [], OCTOBER, names).replace(NBSP, " ")
    assert text.startswith("# Prise de rendez-vous en préfecture : les chiffres d'octobre 2026")
    assert "données du 1er octobre au 31 octobre 2026" in text
    assert "notre robot a sondé méthodiquement 6 services préfectoraux dans 6 départements" in text
    # Clermont: never a date; the summary says so with the sample size and the interval.
    clermont = next(line for line in text.splitlines() if "63-clermont" in line)
    assert "Puy-de-Dôme (63)" in clermont
    assert "sur 540 tentatives, aucune n'a permis d'obtenir une proposition" in clermont
    assert (
        "(100 % d'échec ; IC 95 % : 99,3 à 100 % ; 540 sondages)" in clermont
        and "Le système ne fonctionne simplement pas" in (clermont)
    )
    # Lyon: at least two dates within a month every time.
    assert (
        "100 % des sondages montrent au moins deux rendez-vous disponibles au plus tard un "
        "mois après"
    ) in text
    # Names from the catalogue, and changes in the register of the press.
    assert "Renouvellement de titre de séjour - Grenoble" in text
    assert "le guichet s'est fermé : 100 % d'échec, contre 50 % en septembre 2026" in text
    assert "les dates proposées se sont déplacées (plus tard)" in text
    assert "le site bloque désormais notre robot : 67 % des tentatives refusées" in text
    assert "13-marseille-titres** : sondé pour la première fois" in text
    assert "75-paris-aes** : n'a plus été sondé" in text
    # Worst first, best next, then every département, then the method.
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == [
        "## Là où l'on ne peut pas prendre rendez-vous",
        "## Là où l'on obtient un rendez-vous",
        "## Département par département",
        "## Ce qui a changé depuis septembre 2026",
        "## Méthode",
    ]
    worst = text.split("## Là où l'on ne peut")[1].split("##")[0]
    assert "76-rouen" not in worst and worst.index("Grenoble") < worst.index("13-marseille")
    assert "jamais comme « pas de rendez-vous »" in text
    assert "Site en panne lors de 25 % des tentatives" in text


def test_few_probes_are_said_to_be_few() -> None:
    few = _month(datetime(2026, 10, 1, tzinfo=UTC), {"38-x": [NONE, OPEN]})[:12]
    text = press_summary(_rows(few, OCTOBER), [], [], OCTOBER, {}).replace(NBSP, " ")
    assert "peu de sondages, à lire avec prudence" in text
    assert "Aucun sondage en septembre 2026 : pas de comparaison possible." in text


def test_an_empty_month_says_so() -> None:
    text = press_summary([], [], [], OCTOBER, {})
    assert "Aucun sondage n'a été enregistré en octobre 2026." in text and "## Méthode" in text
