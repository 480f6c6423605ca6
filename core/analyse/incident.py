"""The analyse as part of its incident: what /status says about it, and who hears that the
incident closed (those who worked on the analyse, and the burgemeesters who received it)."""

from __future__ import annotations

from core.analyse.form import Form
from core.i18n import fmt_time, t
from core.model import Incident, Language, Person, PersonId
from core.tx import Tx


async def status_of(
    tx: Tx, form: Form, incident: Incident, lang: Language
) -> tuple[str | None, list[str]]:
    """The opschaling the newest published version gives (None: the analyse says none
    yet), and the status lines about the analyse and the BT (none before it starts)."""
    analyse = await tx.uow.analyses.by_incident(incident.id)
    if analyse is None:
        return None, []
    tz = tx.directory.region.timezone
    opschaling: str | None = None
    version = await tx.uow.analyses.version(analyse.id, analyse.version)
    if version is None:
        lines = [t(lang, "status.analyse_draft")]
    else:
        key = next((f.key for f in form.fields if f.prefill == "opschaling"), "opschaling")
        value = version.values.get(key)
        opschaling = value if isinstance(value, str) and value else None
        readers = [
            tx.directory.person(c.person_id).name
            for c in await tx.uow.analyses.copies(analyse.id)
            if c.number == version.number and c.kind == "published" and c.read_at is not None
        ]
        lines = [
            t(
                lang,
                "status.analyse_version",
                version=version.number,
                time=fmt_time(version.published_at, tz, lang),
                read=", ".join(readers) if readers else t(lang, "status.analyse_unread"),
            )
        ]
    if analyse.bt_convened_at is not None and analyse.bt_convened_by is not None:
        by = tx.directory.person(analyse.bt_convened_by).name
        at = fmt_time(analyse.bt_convened_at, tz, lang)
        lines.append(t(lang, "status.bt_convened", name=by, time=at))
    else:
        lines.append(t(lang, "status.bt_not_convened"))
    return opschaling, lines


async def tell_closed(tx: Tx, incident: Incident, closer: Person) -> None:
    """Everyone on the analyse (the IM too, invited or joined) and every burgemeester who
    received a version hears that the incident closed, and how to re-read the analyse."""
    analyse = await tx.uow.analyses.by_incident(incident.id)
    if analyse is None:
        return
    ids: dict[PersonId, None] = {}
    ids.update(dict.fromkeys(e.person_id for e in await tx.uow.analyses.editors(analyse.id)))
    ids.update(
        dict.fromkeys(
            c.person_id for c in await tx.uow.analyses.copies(analyse.id) if c.kind == "published"
        )
    )
    ids.pop(closer.id, None)
    tz = tx.directory.region.timezone
    for person_id in ids:
        person = tx.directory.people.get(person_id)
        if person is None:
            continue
        await tx.send(
            person,
            "close.told_analyse" if analyse.version > 0 else "close.told",
            id=incident.public_id,
            name=closer.name,
            time=fmt_time(tx.now, tz, person.language),
        )
