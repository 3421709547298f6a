"""The legacy prefecture booking module (an eZ Publish extension, about 2012-2023), simulated.

Pages, form names, buttons, messages, redirects and the AJAX week grid follow what public sources
show of the real module (docs/simulator.md lists them). Steps 5 and beyond select or book a
slot: the simulator serves nothing there and the server logs every such request as forbidden.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import ClassVar

from aiohttp import web

from guichets.simulator.captcha import KEYS_FIELD, Verdict, typed_in_browser
from guichets.simulator.groundtruth import PARIS, CounterTruth, ServiceTruth, Spell
from guichets.simulator.platforms.base import Exchange, Session, SiteContext, esc

__all__ = ["LABELS", "NO_SLOT_TEXT", "EzBookingSimulator", "button", "week_header"]

NO_SLOT_TEXT = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
CONDITIONS_TEXT = (
    "Veuillez cocher la case pour accepter les conditions d'utilisation avant de continuer le "
    "processus de prise de rendez-vous."
)
CLOSED_TEXT = "Attention : Cette page n'est pas disponible pour le moment !"
FIRST_FREE_BUTTON = "Première plage horaire libre"
COOKIE = "eZSESSID"

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")  # fmt: skip
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

_CREATE = re.compile(r"^/booking/create/(\d+)(?:/(\d+))?(/.*)?$")
_ASSIGN = re.compile(r"^/ezjscore/call/bookingserver::planning::assign::(\d+)::(\d+)::(-?\d+)$")
_IMAGES = "/extension/bookingui/design/standard/images"
_CAPTCHA_IMAGE = re.compile(r"^/securite/captcha/([0-9a-f]{32})\.png$")
# The answer field of each kind of security check, and what the page says of it.
_ANSWER = {"controle": "captcha", "ppolice": "captchacode"}
_WRONG_CODE = "Le code de sécurité saisi est incorrect ou a expiré. Veuillez recommencer."
# Counts the trusted key presses in the answer field: only a browser typing sets it.
_KEYS_SCRIPT = """<script type="text/javascript">
document.addEventListener("keydown", function (e) {
  var keys = document.getElementById("captchaKeys");
  if (e.isTrusted && keys && e.target && e.target.hasAttribute("data-captcha-input")) {
    keys.value = String(Number(keys.value || "0") + 1);
  }
}, true);
</script>"""
# A 1x1 transparent PNG, for the step images.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


def _long_date(day: date) -> str:
    return f"{DAYS[day.weekday()]} {day.day:02d} {MONTHS[day.month - 1]} {day.year}"


def week_header(monday: date, language: str) -> str:
    """The grid's header, French or the half-English variant some sites send."""
    sunday = monday + timedelta(days=6)
    if language == "en":
        return f"Week from {_long_date(monday)} to {_long_date(sunday)}"
    return f"Semaine du {_long_date(monday)} au {_long_date(sunday)}"


def _chrome(site: SiteContext, title: str, body: str, step: int | None = None) -> str:
    """The prefecture site's page around the booking module."""
    steps = ""
    if step is not None:
        images = "".join(
            f'<img src="{site.prefix}{_IMAGES}/etape_{n}{"r" if n == step else ""}.png" '
            f'alt="Etape {n}" />'
            for n in range(10)
        )
        steps = f'<div id="etapes_Booking" class="etapes">{images}</div>'
    name = esc(site.config.name)
    return f"""<!DOCTYPE html>
<html lang="fr" xml:lang="fr">
<head>
<meta charset="utf-8" />
<title>{esc(title)} - Les services de l'État - {name}</title>
<link rel="stylesheet" href="{site.prefix}/extension/bookingui/design/standard/stylesheets/b.css" />
</head>
<body>
<div id="cookies-banner" class="cookies-banner">
<p>En poursuivant votre navigation sur ce site, vous acceptez l'utilisation de cookies.</p>
<a href="#" class="cookies-close">J'ai compris</a>
</div>
<div id="header"><p class="site-name">{name}</p><p class="host">{esc(site.config.host)}</p></div>
<div id="page">
<h1>{esc(title)}</h1>
{steps}
{body}
</div>
<div id="footer"><p>Préfecture - {name}</p></div>
</body>
</html>
"""


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


# The buttons' labels, French as the module shows them, or English (variant "english").
LABELS = {
    "fr": {
        "request": "Effectuer une demande de rendez-vous",
        "next": "Etape suivante",
        "finish": "Terminer",
        "previous": "Etape précédente",
    },
    "en": {
        "request": "Request an appointment",
        "next": "Next step",
        "finish": "Finish",
        "previous": "Previous step",
    },
}


def _has(site: SiteContext, variant: str) -> bool:
    return variant in site.config.variants


def button(site: SiteContext, name: str, key: str) -> str:
    """A submit button as the site draws it: ``<input>`` by default, ``<button>`` with the
    variant "button-tag" (sending an empty value, as a ``<button>`` without one does);
    attributes in another order with "reordered"."""
    label = LABELS["en" if _has(site, "english") else "fr"].get(key, key)
    if _has(site, "button-tag"):
        text = esc(label).replace("é", "&eacute;") if _has(site, "reordered") else esc(label)
        return f'<button class="Bbutton" name="{name}" type="submit">\n  {text}\n</button>'
    if _has(site, "reordered"):
        return f'<input value="{esc(label)}" class="Bbutton" type="submit" name="{name}" />'
    return f'<input type="submit" name="{name}" class="Bbutton" value="{esc(label)}" />'


def _entities(site: SiteContext, text: str) -> str:
    """The same words with character references (variant "reordered")."""
    if not _has(site, "reordered"):
        return text
    return text.replace("'", "&#39;").replace("é", "&eacute;").replace(". ", ".\n  ")


class EzBookingSimulator:
    """Serves ``/booking/create/{formId}/{step}`` and the ezjscore week grid."""

    name: ClassVar[str] = "ezbooking"

    # -- routing --------------------------------------------------------------------------------

    def _service(self, site: SiteContext, form_id: int) -> ServiceTruth | None:
        return next((s for s in site.services if s.config.form_id == form_id), None)

    def _module_path(self, exchange: Exchange) -> str | None:
        """The path inside the booking module, or None when it lies outside the module's base."""
        extra = "/index.php" if exchange.site.config.index_php else ""
        if extra and exchange.path.startswith(extra + "/"):
            return exchange.path[len(extra) :]
        return None if extra else exchange.path

    def service_of(self, exchange: Exchange) -> ServiceTruth | None:
        path = self._module_path(exchange)
        if path is None:
            return None
        match = _CREATE.match(path) or _ASSIGN.match(path)
        return self._service(exchange.site, int(match.group(1))) if match else None

    def forbidden(self, exchange: Exchange) -> str | None:
        path = self._module_path(exchange)
        if path is None:
            return None
        for field in _ANSWER.values():
            answer = exchange.form.get(field, "")
            if answer.strip() and not typed_in_browser(answer, exchange.form.get(KEYS_FIELD, "")):
                return f"answered the security check without typing it in a browser ({field})"
        if exchange.form.get("nextButton") == FIRST_FREE_BUTTON:
            return f"pressed the '{FIRST_FREE_BUTTON}' button, which selects a slot"
        match = _CREATE.match(path)
        if match and match.group(2) is not None:
            step = int(match.group(2))
            if step >= 5:
                return f"step {step} of the booking flow (selecting or booking a slot)"
            if step == 4 and exchange.request.method == "POST":
                return "submitted the date choice of step 4 (selecting a slot)"
        return None

    def urls(self, site: SiteContext, base_url: str) -> dict[str, list[str]]:
        module = base_url + ("/index.php" if site.config.index_php else "")
        return {
            s.id: [f"{module}/booking/create/{s.config.form_id}"]
            + [f"planning={c.counter_id}" for c in s.counters.values()]
            for s in site.services
        }

    async def handle(self, exchange: Exchange) -> web.StreamResponse:
        path = self._module_path(exchange)
        if exchange.path.startswith(_IMAGES + "/etape_"):
            return web.Response(body=_PNG, content_type="image/png")
        if match := _CAPTCHA_IMAGE.match(exchange.path):
            image = exchange.site.captchas.image(match.group(1))
            if image is not None:
                return web.Response(
                    body=image, content_type="image/png", headers={"Cache-Control": "no-store"}
                )
        if path is not None and (match := _CREATE.match(path)):
            service = self._service(exchange.site, int(match.group(1)))
            if service is not None and match.group(3) is None:
                step = int(match.group(2) or 0)
                if service.layout_at(exchange.now) == "v2":
                    return self._v2(exchange, service, step)
                return self._step(exchange, service, step)
        if path is not None and (match := _ASSIGN.match(path)):
            service = self._service(exchange.site, int(match.group(1)))
            if service is not None and service.layout_at(exchange.now) == "v1":
                return self._grid(exchange, service, int(match.group(2)), int(match.group(3)))
        return _html(_chrome(exchange.site, "Page introuvable", "<p>Erreur 404</p>"), 404)

    def outage(self, exchange: Exchange, spell: Spell) -> web.StreamResponse | None:
        if spell.kind == "overloaded":
            return _html(
                '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8" />'
                "<title>Service surchargé</title></head><body><h1>Service surchargé</h1>"
                "<p>Le service est momentanément surchargé. Merci de réessayer plus tard.</p>"
                "</body></html>"
            )
        if spell.kind == "closed":
            body = f'<div class="message-warning"><p>{CLOSED_TEXT}</p></div>'
            return _html(_chrome(exchange.site, "Prise de rendez-vous", body))
        return None

    # -- the flow -------------------------------------------------------------------------------

    def _url(self, exchange: Exchange, service: ServiceTruth, step: int) -> str:
        return f"{exchange.site.module_base}/booking/create/{service.config.form_id}/{step}"

    def _redirect(self, exchange: Exchange, service: ServiceTruth, step: int) -> web.Response:
        return web.Response(status=302, headers={"Location": self._url(exchange, service, step)})

    def _session(self, exchange: Exchange) -> Session | None:
        return exchange.site.sessions.get(exchange.request.cookies.get(COOKIE), exchange.now)

    def _counter(self, service: ServiceTruth, session: Session) -> CounterTruth:
        chosen = session.data.get("planning")
        return service.counter(chosen if isinstance(chosen, int) else None)

    def _step(self, exchange: Exchange, service: ServiceTruth, step: int) -> web.StreamResponse:
        session = self._session(exchange)
        key = f"form{service.config.form_id}"
        if step == 0:
            return self._conditions(exchange, service, session, key)
        if session is None or key not in session.data:
            # Without the session cookie the module starts over, as the real one does.
            return self._redirect(exchange, service, 0)
        reached = int(str(session.data[key]))
        if step > reached:
            return self._redirect(exchange, service, reached)
        if step == 1:
            return self._counters(exchange, service, session, key)
        if step == 2:
            return self._availability(exchange, service, session, key)
        if step == 3:
            return self._notice(exchange, service, session, key)
        return self._dates(exchange, service, session)

    def _after(self, service: ServiceTruth, step: int) -> int:
        """The step that follows ``step`` on this site."""
        if step == 0:
            return 1 if len(service.counters) > 1 else 2
        if step == 2:
            return 3 if service.config.notice else 4
        return step + 1

    def _conditions(
        self, exchange: Exchange, service: ServiceTruth, session: Session | None, key: str
    ) -> web.StreamResponse:
        error = ""
        kind = service.config.security_check
        passed = kind == "none" or (
            session is not None and session.data.get(f"passed{service.config.form_id}") is True
        )
        if exchange.request.method == "POST" and session is not None:
            if not passed and "nextButton" in exchange.form:
                passed = self._judge(exchange, service, session)
                error = "" if passed else f'<p class="error">{_WRONG_CODE}</p>'
            if (
                not error
                and exchange.form.get("condition") == "on"
                and "nextButton" in exchange.form
            ):
                nxt = self._after(service, 0)
                session.data[key] = nxt
                if nxt == 2 and "planning" not in session.data:
                    session.data["planning"] = service.counter().counter_id
                return self._redirect(exchange, service, nxt)
            if not error:
                error = '<p class="error">Vous devez accepter les conditions d\'utilisation.</p>'
        if session is None:
            session = exchange.site.sessions.new(exchange.now)
        session.data[key] = 0
        session.data.pop("planning", None)
        box = (
            '<input name="condition" id="condition" type="checkbox" />'
            if _has(exchange.site, "reordered")
            else '<input type="checkbox" id="condition" name="condition" />'
        )
        check = "" if passed else self._security(exchange, service, session, kind)
        body = f"""<form id="FormBookingCreate" name="create" method="post" action="{self._url(exchange, service, 0)}">
<h2>{esc(service.config.title)}</h2>
{error}
<div id="condition_Booking">
{box}
<label for="condition">{CONDITIONS_TEXT} Les informations recueillies font l'objet d'un traitement informatique destiné à la gestion des rendez-vous.</label>
</div>
{check}
<div id="submit_Booking">
{button(exchange.site, "nextButton", "request")}
</div>
</form>"""  # noqa: E501
        response = _html(_chrome(exchange.site, "Prise de rendez-vous", body, step=0))
        response.set_cookie(COOKIE, session.id, path=exchange.site.prefix or "/", httponly=True)
        return response

    def _security(
        self, exchange: Exchange, service: ServiceTruth, session: Session, kind: str
    ) -> str:
        """The image captcha of the conditions page, drawn for this session and form."""
        captcha = exchange.site.captchas.draw(kind, self._scope(session, service), exchange.now)
        session.data[f"captcha{service.config.form_id}"] = captcha.id
        src = f"{exchange.site.prefix}/securite/captcha/{captcha.id}.png"
        keys = f'<input type="hidden" id="captchaKeys" name="{KEYS_FIELD}" value="0" />'
        if kind == "ppolice":
            return f"""<div id="captcha_Booking" class="captcha">
<p>Saisissez les caractères affichés dans l'image ci-dessous.</p>
<img id="captchaimg" name="captchaimg" src="{src}" alt="Image de vérification" />
<label for="captchacode">Code de vérification</label>
<input type="text" id="captchacode" name="captchacode" autocomplete="off" data-captcha-input="" />
{keys}
</div>
{_KEYS_SCRIPT}"""
        return f"""<fieldset id="securite_Booking">
<legend>Contrôle de sécurité</legend>
<img id="captcha_image" src="{src}" alt="Contrôle de sécurité : recopiez les caractères de l'image" />
<label for="captcha">Recopiez les caractères de l'image</label>
<input type="text" id="captcha" name="captcha" autocomplete="off" data-captcha-input="" />
{keys}
</fieldset>
{_KEYS_SCRIPT}"""  # noqa: E501

    @staticmethod
    def _scope(session: Session, service: ServiceTruth) -> str:
        return f"{session.id}:{service.config.form_id}"

    def _judge(self, exchange: Exchange, service: ServiceTruth, session: Session) -> bool:
        """One answer to the security check; right, the session passes it for this form."""
        form_id = service.config.form_id
        captcha_id = str(session.data.pop(f"captcha{form_id}", ""))
        answer = exchange.form.get(_ANSWER.get(service.config.security_check, ""), "")
        verdict = exchange.site.captchas.check(
            captcha_id, self._scope(session, service), answer, exchange.now
        )
        if verdict != Verdict.RIGHT:
            return False
        session.data[f"passed{form_id}"] = True
        return True

    def _counters(
        self, exchange: Exchange, service: ServiceTruth, session: Session, key: str
    ) -> web.StreamResponse:
        if exchange.request.method == "POST":
            chosen = exchange.form.get("planning", "")
            if chosen.isdigit() and int(chosen) in service.counters:
                session.data["planning"] = int(chosen)
                session.data[key] = 2
                return self._redirect(exchange, service, 2)
        lines = "\n".join(
            f'<p class="Bligne"><input type="radio" class="radio" name="planning" '
            f'id="planning{c.counter_id}" value="{c.counter_id}" />'
            f'<label for="planning{c.counter_id}">{esc(c.label)}</label></p>'
            for c in service.counters.values()
        )
        body = f"""<form id="FormBookingCreate" name="create" method="post" action="{self._url(exchange, service, 1)}">
<h2>{esc(service.config.title)}</h2>
<fieldset id="fchoix_Booking">
<legend>Choix du guichet</legend>
{lines}
</fieldset>
<div id="submit_Booking">
{button(exchange.site, "nextButton", "next")}
</div>
</form>"""  # noqa: E501
        return _html(_chrome(exchange.site, "Prise de rendez-vous", body, step=1))

    def _availability(
        self, exchange: Exchange, service: ServiceTruth, session: Session, key: str
    ) -> web.StreamResponse:
        counter = self._counter(service, session)
        if not counter.free_slots(exchange.now):
            session.data[key] = 2
            text = _entities(exchange.site, NO_SLOT_TEXT)
            finish = button(exchange.site, "finishButton", "finish")
            body = f"""<form id="FormBookingCreate" name="create" method="post" action="{self._url(exchange, service, 2)}">{text}{finish}</form>"""  # noqa: E501
            return _html(_chrome(exchange.site, "Prise de rendez-vous", body, step=2))
        nxt = self._after(service, 2)
        if service.config.step2_page and exchange.request.method != "POST":
            body = f"""<form id="FormBookingCreate" name="create" method="post" action="{self._url(exchange, service, 2)}">
<p>Vous allez choisir la date et l'heure de votre rendez-vous pour : {esc(service.config.title)} ({esc(counter.label)}).</p>
<div id="submit_Booking">{button(exchange.site, "nextButton", "next")}</div>
</form>"""  # noqa: E501
            return _html(_chrome(exchange.site, "Prise de rendez-vous", body, step=2))
        session.data[key] = nxt
        return self._redirect(exchange, service, nxt)

    def _notice(
        self, exchange: Exchange, service: ServiceTruth, session: Session, key: str
    ) -> web.StreamResponse:
        if exchange.request.method == "POST" and "nextButton" in exchange.form:
            session.data[key] = 4
            return self._redirect(exchange, service, 4)
        body = f"""<form id="FormBookingCreate" name="create" method="post" action="{self._url(exchange, service, 3)}">
<div class="avertissement"><p><strong>Attention :</strong> tout dossier incomplet ne sera pas traité. Un seul rendez-vous par personne. Les rendez-vous pris en double seront annulés.</p></div>
<div id="submit_Booking">{button(exchange.site, "nextButton", "next")}</div>
</form>"""  # noqa: E501
        return _html(_chrome(exchange.site, "Prise de rendez-vous", body, step=3))

    def _first_offset(self, exchange: Exchange) -> int:
        """The offset of the current week: 0 from 'today', or counted from the site's origin."""
        origin = exchange.site.config.offset_origin
        if origin == "today":
            return 0
        today = exchange.now.astimezone(PARIS).date()
        # The offset whose day falls in this week, whatever weekday the origin is.
        this_monday = today - timedelta(days=today.weekday())
        return (this_monday - (origin - timedelta(days=origin.weekday()))).days

    def _week_of(self, exchange: Exchange, offset: int) -> date:
        origin = exchange.site.config.offset_origin
        base = exchange.now.astimezone(PARIS).date() if origin == "today" else origin
        day = base + timedelta(days=offset)
        return day - timedelta(days=day.weekday())

    def _assign_url(
        self, exchange: Exchange, service: ServiceTruth, planning: int, offset: int
    ) -> str:
        return (
            f"{exchange.site.module_base}/ezjscore/call/bookingserver::planning::assign::"
            f"{service.config.form_id}::{planning}::{offset}"
        )

    def _dates(
        self, exchange: Exchange, service: ServiceTruth, session: Session
    ) -> web.StreamResponse:
        counter = self._counter(service, session)
        session.data["grid"] = service.config.form_id
        offset = self._first_offset(exchange)
        url = self._assign_url(exchange, service, counter.counter_id, offset)
        first = (
            f'<input type="submit" name="nextButton" class="Bbutton" value="{FIRST_FREE_BUTTON}" />'
        )
        if _has(exchange.site, "script-url"):
            # The grid URL is nowhere in the page: the script builds it from pieces, as real
            # step-4 pages do (the form, the counter chosen on step 1, a day offset).
            holder = '<div id="planning_Booking" class="planning"><p class="loading">Chargement du planning…</p></div>'  # noqa: E501
            script = f"""var bookingCall = ['bookingserver', 'planning', 'assign'].join('::');
function bookingPlanningUrl(week) {{
  return '{exchange.site.module_base}/ezjscore/call/' + bookingCall + '::' + {service.config.form_id} + '::' + {counter.counter_id} + '::' + week;
}}
jQuery(function() {{ loadBookingPlanning(bookingPlanningUrl({offset})); }});"""  # noqa: E501
        else:
            holder = f'<div id="planning_Booking" class="planning" data-url="{esc(url)}"><p class="loading">Chargement du planning…</p></div>'  # noqa: E501
            script = f"""var bookingPlanningUrl = '{url}';
jQuery(function() {{ loadBookingPlanning(bookingPlanningUrl); }});"""
        body = f"""<form id="FormBookingCreate" name="create" method="post" action="{self._url(exchange, service, 4)}">
<h2>{esc(service.config.title)} - {esc(counter.label)}</h2>
<p>Choisissez une date et un horaire libre dans le planning ci-dessous.</p>
{holder}
<div id="submit_Booking">
{button(exchange.site, "previousButton", "previous")}
{first}
</div>
</form>
<script type="text/javascript">
//<![CDATA[
{script}
//]]>
</script>"""  # noqa: E501
        return _html(_chrome(exchange.site, "Prise de rendez-vous", body, step=4))

    def _grid(
        self, exchange: Exchange, service: ServiceTruth, planning: int, offset: int
    ) -> web.StreamResponse:
        session = self._session(exchange)
        if session is None or session.data.get("grid") != service.config.form_id:
            return web.Response(text="", content_type="text/html", charset="utf-8")
        if planning not in service.counters:
            return web.Response(text="", content_type="text/html", charset="utf-8")
        counter = service.counters[planning]
        monday = self._week_of(exchange, offset)
        days = [monday + timedelta(days=n) for n in range(7)]
        head = week_header(monday, exchange.site.config.header_language)
        day_cells = "".join(
            f"<th>{DAYS[d.weekday()][:3]}. {d.day:02d}/{d.month:02d}</th>" for d in days
        )
        states = counter.states_of_days(monday, 7, exchange.now)
        rows = []
        for when in counter.calendar.times_of_week(monday):
            cells = []
            for day in days:
                start = datetime.combine(day, when, tzinfo=PARIS)
                cells.append(self._cell(exchange, service, counter, start, states))
            tag = "td" if _has(exchange.site, "time-cells") else "th"
            rows.append(f'<tr><{tag} class="heure">{when:%H:%M}</{tag}>{"".join(cells)}</tr>')
        if not rows:
            rows.append(
                '<tr><td colspan="7" class="vide">Aucune plage horaire cette semaine</td></tr>'
            )
        prev_url = self._assign_url(exchange, service, planning, offset - 7)
        next_url = self._assign_url(exchange, service, planning, offset + 7)
        fragment = f"""<table class="planning" summary="Planning de la semaine">
<thead>
<tr><th rowspan="2" class="nav"><a href="#" class="semaine-precedente" onclick="return loadBookingPlanning('{prev_url}');">&lt;</a></th><th colspan="7">{head}</th><th rowspan="2" class="nav"><a href="#" class="semaine-suivante" onclick="return loadBookingPlanning('{next_url}');">&gt;</a></th></tr>
<tr>{day_cells}</tr>
</thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<div class="legende"><p>Légende :</p><ul><li><span class="status-1">libre</span></li><li><span class="status-2">réservé</span></li><li><span class="status-0">fermé</span></li></ul></div>"""  # noqa: E501
        return web.Response(text=fragment, content_type="text/html", charset="utf-8")

    def _cell(
        self,
        exchange: Exchange,
        service: ServiceTruth,
        counter: CounterTruth,
        start: datetime,
        states: dict[datetime, str],
    ) -> str:
        state = states.get(start, "closed")
        if state == "free":
            href = (
                f"{exchange.site.module_base}/booking/create/{service.config.form_id}/5/"
                f"{counter.counter_id}/{int(start.timestamp())}"
            )
            if _has(exchange.site, "reordered"):
                return f'<td class="free status-1"><a title="{start:%H:%M}" href="{href}">libre</a></td>'  # noqa: E501
            return (
                f'<td class="status-1 free"><a href="{href}" title="{start:%H:%M}">libre</a></td>'
            )
        if state == "taken":
            return '<td class="status-2 busy">réservé</td>'
        if state == "past":
            return '<td class="status-3 past">&nbsp;</td>'
        return '<td class="status-0 closed">&nbsp;</td>'

    # -- after the layout change ----------------------------------------------------------------

    def _v2(self, exchange: Exchange, service: ServiceTruth, step: int) -> web.StreamResponse:
        """The redesigned module a site switches to: same truth, markup no reader knows yet."""
        session = self._session(exchange)
        action = self._url(exchange, service, step)
        posted = exchange.request.method == "POST" and exchange.form.get("accept_cgu") == "1"
        if step == 0 and posted and session is not None:
            session.data["v2"] = service.config.form_id
            return self._redirect(exchange, service, 1)
        if step >= 1 and session is not None and session.data.get("v2") == service.config.form_id:
            free = service.counter().free_slots(exchange.now)
            if free:
                items = "".join(
                    f'<li class="rdv-creneau" data-debut="{s.start.isoformat()}">'
                    f"{s.start:%d/%m/%Y %H:%M}</li>"
                    for s in free[:5]
                )
                inner = f'<ul class="rdv-creneaux">{items}</ul>'
            else:
                inner = '<p class="rdv-info">Aucun créneau n\'est proposé actuellement.</p>'
            body = f'<section class="rdv-v2"><h2>{esc(service.config.title)}</h2>{inner}</section>'
            return _html(_chrome(exchange.site, "Rendez-vous en ligne", body))
        if session is None:
            session = exchange.site.sessions.new(exchange.now)
        body = f"""<section class="rdv-v2"><form id="rdv-demarche" method="post" action="{action}">
<h2>{esc(service.config.title)}</h2>
<label><input type="checkbox" name="accept_cgu" value="1" /> J'accepte les conditions générales d'utilisation</label>
<button type="submit" class="rdv-suivant">Continuer</button>
</form></section>"""  # noqa: E501
        response = _html(_chrome(exchange.site, "Rendez-vous en ligne", body))
        response.set_cookie(COOKIE, session.id, path=exchange.site.prefix or "/", httponly=True)
        return response
