"""RDV-Préfecture, the national booking platform (2023-), simulated.

A démarche (one procedure at one prefecture) is a service with one counter (its "agenda"). The
path: landing -> ``cgu/`` (conditions, and the CaptchEtat captcha unless the scenario turns it
off) -> ``_validerCaptcha`` -> ``creneau/`` (seven days of slots from ``premierJour``, with the
page's data as embedded JSON). Everything after the slot page (choosing a slot, "Vos
informations", "Confirmer le rendez-vous") is forbidden, and so is answering the captcha:
no one can pass it here, since only the robot and tests talk to the simulator. The site sits
behind an Imperva (Incapsula) firewall whose block page answers 200. docs/simulator.md lists every
page.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import ClassVar

from aiohttp import web

from guichets.simulator.captcha import KEYS_FIELD, Verdict, typed_in_browser, wav_of
from guichets.simulator.groundtruth import PARIS, CounterTruth, ServiceTruth, Slot, Spell
from guichets.simulator.platforms.base import Exchange, Session, SiteContext, esc
from guichets.simulator.scenario import WEEKDAYS

__all__ = ["Publication", "RdvPrefSimulator", "publications"]

APP = "/rdvpref/reservation/demarche"
COOKIE = "JSESSIONID"
NODE = "VM-01-48-02-003"  # the application server's prefix in JSESSIONID values
CAPTCHA_ENDPOINT = "/piste/captcha/simple-captcha-endpoint"
STYLES = ("captchaFR", "alphanumerique4to6LightCaptchaFR")
LINES_SHOWN = 5  # slots shown per day before "Voir plus de créneaux"
DAYS = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")

NO_SLOT_FROM_DATE = "Aucun créneau disponible à partir de cette date."
RETRY = "Veuillez réessayer ultérieurement."
WEEK_EMPTY = "Aucun créneau disponible sur cette semaine"
DAY_EMPTY = "Aucun créneau disponible"
NEXT_DISPO = "Prochaine disponibilité le"
MORE = "Voir plus de créneaux"
NEXT_PUB = "Prochaine mise en ligne de nouveaux rendez-vous : le"
LAST_PUB = "Dernière mise en ligne de rendez-vous : le"

_DEMARCHE = re.compile(r"^/rdvpref/reservation/demarche/(\d+)(/.*)?$")
# Steps after the slot page: a person goes there only to book.
_BOOKING_STEPS = {
    "/formulaire/": "opened 'Vos informations', the personal-data page after choosing a slot",
    "/recapitulatif/": "opened 'Confirmer le rendez-vous', the confirmation of a booking",
    "/confirmation/": "opened the confirmation of a booking",
    "/_validerCreneau": "submitted a slot choice",
    "/_validerFormulaire": "submitted personal data",
    "/_confirmer": "confirmed a booking",
}
# The page's script: the <rdv-captchetat> element fetches the captcha's HTML with its token, as
# the State's component does, and counts the trusted key presses in the code field (a browser
# typing, which the simulator requires of every answer: see captcha.typed_in_browser).
_SCRIPT = """customElements.define("rdv-captchetat", class extends HTMLElement {
  connectedCallback() {
    const url = this.getAttribute("endpoint-url") + "?get=html&c=" +
      encodeURIComponent(this.getAttribute("captcha-style-name"));
    fetch(url, {headers: {Authorization: "Bearer " + this.getAttribute("token")}})
      .then((r) => r.text()).then((html) => { this.innerHTML = html; });
  }
});
document.addEventListener("keydown", (e) => {
  const keys = document.getElementById("captchaKeys");
  if (e.isTrusted && keys && e.target && e.target.id === "captchaFormulaireExtInput") {
    keys.value = String(Number(keys.value || "0") + 1);
  }
}, true);
"""


def fr_date(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def _parse_fr_date(text: str) -> date | None:
    match = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", text)
    if match is None:
        return None
    try:
        return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return None


def _minutes(slot: Slot) -> int:
    return slot.start.hour * 60 + slot.start.minute


def _label(minutes: int) -> str:
    return f"{minutes // 60:02d}h{minutes % 60:02d}"


@dataclass(frozen=True)
class Publication:
    """A "mise en ligne": when a batch of slots was or will be published, and for which days."""

    at: datetime  # Paris wall clock
    first_day: date
    last_day: date

    def to_json(self) -> dict[str, str]:
        return {
            "instantPublication": f"{fr_date(self.at.date())} {self.at:%H:%M}",
            "dateMin": fr_date(self.first_day),
            "dateMax": fr_date(self.last_day),
        }


def publications(counter: CounterTruth, now: datetime) -> tuple[Publication, Publication] | None:
    """The last and the next release of a counter with a release schedule, or None when slots
    are released continuously. Computed from the scenario's policy (weekday, time, window)."""
    model = counter.model
    if model.release == "continuous":
        return None
    at = time.fromisoformat(model.release_time)
    today = now.astimezone(PARIS).date()
    step = 7 if model.release == "weekly" else 1
    weekday = WEEKDAYS.index(model.release_weekday)
    days = [today + timedelta(days=n) for n in range(-8, 9)]
    instants = [
        datetime.combine(d, at, tzinfo=PARIS) for d in days if step == 1 or d.weekday() == weekday
    ]
    last = max(i for i in instants if i <= now)
    nxt = min(i for i in instants if i > now)

    def batch(instant: datetime) -> Publication:
        window = counter.release.window_at(instant)
        end = instant.date() + timedelta(days=window)
        return Publication(instant, end - timedelta(days=step - 1), end)

    return batch(last), batch(nxt)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


class RdvPrefSimulator:
    """Serves ``/rdvpref/reservation/demarche/{id}/...`` and the CaptchEtat endpoint."""

    name: ClassVar[str] = "rdvpref"

    @staticmethod
    def _state(site: SiteContext, what: str) -> dict[str, str]:
        """Captcha tokens handed out by cgu/ pages, and the captchas drawn with them, per site."""
        table = site.state.setdefault(f"rdvpref:{what}", {})
        if len(table) > 10_000:
            table.clear()  # bounded memory; the oldest tokens are long expired anyway
        return table

    # -- routing --------------------------------------------------------------------------------

    @staticmethod
    def _match(exchange: Exchange) -> tuple[ServiceTruth | None, str | None]:
        match = _DEMARCHE.match(exchange.path)
        if match is None:
            return None, None
        number = int(match.group(1))
        service = next((s for s in exchange.site.services if s.config.form_id == number), None)
        return service, match.group(2) or ""

    def service_of(self, exchange: Exchange) -> ServiceTruth | None:
        return self._match(exchange)[0]

    def forbidden(self, exchange: Exchange) -> str | None:
        service, rest = self._match(exchange)
        if exchange.path == CAPTCHA_ENDPOINT and exchange.request.query.get("i"):
            return "asked the captcha service to check a code (answering the captcha)"
        if service is None or rest is None:
            return None
        if "trhId" in exchange.form or "trhId" in exchange.request.query:
            return "sent a slot choice (trhId)"
        for step, reason in _BOOKING_STEPS.items():
            if rest.startswith(step):
                return reason
        answer = exchange.form.get("captchaUsercode", "")
        keys = exchange.form.get(KEYS_FIELD, "")
        if rest == "/_validerCaptcha" and answer.strip() and not typed_in_browser(answer, keys):
            return "answered the captcha without typing it in a browser (captchaUsercode)"
        if rest.startswith("/creneau/"):
            if exchange.request.method == "POST":
                return "submitted the slot page (choosing a slot)"
            session = self._session(exchange)
            passed = session is not None and session.data.get(self._key(service, "ok")) is True
            if service.config.captcha and not passed:
                return "asked for the slot page without passing the captcha"
        return None

    def urls(self, site: SiteContext, base_url: str) -> dict[str, list[str]]:
        return {s.id: [f"{base_url}{APP}/{s.config.form_id}/"] for s in site.services}

    def outage(self, exchange: Exchange, spell: Spell) -> web.StreamResponse | None:
        return None  # gateway errors are nginx's; the firewall's page is blocked_page

    def robots_disallow(self, site: SiteContext) -> list[str]:
        return ["/rdvpref/"]

    async def handle(self, exchange: Exchange) -> web.StreamResponse:
        response = self._page(exchange)
        self._firewall_cookies(exchange, response)
        return response

    def _page(self, exchange: Exchange) -> web.StreamResponse:
        if exchange.path == CAPTCHA_ENDPOINT:
            return self._captcha_endpoint(exchange)
        if exchange.path == "/rdvpref/static/captchetat.js":
            return web.Response(text=_SCRIPT, content_type="text/javascript")
        service, rest = self._match(exchange)
        if service is not None and rest is not None:
            base = self._base(exchange, service)
            if rest == "":
                return web.Response(status=301, headers={"Location": base + "/"})
            if rest == "/":
                return self._landing(exchange, service)
            if rest == "/cgu/":
                return self._cgu(exchange, service)
            if rest == "/_validerCaptcha":
                return self._validate(exchange, service)
            if rest == "/creneau/":
                return self._creneau(exchange, service)
        return _html(self._chrome(exchange.site, "Page non trouvée", _NOT_FOUND), 404)

    # -- the firewall ---------------------------------------------------------------------------

    def _site_id(self, site: SiteContext) -> int:
        return int(hashlib.sha256(site.config.slug.encode()).hexdigest()[:6], 16) % 9_000_000

    def _firewall_cookies(self, exchange: Exchange, response: web.StreamResponse) -> None:
        site_id = self._site_id(exchange.site)
        if not any(k.startswith("incap_ses_") for k in exchange.request.cookies):
            response.set_cookie(f"visid_incap_{site_id}", secrets.token_urlsafe(24), path="/")
            response.set_cookie(f"incap_ses_1184_{site_id}", secrets.token_urlsafe(24), path="/")

    def blocked_page(self, exchange: Exchange) -> web.StreamResponse:
        """Imperva's block page: HTTP 200, an iframe and an incident number, no word of French."""
        site_id = self._site_id(exchange.site)
        incident = f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**15)}"
        resource = (
            f"{exchange.site.prefix}/_Incapsula_Resource?CWUDNSAI=23&xinfo=6-{site_id}-0%200NNN"
            f"&incident_id={incident}&edet=15&cinfo=04000000&rpinfo=0&mth={exchange.request.method}"
        )
        body = (
            '<html style="height:100%"><head><META NAME="ROBOTS" CONTENT="NOINDEX, NOFOLLOW">'
            '<meta name="format-detection" content="telephone=no">'
            '<meta name="viewport" content="initial-scale=1.0">'
            '<meta http-equiv="X-UA-Compatible" content="IE=edge,chrome=1"></head>'
            '<body style="margin:0px;height:100%">'
            f'<iframe id="main-iframe" src="{esc(resource)}" frameborder=0 width="100%" '
            'height="100%" marginheight="0px" marginwidth="0px">'
            f"Request unsuccessful. Incapsula incident ID: {incident}</iframe></body></html>"
        )
        response = _html(body)
        response.headers["X-Iinfo"] = f"6-{site_id}-0 0NNN RT(0 0) q(0 -1 -1 -1) r(0 -1)"
        response.headers["X-CDN"] = "Imperva"
        self._firewall_cookies(exchange, response)
        return response

    # -- sessions -------------------------------------------------------------------------------

    @staticmethod
    def _key(service: ServiceTruth, what: str) -> str:
        return f"{service.config.form_id}:{what}"

    @staticmethod
    def _session(exchange: Exchange) -> Session | None:
        value = exchange.request.cookies.get(COOKIE, "")
        return exchange.site.sessions.get(value.rpartition("~")[2] or None, exchange.now)

    def _session_or_new(self, exchange: Exchange, response_cookie: list[Session]) -> Session:
        session = self._session(exchange)
        if session is None:
            session = exchange.site.sessions.new(exchange.now)
            response_cookie.append(session)
        return session

    @staticmethod
    def _set_session(exchange: Exchange, response: web.StreamResponse, new: list[Session]) -> None:
        for session in new:
            response.set_cookie(
                COOKIE,
                f"{NODE}~{session.id}",
                path=f"{exchange.site.prefix}/rdvpref",
                httponly=True,
            )

    def _base(self, exchange: Exchange, service: ServiceTruth) -> str:
        return f"{exchange.site.prefix}{APP}/{service.config.form_id}"

    # -- pages ----------------------------------------------------------------------------------

    def _chrome(self, site: SiteContext, title: str, body: str) -> str:
        """The State design system's page around the application."""
        return f"""<!DOCTYPE html>
<html lang="fr" data-fr-scheme="system">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1, shrink-to-fit=no" />
<title>{esc(title)} - RDV-Préfecture</title>
<link rel="stylesheet" href="{site.prefix}/rdvpref/static/dsfr/dsfr.min.css" />
</head>
<body>
<header role="banner" class="fr-header"><div class="fr-header__body"><div class="fr-container">
<p class="fr-logo">Ministère<br />de l'Intérieur</p>
<p class="fr-header__service-title">Rendez-vous en préfecture</p>
<p class="fr-header__service-tagline">{esc(site.config.name)}</p>
</div></div></header>
<main id="contenu" role="main" class="fr-container fr-my-6w">
{body}
</main>
<footer class="fr-footer" role="contentinfo"><div class="fr-container">
<p class="fr-footer__content-desc">RDV-Préfecture - {esc(site.config.host)}</p>
</div></footer>
</body>
</html>
"""

    def _landing(self, exchange: Exchange, service: ServiceTruth) -> web.StreamResponse:
        new: list[Session] = []
        self._session_or_new(exchange, new)
        body = f"""<h1>{esc(service.config.title)}</h1>
<p class="fr-text--lead">{esc(exchange.site.config.name)}</p>
<p>Prenez rendez-vous en ligne pour cette démarche. Munissez-vous des pièces demandées avant de commencer.</p>
<a class="fr-btn" href="{self._base(exchange, service)}/cgu/">Prendre rendez-vous</a>"""  # noqa: E501
        response = _html(self._chrome(exchange.site, service.config.title, body))
        self._set_session(exchange, response, new)
        return response

    def _cgu(self, exchange: Exchange, service: ServiceTruth) -> web.StreamResponse:
        new: list[Session] = []
        session = self._session_or_new(exchange, new)
        ctx = secrets.token_hex(16)
        session.data[self._key(service, "ctx")] = ctx
        # Once per session and démarche: a visitor who passed the captcha is not asked again.
        passed = session.data.get(self._key(service, "passed")) is True
        session.data[self._key(service, "ok")] = passed
        base = self._base(exchange, service)
        error = {
            "invalidCaptcha": "Le code de sécurité saisi est incorrect. Veuillez recommencer.",
            "errorSessionInvalide": "Votre session a expiré. Veuillez recommencer votre demande.",
        }.get(exchange.request.query.get("error", ""))
        alert = (
            f'<div class="fr-alert fr-alert--error fr-mb-3w"><p>{error}</p></div>' if error else ""
        )
        captcha = ""
        if service.config.captcha and not passed:
            token = secrets.token_urlsafe(32)
            self._state(exchange.site, "tokens")[token] = self._scope(session, service)
            style = STYLES[service.config.form_id % len(STYLES)]
            captcha = f"""<div class="fr-input-group">
<p>Afin de vérifier que vous n'êtes pas un robot, recopiez le code de sécurité affiché dans l'image.</p>
<rdv-captchetat endpoint-url="{exchange.site.prefix}{CAPTCHA_ENDPOINT}" captcha-style-name="{style}" token="{token}"></rdv-captchetat>
<label class="fr-label" for="captchaFormulaireExtInput">Code de sécurité</label>
<input class="fr-input" type="text" id="captchaFormulaireExtInput" name="captchaUsercode" autocomplete="off" />
<input type="hidden" id="captchaKeys" name="captchaKeys" value="0" />
</div>
<script src="{exchange.site.prefix}/rdvpref/static/captchetat.js"></script>"""  # noqa: E501
        variants = exchange.site.config.variants
        # Variants: « Suivant » without formaction (the form's own action), as an <input>, and
        # a box accepting the conditions that the page requires.
        action = f"{base}/_validerCaptcha" if "form-action" in variants else f"{base}/cgu/"
        formaction = "" if "form-action" in variants else f' formaction="{base}/_validerCaptcha"'
        if "input-submit" in variants:
            suivant = f'<input class="fr-btn" value="Suivant" type="submit"{formaction} />'
        else:
            suivant = f'<button type="submit" class="fr-btn"{formaction}>Suivant</button>'
        accept = ""
        if "accept-box" in variants:
            accept = (
                '<div class="fr-checkbox-group"><input type="checkbox" id="acceptCgu" '
                'name="acceptCgu" value="true" required />'
                '<label class="fr-label" for="acceptCgu">J&#39;accepte les conditions '
                "générales d&#39;utilisation</label></div>"
            )
        body = f"""<h1>Constituez votre dossier</h1>
<div class="fr-stepper"><h2 class="fr-stepper__title">Conditions d'utilisation<span class="fr-stepper__state">Étape 1 sur 4</span></h2>
<p class="fr-stepper__details"><span class="fr-text--bold">Étape suivante :</span> Choisissez votre créneau</p></div>
<p class="fr-text--lead">{esc(service.config.title)}</p>
{alert}
<form method="post" action="{action}">
<input type="hidden" name="CTX" value="{ctx}" />
<div class="fr-callout"><p class="fr-callout__text">En poursuivant, vous acceptez les conditions générales d'utilisation du service de prise de rendez-vous en ligne. Un seul rendez-vous par personne et par démarche.</p></div>
{accept}
{captcha}
{suivant}
</form>"""  # noqa: E501
        response = _html(self._chrome(exchange.site, "Constituez votre dossier", body))
        self._set_session(exchange, response, new)
        return response

    def _validate(self, exchange: Exchange, service: ServiceTruth) -> web.StreamResponse:
        base = self._base(exchange, service)
        if exchange.request.method != "POST":
            return web.Response(status=302, headers={"Location": f"{base}/cgu/"})
        session = self._session(exchange)
        ctx = session.data.get(self._key(service, "ctx")) if session is not None else None
        if session is None or ctx is None or exchange.form.get("CTX") != ctx:
            location = f"{base}/cgu/?error=errorSessionInvalide"
        elif service.config.captcha and session.data.get(self._key(service, "passed")) is not True:
            location = self._judge(exchange, service, session)
        elif "accept-box" in exchange.site.config.variants and not exchange.form.get("acceptCgu"):
            location = f"{base}/cgu/?error=cgu"  # the required box was not ticked
        else:
            session.data[self._key(service, "ok")] = True
            location = f"{base}/creneau/"
        return web.Response(status=302, headers={"Location": location})

    @staticmethod
    def _scope(session: Session, service: ServiceTruth) -> str:
        return f"{session.id}:{service.config.form_id}"

    def _judge(self, exchange: Exchange, service: ServiceTruth, session: Session) -> str:
        """A person's answer: right, the démarche is open for the session; wrong or expired
        (after ``captcha.CAPTCHA_TTL``), back to cgu/ with ``invalidCaptcha``. One answer per
        captcha, whatever it was."""
        base = self._base(exchange, service)
        style = STYLES[service.config.form_id % len(STYLES)]
        captcha_id = exchange.form.get(f"BDC_VCID_{style}", "")
        answer = exchange.form.get("captchaUsercode", "")
        verdict = exchange.site.captchas.check(
            captcha_id, self._scope(session, service), answer, exchange.now
        )
        if verdict != Verdict.RIGHT:
            return f"{base}/cgu/?error=invalidCaptcha"
        session.data[self._key(service, "passed")] = True
        session.data[self._key(service, "ok")] = True
        return f"{base}/creneau/"

    # -- the slot page --------------------------------------------------------------------------

    def _creneau(self, exchange: Exchange, service: ServiceTruth) -> web.StreamResponse:
        session = self._session(exchange)
        base = self._base(exchange, service)
        if session is None or session.data.get(self._key(service, "ok")) is not True:
            return web.Response(status=302, headers={"Location": f"{base}/cgu/"})
        counter = service.counter()
        now = exchange.now
        today = now.astimezone(PARIS).date()
        last = today + timedelta(days=counter.release.window_at(now))
        asked = _parse_fr_date(exchange.request.query.get("premierJour", ""))
        first = min(max(asked or today, today), last)
        week_end = first + timedelta(days=6)
        free = [s for s in counter.free_slots(now) if first <= s.start.date() <= last]
        tranches = [s for s in free if s.start.date() <= week_end]
        premiere = fr_date(free[0].start.date()) if free else ""
        shown = bool(free) or any(
            state in ("free", "taken")
            for state in counter.states_of_days(today, (last - today).days + 1, now).values()
        )
        at_end = week_end >= last or not free
        pubs = publications(counter, now)
        data = {
            "demarche": {"id": service.config.form_id, "libelle": service.config.title},
            "critere": {
                "ageIds": [counter.counter_id],
                "premierJour": fr_date(first),
                "dateMin": fr_date(today),
                "dateMax": fr_date(last),
                "datePremiereDispo": premiere,
                "minutesMin": 0,
            },
            "tranches": [
                {
                    "trhId": self._trh_id(counter, s),
                    "ageId": counter.counter_id,
                    "dateLocale": fr_date(s.start.date()),
                    "minutesDebut": _minutes(s),
                }
                for s in tranches
            ],
            "precedentePub": pubs[0].to_json() if pubs else None,
            "prochainePub": pubs[1].to_json() if pubs else None,
            "isDisplayCalendar": shown,
            "isCurrentMaxWeek": week_end >= last,
            "nombreDeLigne": LINES_SHOWN,
        }
        script = json.dumps({"vueData": data}, ensure_ascii=False).replace("</", "<\\/")
        variant = exchange.site.config.page_variant
        parts = [
            "<h1>Choisissez votre créneau</h1>",
            '<div class="fr-stepper"><h2 class="fr-stepper__title">Choix du créneau'
            '<span class="fr-stepper__state">Étape 2 sur 4</span></h2></div>',
            f'<p class="fr-text--lead">{esc(service.config.title)}</p>',
            '<div id="rdv-choix-tranche">',
        ]
        days = [first + timedelta(days=n) for n in range(7)]
        if shown:
            parts.append(self._grid(days, counter, tranches, variant))
            if at_end:
                if variant == "early":
                    parts.append(
                        f'<div class="text-center q-pa-md">{DAY_EMPTY}</div>'
                        f'<div class="text-center q-pa-md">{RETRY}</div>'
                    )
                else:
                    parts.append(
                        '<div class="row col-12 justify-center"><div class="text-center q-pa-md">'
                        f"{NO_SLOT_FROM_DATE}<br/>{RETRY}</div></div>"
                    )
            elif not tranches:
                parts.append(
                    '<div class="column col-12 justify-center">'
                    f'<div class="text-center q-pa-md">{WEEK_EMPTY}</div>'
                    f'<div class="text-center q-pa-md"><a class="q-btn fr-btn" '
                    f'href="{base}/creneau/?premierJour={premiere}">{NEXT_DISPO} {premiere}</a>'
                    "</div></div>"
                )
        else:
            parts.append(
                '<div class="row col-12 justify-center">'
                f'<div class="text-center q-pa-md">{RETRY}</div></div>'
            )
        if pubs and (not shown or at_end):
            parts.append(self._publications(pubs))
        parts.append("</div>")
        links = []
        if first > today:
            back = fr_date(max(today, first - timedelta(days=7)))
            links.append(f'<a class="fr-link" href="{base}/creneau/?premierJour={back}">'
                         "Semaine précédente</a>")  # fmt: skip
        if week_end < last:
            ahead = fr_date(first + timedelta(days=7))
            links.append(f'<a class="fr-link" href="{base}/creneau/?premierJour={ahead}">'
                         "Semaine suivante</a>")  # fmt: skip
        parts.append(f'<nav class="rdv-semaines">{"".join(links)}</nav>')
        parts.append(
            f'<form method="post" action="{base}/creneau/"><input type="hidden" name="CTX" '
            f'value="{session.data.get(self._key(service, "ctx"))}" />'
            '<button type="submit" class="fr-btn" disabled>Suivant</button></form>'
        )
        parts.append(f'<script type="text/javascript">\nVUiPage.init({script});\n</script>')
        title = "Choisissez votre créneau"
        return _html(self._chrome(exchange.site, title, "\n".join(parts)))

    @staticmethod
    def _trh_id(counter: CounterTruth, slot: Slot) -> int:
        return counter.counter_id * 1_000_000 + slot.index

    def _grid(
        self, days: list[date], counter: CounterTruth, tranches: list[Slot], variant: str
    ) -> str:
        """The days as the page's script lays them out: columns, or a list on small screens."""
        by_day = {d: [s for s in tranches if s.start.date() == d] for d in days}

        def item(slot: Slot, css: str) -> str:
            trh = self._trh_id(counter, slot)
            return (
                f'<li class="{css}"><input type="radio" name="trhId" id="trhId_{trh}" '
                f'data-value="{trh}" /><label class="fr-label" for="trhId_{trh}">'
                f"{_label(_minutes(slot))}</label></li>"
            )

        if variant == "small-screen":
            if not tranches:
                return ""
            entries = []
            for day, slots in by_day.items():
                items = "".join(item(s, "radio-card") for s in slots[:LINES_SHOWN])
                tail = (
                    '<div class="full-width text-center q-my-md"><button class="fr-btn '
                    f'fr-btn--tertiary-no-outline">{MORE}</button></div>'
                    if slots
                    else f'<div class="full-width text-center q-mt-md"><div>{DAY_EMPTY}</div></div>'
                )
                entries.append(
                    '<div class="q-expansion-item"><div class="q-item"><div class="q-item__label">'
                    f"{DAYS[day.weekday()]} {day:%d/%m}</div></div>"
                    '<div class="q-expansion-item__content"><div class="row q-gutter-x-md">'
                    f'<ul class="row q-gutter-x-md">{items}</ul>{tail}</div></div></div>'
                )
            return f'<div class="q-list col-12">{"".join(entries)}</div>'
        columns = []
        for day, slots in by_day.items():
            items = "".join(
                item(s, "row cellule justify-center radio-card" + (" even" if n % 2 == 0 else ""))
                for n, s in enumerate(slots[:LINES_SHOWN], start=1)
            )
            columns.append(
                '<div class="column col items-center blocCreneauSelection">'
                f'<h3 class="celulleHeader text-bold text-center">{DAYS[day.weekday()]}<br/>'
                f"{day:%d/%m}</h3><ul>{items}</ul></div>"
            )
        more = ""
        if any(len(s) > LINES_SHOWN for s in by_day.values()):
            more = (
                '<div class="row items-center q-mt-md"><div class="full-width text-center">'
                f'<button class="fr-btn fr-btn--tertiary-no-outline">{MORE}</button></div></div>'
            )
        return f'<div class="row q-gutter-xs">{"".join(columns)}</div>{more}'

    @staticmethod
    def _publications(pubs: tuple[Publication, Publication]) -> str:
        last, nxt = pubs

        def line(words: str, pub: Publication) -> str:
            monday = pub.first_day - timedelta(days=pub.first_day.weekday())
            return (
                f'<div class="text-center q-pa-md"><span class="fr-text--italic fr-text--bold">'
                f"{words} {fr_date(pub.at.date())} à {pub.at:%H:%M}</span><br>"
                f'<span class="fr-text--italic">pour des créneaux de la semaine du '
                f"{fr_date(monday)}</span></div>"
            )

        return (
            '<div class="row col-12 justify-center">'
            f"{line(NEXT_PUB, nxt)}{line(LAST_PUB, last)}</div>"
        )

    # -- CaptchEtat -----------------------------------------------------------------------------

    def _captcha_endpoint(self, exchange: Exchange) -> web.StreamResponse:
        """The State's captcha service (another host in reality): HTML, image and sound of a
        captcha, for the bearer of a token that a cgu/ page handed out."""
        query = exchange.request.query
        style = query.get("c", "")
        if style not in STYLES:
            return web.json_response({"error": "unknown captcha style"}, status=400)
        what = query.get("get", "")
        endpoint = f"{exchange.site.prefix}{CAPTCHA_ENDPOINT}"
        book = exchange.site.captchas
        if what == "html":
            # Only the bearer of a token that a cgu/ page handed out gets a captcha; the image
            # and the sound are then fetched by the captcha's id, as <img> and <a> cannot send
            # a header.
            auth = exchange.request.headers.get("Authorization", "")
            scope = self._state(exchange.site, "tokens").get(auth.removeprefix("Bearer ").strip())
            if scope is None:
                return web.json_response({"error": "invalid_token"}, status=401)
            captcha_id = book.draw("captchetat", scope, exchange.now).id
            src = f"{endpoint}?get=image&amp;c={style}&amp;t={captcha_id}"
            sound = f"{endpoint}?get=sound&amp;c={style}&amp;t={captcha_id}"
            body = f"""<div class="BDC_CaptchaDiv" id="{style}_CaptchaDiv">
<div class="BDC_CaptchaImageDiv" id="{style}_CaptchaImageDiv"><img class="BDC_CaptchaImage" id="{style}_CaptchaImage" src="{src}" alt="Retaper le code de l'image" /></div>
<div class="BDC_CaptchaIconsDiv" id="{style}_CaptchaIconsDiv">
<a class="BDC_ReloadLink" id="{style}_ReloadLink" href="#" title="Générer un nouveau code"><img class="BDC_ReloadIcon" alt="Générer un nouveau code" /></a>
<a class="BDC_SoundLink" id="{style}_SoundLink" href="{sound}" title="Énoncer le code du captcha"><img class="BDC_SoundIcon" alt="Énoncer le code du captcha" /></a>
</div>
<input type="hidden" name="BDC_VCID_{style}" id="BDC_VCID_{style}" value="{captcha_id}" />
<input type="hidden" name="BDC_BackWorkaround_{style}" id="BDC_BackWorkaround_{style}" value="0" />
</div>
<script src="{endpoint}?get=script-include&amp;c={style}&amp;t={captcha_id}&amp;cs=203" type="text/javascript"></script>"""  # noqa: E501
            return _html(body)
        captcha = book.get(query.get("t", ""))
        if captcha is None:
            return web.json_response({"error": "unknown captcha"}, status=404)
        if what == "image":
            return web.Response(body=book.image(captcha.id), content_type="image/png")
        if what == "sound":
            return web.Response(body=wav_of(captcha.code), content_type="audio/wav")
        if what == "script-include":
            return web.Response(text="/* BotDetect CAPTCHA */", content_type="text/javascript")
        return web.json_response({"error": f"unknown request get={what!r}"}, status=400)


_NOT_FOUND = """<h1>Page non trouvée</h1>
<p>La page que vous cherchez est introuvable. Excusez-nous pour la gêne occasionnée.</p>
<p>Erreur 404</p>"""
