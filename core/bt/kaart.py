"""The strategische aandachtskaart: what everyone who says "Ik kom" gets, as a message and
a PDF, so the BT builds on what is known instead of starting over.

Time and place (or call link), the BOB agenda (beeldvorming, oordeelsvorming with
voorwaarts denken, besluitvorming), the strategische families (the analyse form's list of
ten, configuration) and the kernbeeld of the newest published analyse. A newer analyse
version reaches the members who come, marked with what changed.
"""

from __future__ import annotations

import functools

from core.analyse.form import Form
from core.analyse.model import Version
from core.analyse.render import CHANGED, Sheet, document, rows
from core.analyse.render import FONT as PDF_FONT
from core.bt.model import Callout, CalloutStatus
from core.bt.team import coming
from core.i18n import fmt_datetime, t
from core.messages import Attachment, Message
from core.model import Incident, Language, Person
from core.tx import Tx

BOB = ("beeldvorming", "oordeelsvorming", "besluitvorming")


def kaart_topic(callout: Callout) -> str:
    return f"bt-kaart:{callout.id}"


class Kaart:
    def __init__(self, form: Form) -> None:
        self.form = form

    def families(self, lang: Language) -> list[str]:
        return [f if isinstance(f, str) else f.get(lang) for f in self.form.families]

    async def newest(self, tx: Tx, incident: Incident) -> Version | None:
        analyse = await tx.uow.analyses.by_incident(incident.id)
        if analyse is None or not analyse.version:
            return None
        return await tx.uow.analyses.version(analyse.id, analyse.version)

    def kernbeeld(
        self,
        tx: Tx,
        incident: Incident,
        version: Version | None,
        lang: Language,
        base: Version | None = None,
    ) -> list[tuple[str, str, bool]]:
        if version is None:
            return []
        sheet = Sheet(incident, version, self.form, tx.directory, base)
        return rows(sheet, lang, kernbeeld=True)

    def sections(
        self, tx: Tx, incident: Incident, callout: Callout, version: Version | None, lang: Language
    ) -> list[tuple[str, str]]:
        """(heading, text) in the order of the card."""
        tz = tx.directory.region.timezone
        out = [
            (
                t(lang, "bt.kaart_when"),
                t(
                    lang,
                    "bt.kaart_when_text",
                    start=fmt_datetime(callout.starts_at, tz, lang),
                    place=callout.place,
                    team=callout.team_name,
                ),
            ),
            (
                t(lang, "bt.kaart_agenda"),
                "\n".join(
                    f"{i}. " + t(lang, f"bt.kaart_bob_{step}") for i, step in enumerate(BOB, 1)
                ),
            ),
            (
                t(lang, "bt.kaart_families"),
                "\n".join(f"• {name}" for name in self.families(lang)),
            ),
        ]
        core_rows = self.kernbeeld(tx, incident, version, lang)
        if version is None:
            out.append((t(lang, "bt.kaart_kernbeeld"), t(lang, "bt.kaart_no_analyse")))
        else:
            text = "\n".join(f"{label}: {value}" for label, value, _changed in core_rows)
            heading = t(lang, "bt.kaart_kernbeeld_version", version=version.number)
            out.append((heading, text))
        return out

    def pdf(self, title: str, sections: list[tuple[str, str]]) -> bytes:
        return _pdf(title, tuple(sections))

    async def send(
        self, tx: Tx, incident: Incident, callout: Callout, person: Person, noted: str = ""
    ) -> None:
        """The card, opening with `noted` (what the person's answer recorded), and its PDF."""
        lang = person.language
        version = await self.newest(tx, incident)
        sections = self.sections(tx, incident, callout, version, lang)
        title = t(lang, "bt.kaart_title", team=callout.team_name, id=incident.public_id)
        text = "\n\n".join(f"{h}\n{body}" for h, body in sections)
        name = f"aandachtskaart-{incident.public_id}-{callout.team_key}.pdf"
        # The card, then its PDF as a message of its own: in a chat that takes a message a
        # second, an edit of the board may go between them (`scm_bot.turns`).
        text = f"{noted}\n\n{text}" if noted else text
        await tx.send_message(person, Message(text=text, title=title), topic=kaart_topic(callout))
        pdf = Attachment(name, "application/pdf", self.pdf(title, sections))
        await tx.send_message(person, Message(text="", attachment=pdf), topic=kaart_topic(callout))
        await tx.audit(
            person,
            "bt.kaart_sent",
            incident.public_id,
            team=callout.team_key,
            version=version.number if version else None,
            callout=callout.id,
        )

    async def new_version(self, tx: Tx, incident: Incident, version: Version) -> None:
        """A new analyse version: its kernbeeld to everyone coming to a BT of the incident,
        the fields changed since the previous version marked."""
        analyse = await tx.uow.analyses.by_incident(incident.id)
        base = (
            await tx.uow.analyses.version(analyse.id, version.number - 1)
            if analyse is not None and version.number > 1
            else None
        )
        for callout in await tx.uow.bt.callouts(incident.id):
            if callout.status is not CalloutStatus.ACTIVE:
                continue
            people = await coming(tx, callout)
            for person in people:
                lang = person.language
                found = self.kernbeeld(tx, incident, version, lang, base)
                lines = [
                    f"{CHANGED + ' ' if changed else ''}{label}: {value}"
                    for label, value, changed in found
                ]
                changed_names = ", ".join(label for label, _v, c in found if c) or "—"
                await tx.send_message(
                    person,
                    Message(
                        text=t(
                            lang,
                            "bt.kaart_update",
                            version=version.number,
                            mark=CHANGED,
                            changed=changed_names,
                            kernbeeld="\n".join(lines),
                        ),
                        title=t(
                            lang,
                            "bt.kaart_update_title",
                            id=incident.public_id,
                            version=version.number,
                        ),
                    ),
                    topic=kaart_topic(callout),
                )
            if people:
                await tx.audit(
                    "system",
                    "bt.kaart_update",
                    incident.public_id,
                    version=version.number,
                    to=[p.key for p in people],
                    callout=callout.id,
                )


@functools.lru_cache(maxsize=32)
def _pdf(title: str, sections: tuple[tuple[str, str], ...]) -> bytes:
    """The card as a PDF. Everyone coming to a call-out gets the same one (per language and
    analyse version), and drawing it holds the event loop for about 0.15 s: it is drawn
    once, not at every answer."""
    doc = document()
    doc.set_title(title)
    doc.set_creator("scm-bot")
    doc.add_page()
    doc.set_font(PDF_FONT, "B", 15)
    doc.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    for heading, text in sections:
        doc.ln(3)
        doc.set_font(PDF_FONT, "B", 11)
        doc.multi_cell(0, 6, heading, new_x="LMARGIN", new_y="NEXT")
        doc.set_font(PDF_FONT, "", 10)
        doc.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())
