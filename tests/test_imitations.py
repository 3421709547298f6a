"""Independent imitations of the booking platforms, read by the robot as a person would.

The pages below are written by hand from the public description of the platforms only (the
project's research notes: URL shapes, form ids, the exact messages, the AJAX week grid), never from
the simulator's templates. Their presentation varies as real sites do (tags, attribute order,
entities, whitespace, English headers, ``/index.php/``, an odd week-offset origin, a grid URL
built in script from pieces). Each is served from a tiny aiohttp app on loopback and probed through
``run_probe``, the function ``guichets probe`` calls. The robot must give the person's answer, and
no request for a booking step may ever reach the server.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Set
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from guichets.clock import SystemClock
from guichets.http import HostGates, Politeness
from guichets.model import Observation, Outcome
from guichets.platforms import Target
from guichets.probe import ProbeSpec, run_probe

PARIS = ZoneInfo("Europe/Paris")
Serve = Callable[[web.Application], Awaitable[str]]
MONTHS = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
DAYS = "lundi mardi mercredi jeudi vendredi samedi dimanche"
NO_SLOT = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
FIRST_FREE = "Première plage horaire libre"


def _today() -> date:
    return datetime.now(PARIS).date()


def _long(day: date) -> str:
    return f"{DAYS.split()[day.weekday()]} {day:%d} {MONTHS.split()[day.month - 1]} {day.year}"


def _slot(days: int, at: str) -> datetime:
    hour, minute = (int(x) for x in at.split(":"))
    return datetime.combine(_today() + timedelta(days=days), time(hour, minute), PARIS)


@dataclass
class Log:
    """Every request the imitation received; booking steps are collected apart."""

    seen: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# The legacy booking module (eZ Publish "booking" extension)


@dataclass
class Legacy:
    form: int = 4129
    counters: tuple[tuple[int, str], ...] = ((21, "Guichet 1"), (22, "Guichet 2"))
    slots: tuple[tuple[int, str], ...] = ((9, "09:30"), (23, "14:15"))  # days from today, time
    no_slot: bool = False
    index_php: bool = False
    notice: bool = False
    english: bool = False
    origin: int | date = 0  # offset 0 is the week of today + origin days (or of that date)
    button: str = "input"  # "input" or "button"
    script: str = "pieces"  # how step 4 names its grid: "pieces", "vars", "data"
    after_conditions: int = 2  # step a single-counter site jumps to after the conditions
    other_no_slot: str | None = None  # a page whose words are not the platform's message
    stuck: bool = False  # a broken server: every offset answers the same week
    plain: bool = False  # unpadded days in the header, times in <td>, the legend as a table

    @property
    def module(self) -> str:
        return "/index.php" if self.index_php else ""

    def url(self, step: int | None = None) -> str:
        tail = "" if step is None else f"/{step}"
        return f"{self.module}/booking/create/{self.form}{tail}"

    def week(self, offset: int) -> date:
        if isinstance(self.origin, date):
            base = self.origin + timedelta(days=offset)
        else:
            base = _today() + timedelta(days=self.origin + offset)
        return base - timedelta(days=base.weekday())

    def offset_for_today(self) -> int:
        if isinstance(self.origin, date):
            return (_today() - self.origin).days
        return -self.origin


def _button(kind: str, name: str, value: str, extra: str = "") -> str:
    if kind == "button":
        return (
            f'<button {extra} value="{html.escape(value)}" type="submit" name="{name}">'
            f"{html.escape(value)}</button>"
        )
    escaped = html.escape(value)
    return f'<input class="Bbutton" type="submit" {extra} name="{name}"\n value="{escaped}" />'


def _legacy_page(site: Legacy, step: int, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Prise de rendez-vous - Préfecture</title></head>
<body>
<div id="cookies-banner">Ce site utilise des cookies. <a href="#">OK</a></div>
<div class="booking"><h1>Demande de rendez-vous</h1>
<p class="etapes"><img src="/extension/booking/design/img/etape_{step}r.png" alt="Étape {step}"></p>
<form  method="post"   name="create" id="FormBookingCreate" action="{site.url(step)}">
{body}
</form></div></body></html>"""


def _conditions(site: Legacy) -> str:
    return _legacy_page(
        site,
        0,
        f"""<div id="condition_Booking">
  <p>Conditions d'utilisation&nbsp;: vous devez vous pr&eacute;senter muni de votre convocation.</p>
  <input name="condition" type="checkbox" id="condition" >
  <label for="condition">Veuillez cocher la case pour accepter les conditions d'utilisation avant
    de continuer le processus de prise de rendez-vous.</label>
</div>
<div id="submit_Booking">
  {_button(site.button, "nextButton", "Effectuer une demande de rendez-vous")}
</div>""",
    )


def _counters(site: Legacy) -> str:
    lines = "\n".join(
        f'<p class="Bligne"><input value="{pid}" id="planning{pid}" name="planning" '
        f'class="radio" type="radio"><label for="planning{pid}">{html.escape(label)}</label></p>'
        for pid, label in site.counters
    )
    return _legacy_page(
        site,
        1,
        f"""<fieldset id="fchoix_Booking"><legend>Choisissez votre guichet</legend>
{lines}
</fieldset>
<div id="submit_Booking">{_button(site.button, "nextButton", "Etape suivante")}</div>""",
    )


def _no_slot(site: Legacy) -> str:
    words = site.other_no_slot or NO_SLOT.replace("'", "&#039;").replace("é", "&eacute;")
    words = words.replace(". ", ".<br/>\n      ", 1)
    return _legacy_page(
        site,
        2,
        f"""
    {words}
    <input type="submit" value="Terminer" name="finishButton">
""",
    )


def _step2(site: Legacy) -> str:
    return _legacy_page(
        site,
        2,
        f"""<p>Vous allez choisir la date de votre rendez-vous.</p>
<div id="submit_Booking">{_button(site.button, "nextButton", "Etape suivante")}</div>""",
    )


def _notice(site: Legacy) -> str:
    return _legacy_page(
        site,
        3,
        f"""<div class="notice"><p>Attention&nbsp;: munissez-vous de l'original de tous vos
documents. Aucun dossier incomplet ne sera accepté.</p></div>
<div id="submit_Booking">{_button(site.button, "nextButton", "Etape suivante")}</div>""",
    )


def _date_page(site: Legacy, planning: int) -> str:
    start = site.offset_for_today() + 3  # the page's own first week: not the robot's concern
    if site.script == "pieces":
        script = f"""<script type="text/javascript">
  var sCall = ['bookingserver', 'planning', 'assign'].join('::');
  function chargerSemaine(decalage) {{
    var sUrl = '{site.module}' + '/ezjscore/call/' + sCall
      + '::' + {site.form} + '::' + {planning} + '::' + decalage;
    jQuery('#planning_Booking').load(sUrl);
  }}
  jQuery(document).ready(function () {{ chargerSemaine({start}); }});
</script>"""
    elif site.script == "vars":
        script = f"""<script>
  var formId = "{site.form}";
  var planning = "{planning}";
  var ezRoot = "{site.module}/ezjscore/call/";
  function week(n) {{
    $.post(ezRoot + "bookingserver::planning::assign::" + formId + "::" + planning + "::" + n,
           function (d) {{ $("#planning_Booking").html(d); }});
  }}
  $(function () {{ week({start}); }});
</script>"""
    else:
        script = f"""<script>
  $(function () {{
    var box = $('#planning_Booking');
    var u = [box.data('root'), 'ezjscore', 'call', 'bookingserver::planning::assign::'
      + box.data('form') + '::' + box.data('planning') + '::' + {start}].join('/');
    box.load(u);
  }});
</script>"""
    data = (
        f' data-planning="{planning}" data-form="{site.form}" data-root="{site.module}"'
        if site.script == "data"
        else ""
    )
    return _legacy_page(
        site,
        4,
        f"""<h2>Choisissez la date de votre rendez-vous</h2>
<div id="planning_Booking"{data}><p class="loading">Chargement du planning…</p></div>
<div id="submit_Booking">
  {_button(site.button, "previousButton", "Etape précédente")}
  {_button(site.button, "nextButton", FIRST_FREE)}
</div>
{script}""",
    )


def _grid(site: Legacy, planning: int, offset: int) -> str:
    monday = site.week(site.offset_for_today() if site.stuck else offset)
    sunday = monday + timedelta(days=6)
    if site.english:
        title = f"Week from {_long(monday)} to {_long(sunday)}"
    else:
        title = f"Semaine du {_long(monday)} au {_long(sunday)}"
    if site.plain:
        title = title.replace(f" {monday:%d} ", f" {monday.day} ").replace(
            f" {sunday:%d} ", f" {sunday.day} "
        )
    free = {_slot(days, at) for days, at in site.slots}
    times = sorted({s.strftime("%H:%M") for s in free} | {"08:45", "16:00"})
    heads = "".join(
        f"<th>{DAYS.split()[n][:3]}. {monday + timedelta(days=n):%d/%m}</th>" for n in range(7)
    )
    rows = []
    for at in times:
        cells = [
            f"<td>{at}</td>" if site.plain else f'<th class="heure">{at.replace(":", "h")}</th>'
        ]
        for n in range(7):
            hour, minute = (int(x) for x in at.split(":"))
            instant = datetime.combine(monday + timedelta(days=n), time(hour, minute), PARIS)
            if instant in free:
                href = (
                    f"{site.module}/booking/create/{site.form}/5/{planning}/"
                    f"{int(instant.timestamp())}"
                )
                cells.append(f'<td class="status-1 free"><a href="{href}">libre</a></td>')
            elif n >= 5:
                cells.append('<td class="status-0 closed">&nbsp;</td>')
            else:
                cells.append('<td class="status-2 busy">occupé</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    legend = (
        '<table class="legende"><tr><td>Légende :</td><td class="status-1 free">libre</td>'
        '<td class="status-2 busy">occupé</td></tr></table>'
        if site.plain
        else '<div class="legende">Légende : <span class="status-1 free">libre</span>'
        '<span class="status-2 busy">occupé</span></div>'
    )
    return f"""<table class="planning" summary="planning">
 <thead><tr><th colspan="8">{title}</th></tr>
 <tr><th></th>{heads}</tr></thead>
 <tbody>
 {chr(10).join(rows)}
 </tbody>
</table>
{legend}"""


def legacy_app(site: Legacy, log: Log) -> web.Application:
    sessions: dict[str, int] = {}  # eZSESSID -> planning chosen

    def forbidden(request: web.Request, text: str) -> None:
        log.forbidden.append(f"{request.method} {request.path_qs} {text}".strip())

    async def handler(request: web.Request) -> web.StreamResponse:
        path = request.path
        log.seen.append(f"{request.method} {path}")
        if path == "/robots.txt":
            return web.Response(text="User-agent: *\nDisallow:\n")
        form = await request.post() if request.method == "POST" else {}
        if "/ezjscore/call/bookingserver::planning::assign::" in path:
            parts = path.rsplit("/", 1)[-1].split("::")
            if request.cookies.get("eZSESSID") not in sessions:
                return web.Response(text="<p>Session expirée</p>")
            form_id, planning, offset = parts[3], parts[4], parts[5]
            if form_id != str(site.form) or int(planning) not in dict(site.counters):
                return web.Response(status=404, text="inconnu")
            return web.Response(
                text=_grid(site, int(planning), int(offset)), content_type="text/html"
            )
        base = site.url()
        if not path.startswith(base):
            return web.Response(
                status=404, text="<h1>Page introuvable</h1>", content_type="text/html"
            )
        step_text = path[len(base) :].strip("/") or "0"
        if not step_text.isdigit() or int(step_text) >= 5:
            forbidden(request, "booking step")
            return web.Response(status=403, text="non")
        step = int(step_text)
        if form.get("nextButton") == FIRST_FREE or "Premi" in str(form.get("nextButton", "")):
            forbidden(request, "first free slot pressed")
            return web.Response(status=403, text="non")
        sid = request.cookies.get("eZSESSID")
        page: Callable[[], str]
        if step == 0:
            if request.method == "POST":
                if sid not in sessions or form.get("condition") != "on":
                    raise web.HTTPFound(site.url(0))
                if len(site.counters) > 1:
                    raise web.HTTPFound(site.url(1))
                sessions[sid] = site.counters[0][0]
                raise web.HTTPFound(site.url(site.after_conditions))
            response = web.Response(text=_conditions(site), content_type="text/html")
            new = f"sess{len(sessions) + 1:04d}"
            sessions[new] = 0
            response.set_cookie("eZSESSID", new, path="/")
            return response
        if sid not in sessions:
            raise web.HTTPFound(site.url(0))
        if step == 1:
            if request.method == "POST":
                chosen = str(form.get("planning", ""))
                if not chosen.isdigit() or int(chosen) not in dict(site.counters):
                    raise web.HTTPFound(site.url(1))
                sessions[sid] = int(chosen)
                raise web.HTTPFound(site.url(2))
            page = lambda: _counters(site)  # noqa: E731
        elif step == 2:
            if site.no_slot or site.other_no_slot:
                page = lambda: _no_slot(site)  # noqa: E731
            elif request.method == "POST":
                raise web.HTTPFound(site.url(3 if site.notice else 4))
            else:
                page = lambda: _step2(site)  # noqa: E731
        elif step == 3:
            if request.method == "POST" or not site.notice:
                raise web.HTTPFound(site.url(4))
            page = lambda: _notice(site)  # noqa: E731
        else:
            if request.method == "POST":
                forbidden(request, "step 4 submitted")
                return web.Response(status=403, text="non")
            page = lambda: _date_page(site, sessions[sid])  # noqa: E731
        return web.Response(text=page(), content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


# --------------------------------------------------------------------------------------------
# RDV-Préfecture


@dataclass
class Rdv:
    demarche: int = 3718
    state: str = "slots"  # "slots", "none", "captcha", "unknown", "empty-json"
    button: str = "button"  # "button" or "input"
    action: str = "self"  # "self": none; "absolute": the cgu URL; "valider": _validerCaptcha
    landing: str = "link"  # « Prendre rendez-vous » as a link or as a GET form's button
    slots: tuple[tuple[int, str], ...] = ((2, "09:30"), (2, "10:00"), (6, "14:10"))  # in the week

    @property
    def root(self) -> str:
        return f"/rdvpref/reservation/demarche/{self.demarche}/"


def _dsfr(title: str, body: str) -> str:
    return f"""<!doctype html><html lang="fr"><head><meta charset="UTF-8">
<title>{title} - RDV Préfecture</title></head><body>
<header class="fr-header"><p class="fr-header__service-title">Rendez-vous en préfecture</p></header>
<main class="fr-container" id="main">{body}</main>
<footer class="fr-footer">Ministère de l'Intérieur</footer></body></html>"""


def _rdv_landing(site: Rdv) -> str:
    link = (
        f'<form action="{site.root}cgu/" method="get">\n'
        '  <button class="fr-btn" type="submit">Prendre rendez-vous</button></form>'
        if site.landing == "form"
        else f'<a class="fr-btn" href="{site.root}cgu/">Prendre rendez-vous</a>'
    )
    return _dsfr(
        "Titre de séjour",
        f"""<h1>Demande de titre de séjour</h1>
<p>Préfecture de test — accueil des étrangers.</p>
{link}""",
    )


def _rdv_cgu(site: Rdv) -> str:
    action = {
        "self": "",
        "absolute": f' action="{site.root}cgu/"',
        "valider": ' action="../_validerCaptcha"',
    }[site.action]
    if site.button == "button":
        submit = '<button class="fr-btn" type="submit">\n   Suivant\n</button>'
    else:
        submit = '<input type="submit" class="fr-btn" value="Suivant">'
    if site.state == "captcha":
        captcha = """<rdv-captchetat endpoint-url="/rdvpref/api/simple-captcha-endpoint"
    captcha-style-name="captchaFR" token="abc123"></rdv-captchetat>
  <div class="fr-input-group"><img id="captchaFR_CaptchaImage" alt="captcha">
  <a id="captchaFR_SoundLink" title="Énoncer le code du captcha">écouter</a>
  <label for="captchaFormulaireExtInput">Saisissez le code de sécurité</label>
  <input id="captchaFormulaireExtInput" name="captchaUsercode" class="fr-input" type="text">
  <input type="hidden" name="captchaId" value="c42">
  <input type="hidden" name="BDC_VCID_captchaFR" value="v1"></div>"""
        action = f' action="{site.root}_validerCaptcha"'
    else:
        captcha = ""
    return _dsfr(
        "Conditions",
        f"""<h1>Constituez votre dossier</h1>
<form{action} method="post" class="fr-form">
  <div class="fr-checkbox-group">
    <input type="checkbox" required id="accepte" name="accepteCgu">
    <label class="fr-label" for="accepte">J'accepte les conditions générales d'utilisation</label>
  </div>
  {captcha}
  {submit}
</form>""",
    )


def _rdv_slots(site: Rdv) -> str:
    today = _today()
    first = min((d for d, _ in site.slots), default=None) if site.state == "slots" else None
    critere = {
        "premierJour": f"{today + timedelta(days=1):%d/%m/%Y}",
        "dateMin": f"{today + timedelta(days=1):%d/%m/%Y}",
        "dateMax": f"{today + timedelta(days=90):%d/%m/%Y}",
        "datePremiereDispo": "" if first is None else f"{today + timedelta(days=first):%d/%m/%Y}",
    }
    data = f"<script>var vuiContext = {json.dumps({'critere': critere})};</script>"
    if site.state == "empty-json":
        return _dsfr("Créneau", f"<h1>Choisissez votre créneau</h1>{data}<div id=app></div>")
    if site.state == "none":
        body = """<div class="fr-alert fr-alert--info"><p>Aucun créneau disponible à partir de cette
date.<br/>Veuillez réessayer ultérieurement.</p></div>"""
        return _dsfr("Créneau", f"<h1>Choisissez votre créneau</h1>{data}{body}")
    blocks = []
    by_day: dict[int, list[str]] = {}
    for days, at in site.slots:
        by_day.setdefault(days, []).append(at)
    for n, (days, ats) in enumerate(sorted(by_day.items())):
        day = today + timedelta(days=days)
        items = "".join(
            f'<li class="cellule radio-card"><input data-value="{700 + n * 10 + k}" '
            f'id="trhId_{700 + n * 10 + k}" type="radio" name="trhId">'
            f'<label class="fr-label" for="trhId_{700 + n * 10 + k}">'
            f"{at.replace(':', 'h')}</label></li>"
            for k, at in enumerate(ats)
        )
        blocks.append(
            f'<div class="blocCreneauSelection"><h3 class="celulleHeader">'
            f"{DAYS.split()[day.weekday()]} {day:%d/%m}</h3><ul>{items}</ul></div>"
        )
    return _dsfr(
        "Créneau",
        f"""<h1>Choisissez votre créneau</h1>{data}
<form method="post" action="{site.root}creneau/"><div class="creneaux">{"".join(blocks)}</div>
<button class="fr-btn" type="submit">Suivant</button></form>""",
    )


def rdv_app(site: Rdv, log: Log) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        path = request.path
        log.seen.append(f"{request.method} {path}")
        if path == "/robots.txt":
            return web.Response(text="User-agent: *\nDisallow:\n")
        if site.state == "unknown" and path.startswith(site.root):
            return web.Response(
                text="<html><body><h2>Nouvelle plateforme</h2><p>Bienvenue.</p></body></html>",
                content_type="text/html",
            )
        if path == site.root:
            return web.Response(text=_rdv_landing(site), content_type="text/html")
        if path == site.root + "cgu/":
            if request.method == "POST":
                form = await request.post()
                if site.state == "captcha" or form.get("accepteCgu") != "on":
                    raise web.HTTPFound(site.root + "cgu/")
                raise web.HTTPFound(site.root + "creneau/")
            return web.Response(text=_rdv_cgu(site), content_type="text/html")
        if path == site.root + "creneau/":
            if request.method == "POST":
                log.forbidden.append(f"POST {path} (a slot chosen)")
                return web.Response(status=403, text="non")
            return web.Response(text=_rdv_slots(site), content_type="text/html")
        if path == site.root + "_validerCaptcha" and site.state != "captcha":
            form = await request.post()
            if request.method != "POST" or form.get("accepteCgu") != "on":
                raise web.HTTPFound(site.root + "cgu/")
            raise web.HTTPFound(site.root + "creneau/")
        if path.endswith("_validerCaptcha"):
            log.forbidden.append(f"{request.method} {path} (captcha submitted)")
            raise web.HTTPFound(site.root + "cgu/?error=invalidCaptcha")
        log.forbidden.append(f"{request.method} {path} (not on a person's path)")
        return web.Response(status=404, text="introuvable")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


# --------------------------------------------------------------------------------------------


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def _probe(url: str, platform: str, counter: str | None = None) -> Observation:
    politeness = Politeness(min_gap=0.0, timeout=10.0)
    clock = SystemClock()
    spec = ProbeSpec(service="imitation", platform=platform, target=Target(url, counter, 91))
    return await run_probe(spec, HostGates(clock, politeness), clock)


def _expect(
    obs: Observation, log: Log, outcome: Outcome, slots: Set[datetime] = frozenset()
) -> None:
    trail = "\n".join(log.seen)
    assert not log.forbidden, log.forbidden
    assert obs.outcome is outcome, f"{obs.outcome} ({obs.detail}) {obs.message}\n{trail}"
    assert set(obs.slots) == set(slots), trail
    if outcome is Outcome.UNRECOGNIZED:
        assert obs.kept_page, "an unrecognized page is kept"


LEGACY_AVAILABLE = {
    "two counters, pieces, input buttons": Legacy(),
    "button tags, English header, index.php": Legacy(button="button", english=True, index_php=True),
    "odd origin (-3 days), notice step": Legacy(origin=-3, notice=True),
    "fixed far origin on a Wednesday, vars": Legacy(origin=date(2025, 1, 8), script="vars"),
    "plain header, time cells, legend table": Legacy(plain=True, slots=((1, "09:00"),)),
    "plain, English, odd origin": Legacy(plain=True, english=True, origin=-5, button="button"),
    "one counter named by data attributes": Legacy(
        counters=((77, "Guichet unique"),), script="data", after_conditions=4
    ),
    "one counter named by the script's pieces": Legacy(
        counters=((77, "Accueil"),), after_conditions=2, origin=4, english=True
    ),
    "one counter, vars, index.php, step 3": Legacy(
        counters=((9845, "Guichet"),),
        script="vars",
        after_conditions=3,
        notice=True,
        index_php=True,
        button="button",
    ),
}


@pytest.mark.parametrize("case", list(LEGACY_AVAILABLE), ids=list(LEGACY_AVAILABLE))
async def test_legacy_available(serve: Serve, case: str) -> None:
    site = LEGACY_AVAILABLE[case]
    log = Log()
    root = await serve(legacy_app(site, log))
    obs = await _probe(f"{root}{site.url()}", "ezbooking")
    expected = {_slot(d, at) for d, at in site.slots}
    _expect(obs, log, Outcome.AVAILABLE, expected)
    assert obs.counter == str(site.counters[0][0])


@pytest.mark.parametrize("button", ["input", "button"])
async def test_legacy_no_slot(serve: Serve, button: str) -> None:
    site = Legacy(no_slot=True, button=button)
    log = Log()
    root = await serve(legacy_app(site, log))
    obs = await _probe(f"{root}{site.url()}", "ezbooking")
    _expect(obs, log, Outcome.UNAVAILABLE)


@pytest.mark.parametrize(
    "words",
    [
        "Aucun rendez-vous pour le moment.",  # not the platform's sentence
        "Attention : Cette page n'est pas disponible pour le moment !",
    ],
)
async def test_legacy_other_words_are_never_no_slot(serve: Serve, words: str) -> None:
    site = Legacy(other_no_slot=words)
    log = Log()
    root = await serve(legacy_app(site, log))
    obs = await _probe(f"{root}{site.url()}", "ezbooking")
    assert obs.outcome in {Outcome.UNRECOGNIZED, Outcome.SITE_ERROR}, (obs.outcome, obs.detail)
    assert not log.forbidden


async def test_legacy_grid_of_another_week_is_never_read(
    serve: Serve,
) -> None:
    site = Legacy(stuck=True, slots=((30, "10:00"),))  # every week answers with this week's grid
    log = Log()
    root = await serve(legacy_app(site, log))
    obs = await _probe(f"{root}{site.url()}", "ezbooking")
    _expect(obs, log, Outcome.UNRECOGNIZED)


async def test_legacy_unknown_page(serve: Serve) -> None:
    log = Log()

    async def page(request: web.Request) -> web.Response:
        log.seen.append(request.path)
        return web.Response(
            text="<html><body><p>Bienvenue</p></body></html>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    root = await serve(app)
    obs = await _probe(f"{root}/booking/create/4129", "ezbooking")
    _expect(obs, log, Outcome.UNRECOGNIZED)


RDV_CASES = {
    "slots, button, no action": (Rdv(), Outcome.AVAILABLE),
    "slots, input submit, action spelt out": (
        Rdv(button="input", action="absolute"),
        Outcome.AVAILABLE,
    ),
    "slots, GET form landing, conditions to _validerCaptcha": (
        Rdv(landing="form", action="valider", button="input"),
        Outcome.AVAILABLE,
    ),
    "no slot, button": (Rdv(state="none"), Outcome.UNAVAILABLE),
    "no slot, input": (Rdv(state="none", button="input", action="absolute"), Outcome.UNAVAILABLE),
    "captcha": (Rdv(state="captcha"), Outcome.BARRIER),
    "empty data, no words": (Rdv(state="empty-json"), Outcome.UNRECOGNIZED),
    "unknown page": (Rdv(state="unknown"), Outcome.UNRECOGNIZED),
}


@pytest.mark.parametrize("case", list(RDV_CASES), ids=list(RDV_CASES))
async def test_rdvpref(serve: Serve, case: str) -> None:
    site, outcome = RDV_CASES[case]
    log = Log()
    root = await serve(rdv_app(site, log))
    obs = await _probe(f"{root}{site.root}", "rdvpref")
    expected = {_slot(d, at) for d, at in site.slots} if outcome is Outcome.AVAILABLE else set()
    _expect(obs, log, outcome, expected)
