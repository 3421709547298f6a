"""Forms as a person uses them: buttons by their visible label, boxes by what they accept.

A person does not read a page's markup. They read the label of a button, whatever its tag
(``<input type="submit" value="Suivant">``, ``<button>Suivant</button>``), tick the box whose label
asks them to accept the conditions, and press: the browser then sends the form's hidden fields,
the ticked boxes and the pressed button's own name and value to the button's ``formaction``, or
else to the form's ``action``, or else back to the page's URL. Readers use these helpers so that a
change of tag, of attribute order or of where the action is written does not change what they do.

Nothing here decides what a page means: a reader still decides on positive evidence only. These
helpers only find, among what a person can see, the control a reader's platform names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = [
    "Submission",
    "buttons",
    "fold",
    "form_of",
    "label_of",
    "says",
    "submission",
    "ticked_boxes",
    "visible_text",
    "words",
]

# Submit controls: <button> (submit unless typed otherwise), <input type=submit|image>, and the
# <input type=button> whose click handler submits the form (eAppointment's « Suivant »).
_CONTROLS = "button, input[type=submit], input[type=image], input[type=button]"
_INVISIBLE = ("script", "style", "template", "noscript", "button", "select", "textarea")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u00a0": " "})
# What a person reads as « accept the conditions » in a box's label.
ACCEPT_WORDS = ("condition", "cgu", "accepte", "accept", "agree")


def fold(text: str) -> str:
    """A label as compared: case, accents, apostrophes and spacing do not matter to a reader."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain).strip().casefold()


_NOT_WORDS = re.compile(r"[^\w\s']+")


def words(text: str) -> str:
    """A label's words only: folded, without the arrows, chevrons and punctuation a site may
    draw around them (« Suivant > », "→ Next")."""
    return re.sub(r"\s+", " ", _NOT_WORDS.sub(" ", fold(text))).strip()


def says(control: LexborNode, labels: frozenset[str]) -> bool:
    """Whether a control's visible label is one of ``labels`` (given folded)."""
    return words(label_of(control)) in labels


def label_of(control: LexborNode) -> str:
    """The words a person reads on a control: a button's text, an input's value, or its
    ``aria-label``/``title`` when it has no words of its own."""
    attrs = control.attributes
    words = control.text(deep=True) if control.tag == "button" else attrs.get("value") or ""
    if not words.strip() and control.tag == "input" and attrs.get("type") == "image":
        words = attrs.get("alt") or ""
    if not words.strip():
        words = attrs.get("aria-label") or attrs.get("title") or ""
    return re.sub(r"\s+", " ", words.translate(_APOSTROPHES)).strip()


def _submits(control: LexborNode) -> bool:
    kind = (control.attributes.get("type") or "submit").lower()
    if control.tag == "button":
        return kind in ("submit", "button")
    return kind in ("submit", "image", "button")


def buttons(scope: LexborNode) -> list[LexborNode]:
    """The controls a person can press to go on, in page order, disabled ones left out."""
    return [
        node
        for node in scope.css(_CONTROLS)
        if _submits(node) and "disabled" not in node.attributes
    ]


def form_of(control: LexborNode, tree: LexborHTMLParser) -> LexborNode | None:
    """The form a control submits: its ``form`` attribute, or the form around it."""
    owner = control.attributes.get("form")
    if owner:
        return tree.css_first(f'form[id="{owner}"]')
    parent = control.parent
    while parent is not None:
        if parent.tag == "form":
            return parent
        parent = parent.parent
    return None


def _box_label(box: LexborNode, tree: LexborHTMLParser) -> str:
    ident = box.attributes.get("id")
    words: list[str] = []
    if ident:
        words.extend(n.text(deep=True) for n in tree.css(f'label[for="{ident}"]'))
    parent = box.parent
    while parent is not None and parent.tag not in ("form", "body"):
        if parent.tag == "label":
            words.append(parent.text(deep=True))
            break
        parent = parent.parent
    return " ".join(words)


def ticked_boxes(form: LexborNode, tree: LexborHTMLParser) -> tuple[dict[str, str], list[str]]:
    """The conditions' acceptance boxes a person ticks, as sent (name -> value, ``on`` by
    default), and the names of other required boxes, which a person would have to think about."""
    ticked: dict[str, str] = {}
    other_required: list[str] = []
    for box in form.css("input[type=checkbox]"):
        name = box.attributes.get("name")
        if not name:
            continue
        said = fold(f"{_box_label(box, tree)} {name} {box.attributes.get('id') or ''}")
        if any(word in said for word in ACCEPT_WORDS):
            ticked[name] = box.attributes.get("value") or "on"
        elif "required" in box.attributes:
            other_required.append(name)
    return ticked, other_required


@dataclass(frozen=True)
class Submission:
    """What the browser sends when a person presses a control."""

    method: str  # "GET" or "POST"
    url: str  # without the fragment, GET fields already in its query
    fields: dict[str, str]


def submission(
    page_url: str,
    form: LexborNode,
    control: LexborNode | None,
    chosen: Mapping[str, str],
    skip: Iterable[str] = (),
) -> Submission:
    """The request a press of ``control`` sends: hidden fields, the reader's ``chosen`` ones,
    and the control's own name and value; ``skip`` names fields never to send (prefixes)."""
    attrs = control.attributes if control is not None else {}
    action = attrs.get("formaction") or form.attributes.get("action") or ""
    method = (attrs.get("formmethod") or form.attributes.get("method") or "get").upper()
    url = urljoin(page_url, action.strip()) if action.strip() else page_url
    parts = urlsplit(url)
    url = urlunsplit(parts._replace(fragment=""))
    avoid = tuple(s.lower() for s in skip)
    fields: dict[str, str] = {}
    for node in form.css("input[type=hidden]"):
        name = node.attributes.get("name")
        if name and not name.lower().startswith(avoid):
            fields[name] = node.attributes.get("value") or ""
    fields.update(chosen)
    if control is not None and (attrs.get("type") or "submit").lower() != "button":
        name = attrs.get("name")
        if name:
            fields[name] = attrs.get("value") or ""
    if method != "POST":
        method = "GET"
        query = urlencode(list(fields.items()))
        url = urlunsplit(parts._replace(query=query, fragment="")) if query else url
        fields = {}
    return Submission(method, url, fields)


def visible_text(node: LexborNode) -> str:
    """The words a person reads in a part of the page, without its buttons, scripts or hidden
    parts; a line break reads as a space."""
    tree = LexborHTMLParser(_BR.sub(" ", node.html or ""))
    tree.strip_tags(list(_INVISIBLE))
    unseen = [n for n in tree.css("[hidden], [aria-hidden=true]")]
    for styled in tree.css("[style]"):
        style = (styled.attributes.get("style") or "").replace(" ", "").lower()
        if "display:none" in style or "visibility:hidden" in style:
            unseen.append(styled)
    marked = {n.mem_id for n in unseen}
    outermost = []
    for hidden in unseen:  # a removed part takes its children with it
        parent = hidden.parent
        while parent is not None and parent.mem_id not in marked:
            parent = parent.parent
        if parent is None:
            outermost.append(hidden)
    for hidden in outermost:
        hidden.decompose()
    body = tree.body
    text = body.text(deep=True) if body is not None else ""
    return re.sub(r"\s+", " ", text.translate(_APOSTROPHES)).strip()
