"""eAppointment, the booking system of Val-de-Marne (and some town halls), simulated.

The path: a postcode entry page whose script sends a person to ``appointment.do?sitekey=P941``
(one sitekey per office), the office's reasons (checkboxes ``selectedMotiveKeyList``), then either
a JavaScript ``alert`` saying there is nothing (two wordings, typos as on the site) or a date page
with a jQuery UI datepicker of the available days and the times of the first one. Each
(sitekey, motive) pair is a service with one counter. Choosing a date and a time and pressing
``#saveRdvId`` books: forbidden. docs/simulator.md lists every page.
"""

from __future__ import annotations

import calendar
import html
import json
from datetime import date
from typing import ClassVar

from aiohttp import web

from guichets.simulator.groundtruth import PARIS, ServiceTruth, Slot, Spell
from guichets.simulator.platforms.base import Exchange, Session, SiteContext, esc

__all__ = ["ALERT_MOTIVES", "ALERT_SERVICE", "EAppointmentSimulator"]

# The two no-slot alerts, typos included, as the real site writes them.
ALERT_MOTIVES = (
    "Aucun rendez-vous n'est possible pour les motifs selectionnnés ou le créneau horaire "
    "séléctionné."
)
ALERT_SERVICE = "Il n'y a pas de rendez-vous disponible pour ce service."
COOKIE = "JSESSIONID"
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")  # fmt: skip
DAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_BOOKING_PATHS = ("/personalInfo.do", "/confirm.do", "/recapitulatif.do")


def context_path(site: SiteContext) -> str:
    """``/eAppointmentpref94``: the application's path, named after the département."""
    return f"/eAppointmentpref{site.config.departement.lower()}"


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


class EAppointmentSimulator:
    """Serves the entry page, ``appointment.do`` and its error pages."""

    name: ClassVar[str] = "eappointment"

    # -- routing --------------------------------------------------------------------------------

    @staticmethod
    def _inside(exchange: Exchange) -> str | None:
        """The path inside the application, or None outside it."""
        ctx = context_path(exchange.site)
        if exchange.path == ctx or exchange.path.startswith(ctx + "/"):
            return exchange.path[len(ctx) :]
        return None

    @staticmethod
    def _value(exchange: Exchange, name: str) -> str:
        return exchange.form.get(name) or exchange.request.query.get(name, "")

    def _services(self, site: SiteContext, sitekey: str) -> list[ServiceTruth]:
        return [s for s in site.services if s.config.sitekey == sitekey]

    def _chosen(self, exchange: Exchange) -> ServiceTruth | None:
        """The motive's service, for a submitted choice of motives (the first one ticked)."""
        services = self._services(exchange.site, self._value(exchange, "sitekey"))
        for key in exchange.form.getall("selectedMotiveKeyList", []):
            found = next((s for s in services if str(s.config.form_id) == key), None)
            if found is not None:
                return found
        return None

    def service_of(self, exchange: Exchange) -> ServiceTruth | None:
        if self._inside(exchange) != "/appointment.do" or exchange.request.method != "POST":
            return None  # the entry and reasons pages serve every motive: no one's outage
        return self._chosen(exchange)

    def forbidden(self, exchange: Exchange) -> str | None:
        inside = self._inside(exchange)
        if inside is None:
            return None
        for name in ("dayValue", "hourValue"):
            if name in exchange.form or name in exchange.request.query:
                return f"sent a date or time choice ({name}), which books"
        if self._value(exchange, "method") == "saveRdv":
            return "pressed 'Valider le rendez-vous' (#saveRdvId), which books"
        if inside.startswith(_BOOKING_PATHS):
            return f"opened {inside}, a step of booking (personal data or confirmation)"
        return None

    def urls(self, site: SiteContext, base_url: str) -> dict[str, list[str]]:
        ctx = context_path(site)
        return {
            s.id: [f"{base_url}{ctx}/appointment.do?sitekey={s.config.sitekey}"
                   f"#motif={s.config.form_id}"]
            for s in site.services
        }  # fmt: skip

    def robots_disallow(self, site: SiteContext) -> list[str]:
        return [context_path(site) + "/"]

    def blocked_page(self, exchange: Exchange) -> web.StreamResponse:
        return _html(
            '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>'
            "<title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>You don't have "
            "permission to access this resource.</p></body></html>\n",
            403,
        )

    def outage(self, exchange: Exchange, spell: Spell) -> web.StreamResponse | None:
        if spell.kind in ("closed", "overloaded"):
            return self._error(
                exchange, "Une erreur technique est survenue. Veuillez réessayer ultérieurement."
            )
        return None

    async def handle(self, exchange: Exchange) -> web.StreamResponse:
        inside = self._inside(exchange)
        departement = exchange.site.config.departement.lower()
        if inside == f"/element/jsp/specific/pref{departement}.jsp":
            return self._entry(exchange)
        if inside == "/appointment.do":
            sitekey = self._value(exchange, "sitekey")
            services = self._services(exchange.site, sitekey)
            if not services:
                return self._error(exchange, "Le site demandé n'existe pas.")
            if exchange.request.method == "POST":
                return self._choice(exchange, services)
            return self._motives(exchange, services, None)
        return _html(
            "<html><head><title>Erreur 404 - Page non trouvée</title></head><body>"
            "<h1>HTTP Status 404 - Not Found</h1></body></html>",
            404,
        )

    # -- pages ----------------------------------------------------------------------------------

    def _page(self, site: SiteContext, title: str, body: str, script: str = "") -> str:
        return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" lang="fr">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<title>{esc(title)}</title>
<link rel="stylesheet" type="text/css" href="{site.prefix}{context_path(site)}/element/css/jquery-ui.css" />
{script}
</head>
<body>
<div id="header"><h1>{esc(site.config.name)}</h1><p class="host">{esc(site.config.host)}</p></div>
<div id="content">
{body}
</div>
<div id="footer"><p>eAppointment</p></div>
</body>
</html>
"""  # noqa: E501

    def _error(self, exchange: Exchange, message: str) -> web.Response:
        body = f'<div class="error"><h2>Erreur</h2><p>{html.escape(message, quote=False)}</p></div>'
        return _html(self._page(exchange.site, "eAppointment - Erreur", body))

    def _entry(self, exchange: Exchange) -> web.Response:
        """The postcode entry: its script sends each postcode to its office's sitekey."""
        site = exchange.site
        routes = {code: s.config.sitekey for s in site.services for code in s.config.postcodes}
        target = f"{site.prefix}{context_path(site)}/appointment.do?sitekey="
        script = f"""<script type="text/javascript">
var SITES = {json.dumps(routes)};
function valider() {{
  var cp = document.frm.CP.value;
  var sitekey = SITES[cp];
  if (!sitekey) {{ alert("Veuillez saisir un code postal du département."); return false; }}
  document.location.href = "{target}" + sitekey;
  return false;
}}
</script>"""
        body = """<h2>Prise de rendez-vous - étrangers</h2>
<form name="frm" id="frm" action="#" onsubmit="return valider();">
<p><label for="CPId">Code postal de votre domicile :</label>
<input type="text" name="CP" id="CPId" maxlength="5" size="5" /></p>
<p><input type="button" value="Continuer" onclick="valider();" /></p>
</form>"""
        return _html(self._page(site, "Prise de rendez-vous", body, script))

    @staticmethod
    def _session(exchange: Exchange) -> Session | None:
        return exchange.site.sessions.get(exchange.request.cookies.get(COOKIE), exchange.now)

    def _motives(
        self, exchange: Exchange, services: list[ServiceTruth], alert: str | None
    ) -> web.Response:
        site = exchange.site
        session = self._session(exchange)
        fresh = session is None
        if session is None:
            session = site.sessions.new(exchange.now)
        sitekey = services[0].config.sitekey or ""
        session.data["sitekey"] = sitekey
        office = services[0].counter().label
        boxes = "\n".join(
            f'<div class="motive"><input type="checkbox" name="selectedMotiveKeyList" '
            f'id="motive{s.config.form_id}" value="{s.config.form_id}" />'
            f'<label for="motive{s.config.form_id}">{esc(s.config.title)}</label></div>'
            for s in services
        )
        script = _alert(alert, site)
        if "button-tag" in site.config.variants:
            suivant = (
                '<button class="button" onclick="document.appointmentForm.submit();" '
                'type="button" id="nextButtonId">\n  Suivant\n</button>'
            )
        else:
            suivant = (
                '<input type="button" id="nextButtonId" class="button" value="Suivant" '
                'onclick="document.appointmentForm.submit();" />'
            )
        body = f"""<h2>{esc(office)}</h2>
<form name="appointmentForm" id="appointmentFormId" method="post" action="{site.prefix}{context_path(site)}/appointment.do">
<input type="hidden" name="sitekey" value="{esc(sitekey)}" />
<input type="hidden" name="method" value="selectMotives" />
<fieldset><legend>Motif(s) de votre rendez-vous</legend>
{boxes}
</fieldset>
<p>{suivant}</p>
</form>"""  # noqa: E501
        response = _html(self._page(site, f"Prise de rendez-vous - {office}", body, script))
        if fresh:
            ctx = f"{site.prefix}{context_path(site)}"
            response.set_cookie(COOKIE, session.id, path=ctx, httponly=True)
        return response

    def _choice(self, exchange: Exchange, services: list[ServiceTruth]) -> web.Response:
        session = self._session(exchange)
        sitekey = self._value(exchange, "sitekey")
        if session is None or session.data.get("sitekey") != sitekey:
            return self._error(
                exchange, "Votre session a expiré. Veuillez recommencer votre prise de rendez-vous."
            )
        service = self._chosen(exchange)
        if service is None:
            return self._motives(exchange, services, "Veuillez sélectionner au moins un motif.")
        free = service.counter().free_slots(exchange.now)
        if not free:
            others = any(s.counter().free_slots(exchange.now) for s in services)
            return self._dates(exchange, service, [], ALERT_MOTIVES if others else ALERT_SERVICE)
        return self._dates(exchange, service, free, None)

    def _dates(
        self, exchange: Exchange, service: ServiceTruth, free: list[Slot], alert: str | None
    ) -> web.Response:
        site = exchange.site
        sitekey = service.config.sitekey or ""
        script = _alert(alert, site)
        picker, day_input, hours, soonest = "", "", "", ""
        if free:
            first = free[0].start
            times = [s.start for s in free if s.start.date() == first.date()]
            picker = _datepicker(
                {s.start.date() for s in free}, first.date(), exchange.now.astimezone(PARIS).date()
            )
            day_input = (
                f'<input type="text" name="dayValue" id="dayValueId" class="dayValue" '
                f'value="{first:%d/%m/%Y}" readonly="readonly" />'
            )
            hours = "".join(f'<option value="{t:%H:%M}">{t:%H:%M}</option>' for t in times)
            if site.config.page_variant == "soonest":
                soonest = (
                    '<p class="soonestText">Prochain rendez-vous disponible le '
                    f"{DAY_NAMES[first.weekday()]} {first.day:02d} {MONTHS[first.month - 1]} "
                    f"{first.year} à {first:%H:%M}</p>"
                )
        else:
            day_input = (
                '<input type="text" name="dayValue" id="dayValueId" class="dayValue" value="" '
                'disabled="disabled" />'
            )
        body = f"""<h2>{esc(service.counter().label)} - {esc(service.config.title)}</h2>
<form name="appointmentForm" id="appointmentFormId" method="post" action="{site.prefix}{context_path(site)}/appointment.do">
<input type="hidden" name="sitekey" value="{esc(sitekey)}" />
<input type="hidden" name="method" value="saveRdv" />
<input type="hidden" name="selectedMotiveKeyList" value="{service.config.form_id}" />
{soonest}
<div id="datepicker">{picker}</div>
<p><label for="dayValueId">Date :</label>{day_input}</p>
<p><label for="hourValueId">Heure :</label><select name="hourValue" id="hourValueId">{hours}</select></p>
<p><input type="button" id="saveRdvId" class="button" value="Valider le rendez-vous" onclick="document.appointmentForm.submit();" /></p>
</form>"""  # noqa: E501
        title = f"Prise de rendez-vous - {service.counter().label}"
        return _html(self._page(site, title, body, script))


def _alert(text: str | None, site: SiteContext) -> str:
    """The site's way of saying there is nothing: a script that pops a message up (with the
    variant "reordered", in a single-quoted string whose apostrophes are escaped)."""
    if text is None:
        return ""
    if "reordered" in site.config.variants:
        quoted = text.replace("'", "\\'")
        return f"<script>\n  window.alert( '{quoted}' );\n</script>"
    return f'<script type="text/javascript">alert("{text}");</script>'


def _datepicker(available: set[date], selected: date, today: date) -> str:
    """Two months as jQuery UI draws them (French locale, Monday first, ``numberOfMonths: 2``),
    from the month of the selected day. An available day carries the class that the site's
    ``beforeShowDay`` leaves undefined, hence the literal " undefined"."""
    groups = []
    year, month = selected.year, selected.month
    for position in ("first", "last"):
        groups.append(_month(year, month, available, selected, today, position))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return (
        '<div class="ui-datepicker-inline ui-datepicker ui-widget ui-widget-content '
        'ui-helper-clearfix ui-corner-all ui-datepicker-multi-2 ui-datepicker-multi">'
        + "".join(groups)
        + '<div class="ui-datepicker-row-break"></div></div>'
    )


def _month(
    year: int, month: int, available: set[date], selected: date, today: date, position: str
) -> str:
    nav = (
        '<a class="ui-datepicker-prev ui-corner-all ui-state-disabled" title="Précédent">'
        '<span class="ui-icon ui-icon-circle-triangle-w">Précédent</span></a>'
        if position == "first"
        else '<a class="ui-datepicker-next ui-corner-all" data-handler="next" data-event="click" '
        'title="Suivant"><span class="ui-icon ui-icon-circle-triangle-e">Suivant</span></a>'
    )
    corner = "left" if position == "first" else "right"
    weekend_head = ' class="ui-datepicker-week-end"'
    heads = "".join(
        f'<th scope="col"{weekend_head if n >= 5 else ""}>'
        f'<span title="{name}">{name[0].upper()}</span></th>'
        for n, name in enumerate(DAY_NAMES)
    )
    rows = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        cells = []
        for column, day in enumerate(week):
            weekend = " ui-datepicker-week-end" if column >= 5 else ""
            if day.month != month:
                cells.append(
                    f'<td class="{weekend} ui-datepicker-other-month ui-datepicker-unselectable '
                    'ui-state-disabled">&#xa0;</td>'
                )
                continue
            free = day in available and day >= today
            css = weekend
            if day == selected:
                css += " ui-datepicker-days-cell-over"
            if not free:
                css += " ui-datepicker-unselectable ui-state-disabled"
            css += " undefined"
            if day == selected:
                css += " ui-datepicker-current-day"
            if day == today:
                css += " ui-datepicker-today"
            if free:
                link = "ui-state-default" + (" ui-state-highlight" if day == today else "")
                link += " ui-state-active" if day == selected else ""
                cells.append(
                    f'<td class="{css}" data-handler="selectDay" data-event="click" '
                    f'data-month="{month - 1}" data-year="{year}">'
                    f'<a class="{link}" href="#">{day.day}</a></td>'
                )
            else:
                cells.append(
                    f'<td class="{css}"><span class="ui-state-default">{day.day}</span></td>'
                )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<div class="ui-datepicker-group ui-datepicker-group-{position}">'
        f'<div class="ui-datepicker-header ui-widget-header ui-helper-clearfix ui-corner-{corner}">'
        f'{nav}<div class="ui-datepicker-title"><span class="ui-datepicker-month">'
        f'{MONTHS[month - 1]}</span>&#xa0;<span class="ui-datepicker-year">{year}</span></div>'
        '</div><table class="ui-datepicker-calendar"><thead><tr>'
        f"{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
