"""Reading the rosters: /wie, /rooster (as text, picture or calendar file) and /mijnpiket."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from core.errors import UserError
from core.i18n import fmt_datetime, t
from core.messages import Attachment
from core.model import Language, Person, PiketFunction
from core.roster.effects import MAX_LINES
from core.roster.model import (
    GEMEENTE,
    MAX_SPAN,
    PIKETREGIO,
    REGIO,
    Key,
    Roster,
    RosterSettings,
    to_utc,
)
from core.roster.service import (
    duty_text,
    key_label,
    load_roster,
    parse_function_scope,
    roster_settings,
    runs,
    timeline_text,
)
from core.tx import Tx

WHO_HORIZON = timedelta(days=35)
MINE_DAYS = 60


def _sort_key(directory_functions: dict[str, PiketFunction], key: Key) -> tuple[str, int, str]:
    fn = directory_functions.get(key[0])
    name = fn.name if fn else key[0]
    order = {REGIO: 0, PIKETREGIO: 1, GEMEENTE: 2}.get(key[1].partition(":")[0], 3)
    return (name.casefold(), order, key[1])


def roster_keys(
    tx: Tx, roster: Roster, settings: RosterSettings, function: str | None, scope: str | None
) -> list[Key]:
    """The rosters /rooster and /wie show for "[functie] [gemeente|regio]" (None: any): for a
    gemeente, the roster responsible for it per function; sorted as people read them."""
    keys = roster.known_keys()
    if scope is not None and scope.startswith(f"{GEMEENTE}:"):
        gemeente = scope.partition(":")[2]
        functions = {f for f, _s in keys} if function is None else {function}
        chosen = []
        for f in functions:
            chain = roster.scope_chain(f, gemeente, settings)
            if chain:
                chosen.append((f, chain[0]))
        keys = set(chosen)
    else:
        keys = {
            k
            for k in keys
            if (function is None or k[0] == function) and (scope is None or k[1] == scope)
        }
    return sorted(keys, key=lambda k: _sort_key(tx.directory.functions, k))


def _render_png(
    tx: Tx,
    settings: RosterSettings,
    roster: Roster,
    keys: list[Key],
    start: datetime,
    end: datetime,
    lang: Language,
) -> bytes | None:
    try:
        from core.roster.render import render_grid
    except ImportError:  # Pillow is optional: the text table is enough
        return None
    return render_grid(tx.directory, settings, roster, keys, start, end, lang)


class RosterQueries:
    """What the rosters say, for whoever asks."""

    async def _keys(
        self,
        tx: Tx,
        roster: Roster,
        settings: RosterSettings,
        function: str | None,
        scope: str | None,
    ) -> list[Key]:
        return roster_keys(tx, roster, settings, function, scope)

    async def who(self, tx: Tx, person: Person, args: str) -> None:
        settings = await roster_settings(tx)
        function, scope = parse_function_scope(tx.directory, settings, args)
        now = tx.now
        roster = await load_roster(tx, now, now + WHO_HORIZON, [function] if function else None)
        keys = await self._keys(tx, roster, settings, function, scope)
        lang = person.language
        if not keys:
            raise UserError("roster.who.none", what=args.strip() or "-")
        tz = tx.directory.region.timezone
        lines = []
        for key in keys:
            segment = roster.timeline(*key, now, now + WHO_HORIZON)[0]
            until = (
                t(lang, "roster.who.until", time=fmt_datetime(segment.end, tz, lang))
                if segment.end < now + WHO_HORIZON
                else ""
            )
            lines.append(
                t(
                    lang,
                    "roster.who.line",
                    label=key_label(tx.directory, settings, key, lang),
                    duty=duty_text(tx.directory, segment.duty, lang),
                    until=until,
                )
            )
        await tx.send(
            person, "roster.who.text", time=fmt_datetime(now, tz, lang), lines="\n".join(lines)
        )

    def _period(self, tx: Tx, word: str) -> tuple[datetime, datetime]:
        tz = tx.directory.region.timezone
        today = tx.now.astimezone(tz).date()
        if word in ("maand", "month"):
            month = today.month % 12 + 1
            year = today.year + (today.month == 12)
            day = min(today.day, 28)
            end_day = date(year, month, day)
        else:
            end_day = today + timedelta(days=7)
        start = to_utc(datetime.combine(today, datetime.min.time()), tz)
        end = to_utc(datetime.combine(end_day, datetime.min.time()), tz)
        return start, end

    async def rooster(self, tx: Tx, person: Person, args: str) -> None:
        words = args.split()
        flags = {w.lower() for w in words} & {"week", "maand", "month", "ical", "ics"}
        rest = " ".join(w for w in words if w.lower() not in flags)
        settings = await roster_settings(tx)
        function, scope = parse_function_scope(tx.directory, settings, rest)
        ical = bool(flags & {"ical", "ics"})
        start, end = self._period(tx, "maand" if flags & {"maand", "month"} or ical else "week")
        if ical:
            end = start + timedelta(days=92)
        roster = await load_roster(tx, start, end, [function] if function else None)
        keys = await self._keys(tx, roster, settings, function, scope)
        lang = person.language
        if not keys:
            raise UserError("roster.who.none", what=rest or "-")
        tz = tx.directory.region.timezone
        if ical:
            from core.roster.ical import export_ics

            content = export_ics(tx.directory, settings, roster, keys, start, end)
            await tx.send(
                person,
                "roster.ical.sent",
                attachment=Attachment("rooster.ics", "text/calendar", content),
                start=fmt_datetime(start, tz, lang),
                end=fmt_datetime(end, tz, lang),
            )
            await tx.audit(person, "roster.export", "ical", keys=len(keys))
            return
        blocks = []
        for key in keys:
            segments = roster.timeline(*key, start, end)
            lines = timeline_text(tx, segments[:MAX_LINES], lang)
            blocks.append(f"{key_label(tx.directory, settings, key, lang)}\n{lines}")
        header = t(
            lang,
            "roster.table.header",
            start=fmt_datetime(start, tz, lang),
            end=fmt_datetime(end, tz, lang),
        )
        # One message per few blocks, so no message grows past what a chat accepts.
        chunk: list[str] = []
        for block in blocks:
            if chunk and sum(len(b) for b in chunk) + len(block) > 3000:
                await tx.send(person, "roster.table.text", header=header, blocks="\n\n".join(chunk))
                chunk = []
            chunk.append(block)
        await tx.send(person, "roster.table.text", header=header, blocks="\n\n".join(chunk))
        png = _render_png(tx, settings, roster, keys, start, end, lang)
        if png is not None:
            await tx.send(
                person,
                "roster.table.picture",
                attachment=Attachment("rooster.png", "image/png", png),
            )

    async def mine(self, tx: Tx, person: Person, _args: str) -> None:
        # Duties starting within the horizon, looked at a longest shift beyond it on both
        # sides, so each shows its real start and end; one running past that says so.
        horizon = tx.now + timedelta(days=MINE_DAYS)
        start, end = tx.now - MAX_SPAN, horizon + MAX_SPAN
        roster = await load_roster(tx, start, end)
        settings = await roster_settings(tx)
        lang = person.language
        tz = tx.directory.region.timezone
        found = []
        for key in roster.known_keys():
            segments = roster.timeline(*key, start, end)
            for role in ("duty", "backup"):
                found += [
                    r
                    for r in runs(segments, role)
                    if r.person == person.id and r.end > tx.now and r.start < horizon
                ]
        if not found:
            await tx.send(person, "roster.mine.none", days=MINE_DAYS)
            return
        lines = [
            t(
                lang,
                f"roster.mine.{r.role}",
                label=key_label(tx.directory, settings, r.key, lang),
                start=fmt_datetime(r.start, tz, lang)
                if r.start > start
                else t(lang, "roster.mine.open_start", time=fmt_datetime(start, tz, lang)),
                end=fmt_datetime(r.end, tz, lang)
                if r.end < end
                else t(lang, "roster.mine.open_end", time=fmt_datetime(end, tz, lang)),
            )
            for r in sorted(found, key=lambda r: (r.start, r.role))
        ]
        await tx.send(person, "roster.mine.text", lines="\n".join(lines), days=MINE_DAYS)
