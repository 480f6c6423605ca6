"""The logbook of an incident: every event (the alert, each page and answer, escalations,
analyse versions and who read which, shares, convening, attendance, decisions, actions,
closing) in time order, from the append-only audit log, plus the decisions and actions as
they stand. `/logboek` shows the newest entries; `scm-bot incident export` writes all of it
(Markdown, JSON, or PDF/A for the archive)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.analyse.render import FONT, document
from core.bt.model import Callout, CalloutId, LogEntry, Record, RecordKind
from core.bt.requests import find_incident
from core.bt.team import entitled, meldkamer_side, visible
from core.errors import UserError
from core.i18n import catalog, fmt_datetime, t
from core.messages import Attachment
from core.model import Directory, Incident, Language, PageId, Person
from core.tx import Tx

SHOWN = 25  # entries /logboek shows in the chat
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)$")
# Detail fields worth a reader's eye, in this order.
DETAILS = (
    "function",
    "field",
    "who",
    "callee",
    "team",
    "version",
    "number",
    "text",
    "before",
    "eta",
    "owner",
    "on_behalf_of",
    "starts_at",
    "place",
    "to",
    "missing",
    "step",
    "attempt",
    "transport",
    "format",
)


@dataclass(frozen=True)
class Logbook:
    incident: Incident
    entries: list[LogEntry]
    records: list[Record]
    directory: Directory
    bts: dict[CalloutId, str] = field(default_factory=dict)  # call-out -> the BT's name

    def actor(self, key: str) -> str:
        person = self.directory.person_by_key(key)
        if person is None:
            person = next((p for p in self.directory.former.values() if p.key == key), None)
        return person.name if person else key

    def line(self, entry: LogEntry, lang: Language) -> str:
        tz = self.directory.region.timezone
        key = f"log.{entry.action}"
        what = t(lang, key) if key in catalog(Language.NL) else entry.action
        details = [
            f"{k}={_shown(entry.detail[k], tz, lang)}"
            for k in DETAILS
            if entry.detail.get(k) not in (None, "", [])
        ]
        result = "" if entry.result in ("ok", "") else f" [{entry.result}]"
        extra = f" ({', '.join(details)})" if details else ""
        when = fmt_datetime(entry.at, tz, lang)
        return f"{when} · {self.actor(entry.actor)} · {what}{result}{extra}"

    def as_json(self) -> str:
        d = self.directory
        data: dict[str, Any] = {
            "incident": {
                "id": self.incident.public_id,
                "kind": self.incident.kind.value,
                "description": self.incident.description,
                "location": self.incident.location,
                "opschaling": self.incident.opschaling,
                "gemeenten": [d.gemeente(g).name for g in self.incident.gemeenten],
                "status": self.incident.status.value,
                "created_at": self.incident.created_at.isoformat(),
                "closed_at": self.incident.closed_at.isoformat()
                if self.incident.closed_at
                else None,
            },
            "entries": [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "actor_name": self.actor(e.actor),
                    "action": e.action,
                    "result": e.result,
                    "origin": e.origin,
                    "detail": e.detail,
                }
                for e in self.entries
            ],
            "decisions": [
                _record_json(r, d, self.bts) for r in self.records if r.kind is RecordKind.DECISION
            ],
            "actions": [
                _record_json(r, d, self.bts) for r in self.records if r.kind is RecordKind.ACTION
            ],
        }
        return json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"

    def record_lines(self, lang: Language) -> list[str]:
        tz = self.directory.region.timezone
        out = []
        several = len({self.bts.get(r.callout_id) for r in self.records}) > 1
        for r in self.records:
            bt = f"[{self.bts.get(r.callout_id)}] " if several else ""
            out.append(bt + record_line(self.directory, r, lang))
            for text, who, at in r.history:
                earlier = datetime.fromisoformat(at)
                name = self.directory.person(who).name  # type: ignore[arg-type]
                out.append(
                    "   "
                    + t(
                        lang,
                        "log.earlier_wording",
                        text=text,
                        name=name,
                        time=fmt_datetime(earlier, tz, lang),
                    )
                )
        return out

    def facts(self, lang: Language) -> list[str]:
        """The incident in a few lines: what, where, which gemeenten, opened and closed."""
        i = self.incident
        tz = self.directory.region.timezone
        closed = fmt_datetime(i.closed_at, tz, lang) if i.closed_at else "—"
        return [
            t(lang, "log.fact_what", kind=t(lang, f"kind.{i.kind.value}"), text=i.description),
            t(lang, "log.fact_where", location=i.location or "—", opschaling=i.opschaling or "—"),
            t(
                lang,
                "log.fact_gemeenten",
                names=", ".join(self.directory.gemeente(g).name for g in i.gemeenten),
            ),
            t(
                lang,
                "log.fact_times",
                opened=fmt_datetime(i.created_at, tz, lang),
                closed=closed,
            ),
        ]

    def markdown(self, lang: Language) -> str:
        out = [f"# {t(lang, 'log.title', id=self.incident.public_id)}", ""]
        out += [f"- {line}" for line in self.facts(lang)]
        out += ["", f"## {t(lang, 'log.records')}", ""]
        out += [f"- {line.strip()}" for line in self.record_lines(lang)] or ["—"]
        out += ["", f"## {t(lang, 'log.events')}", ""]
        out += [f"- {self.line(e, lang)}" for e in self.entries]
        return "\n".join(out) + "\n"

    def pdf(self, lang: Language) -> bytes:
        """A PDF/A-3B document (the Archiefregeling's format for permanent records)."""
        doc = document(compliance="PDF/A-3B")
        title = t(lang, "log.title", id=self.incident.public_id)
        doc.set_title(title)
        doc.set_creator("scm-bot")
        doc.set_lang(lang.value)
        doc.add_page()
        doc.set_font(FONT, "B", 15)
        doc.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        doc.set_font(FONT, "", 10)
        for line in self.facts(lang):
            doc.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        for heading, lines in (
            (t(lang, "log.records"), self.record_lines(lang) or ["—"]),
            (t(lang, "log.events"), [self.line(e, lang) for e in self.entries]),
        ):
            doc.ln(3)
            doc.set_font(FONT, "B", 12)
            doc.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
            doc.set_font(FONT, "", 8)
            for line in lines:
                doc.multi_cell(0, 4, line, new_x="LMARGIN", new_y="NEXT")
        return bytes(doc.output())


def bt_name(d: Directory, callout: Callout) -> str:
    """The BT a call-out belongs to, as people name it: its gemeente, or its team."""
    return d.gemeente(callout.gemeente_id).name if callout.gemeente_id else callout.team_name


def record_line(d: Directory, r: Record, lang: Language) -> str:
    """A decision or an action on one line, as `/besluiten` and the logbook list them."""
    by = d.person(r.by).name
    when = fmt_datetime(r.at, d.region.timezone, lang)
    if r.kind is RecordKind.DECISION:
        phase = r.phase or "—"
        return t(
            lang, "bt.list_decision", number=r.number, time=when, phase=phase, name=by, text=r.text
        )
    owner = d.person(r.owner).name if r.owner else "?"
    return t(lang, "bt.list_action", number=r.number, time=when, owner=owner, name=by, text=r.text)


def _shown(value: object, tz: ZoneInfo, lang: Language) -> str:
    """A detail as a reader takes it in: a moment in the region's time, a list bracketed."""
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, str) and _ISO.match(value):
        return fmt_datetime(datetime.fromisoformat(value), tz, lang)
    return str(value)


def _record_json(r: Record, d: Directory, bts: dict[CalloutId, str]) -> dict[str, Any]:
    return {
        "bt": bts.get(r.callout_id),
        "number": r.number,
        "text": r.text,
        "phase": r.phase,
        "by": d.person(r.by).key,
        "at": r.at.isoformat(),
        "owner": d.person(r.owner).key if r.owner else None,
        "earlier": [{"text": h[0], "by": d.person(h[1]).key, "at": h[2]} for h in r.history],  # type: ignore[arg-type]
    }


async def build(tx: Tx, incident: Incident, shown: set[CalloutId] | None = None) -> Logbook:
    """The whole logbook (the export for the evaluation), or what a reader who may see the
    BTs of the call-outs `shown` sees of it: another gemeente's BT of the same incident
    (its call-out, its members' pages and answers, its decisions and actions) is left out."""
    entries = await tx.uow.bt.log(incident.public_id)
    records = await tx.uow.bt.records(incident.id)
    callouts = await tx.uow.bt.callouts(incident.id)
    if shown is not None:
        hidden = [c.id for c in callouts if c.id not in shown]
        members = [m for c in hidden for m in await tx.uow.bt.members(c)]
        pages = {m.page_id for m in members if m.page_id is not None}
        entries = [e for e in entries if _shown_to(e, shown, hidden, pages)]
        records = [r for r in records if r.callout_id in shown]
    bts = {c.id: bt_name(tx.directory, c) for c in callouts}
    return Logbook(incident, entries, records, tx.directory, bts)


def _shown_to(
    entry: LogEntry, shown: set[CalloutId], hidden: list[CalloutId], pages: set[PageId]
) -> bool:
    """An entry about another BT's call-out or its members' pages is not for this reader,
    nor someone's reading (`callouts`: the BTs they were shown) of only other BTs."""
    read = entry.detail.get("callouts")
    if isinstance(read, list) and read and not shown & set(read):
        return False
    return entry.detail.get("callout") not in hidden and entry.detail.get("page") not in pages


FORMATS = {
    "pdf": ("application/pdf", "pdf"),
    "md": ("text/markdown", "md"),
    "json": ("application/json", "json"),
}


async def show(tx: Tx, person: Person, args: str) -> None:
    """/logboek <incident> [pdf|md|json]: the newest entries, or the whole logbook as a
    file, for the Caco, the ROL and the incident's BT."""
    words = args.split()
    if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in FORMATS):
        raise UserError("log.usage")
    ident = words[0]
    incident = await find_incident(tx, ident)
    if incident is None:
        raise UserError("bt.unknown_incident", id=ident)
    if not await entitled(tx, incident, person):
        await tx.audit(person, "log.shown", incident.public_id, "denied")
        raise UserError("log.not_allowed", id=incident.public_id)
    shown = await visible(tx, incident, person)
    book = await build(tx, incident, None if meldkamer_side(person) else shown)
    read = sorted(shown)
    lang = person.language
    topic = f"bt-log:{incident.id}"
    if len(words) == 2:
        fmt = words[1].lower()
        mime, ext = FORMATS[fmt]
        if fmt == "pdf":
            content = book.pdf(lang)
        elif fmt == "json":
            content = book.as_json().encode()
        else:
            content = book.markdown(lang).encode()
        name = f"logboek-{incident.public_id}.{ext}"
        await tx.send(
            person,
            "log.file",
            topic=topic,
            attachment=Attachment(name, mime, content),
            id=incident.public_id,
            total=len(book.entries),
        )
        await tx.audit(person, "log.exported", incident.public_id, format=fmt, callouts=read)
        return
    newest = book.entries[-SHOWN:]
    await tx.send(
        person,
        "log.text",
        topic=topic,
        id=incident.public_id,
        shown=len(newest),
        total=len(book.entries),
        lines="\n".join(book.line(e, lang) for e in newest),
    )
    await tx.audit(person, "log.shown", incident.public_id, callouts=read)
