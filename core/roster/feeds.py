"""Calendar subscriptions: an iCalendar URL for one's own duties, and one per roster (a function
and scope, chosen as /rooster chooses them), behind an unguessable token.

A token is 160 bits from `secrets`, written as hex; only its sha256 is stored, so the bot
cannot show a URL twice: asking again gives a new URL and the old one stops working at once,
and /rooster opzeggen stops it altogether. The calendar is built by the code behind
/rooster ical, and the access rules are checked again on every fetch: the token of someone no
longer in the region, or of a function the region no longer has, shows nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import UserError
from core.i18n import fmt_datetime, t
from core.model import Language, Person
from core.ports import CalendarFeed
from core.roster.commands import roster_keys
from core.roster.ical import export_ics
from core.roster.model import RosterSettings, to_utc
from core.roster.service import (
    SELF_WORDS,
    function_name,
    key_label,
    load_roster,
    parse_function_scope,
    roster_settings,
    scope_name,
)
from core.tx import Tx

TOKEN_BYTES = 20  # 160 bits
TOKEN = re.compile(rf"[0-9a-f]{{{TOKEN_BYTES * 2}}}")
PATH = "/ical/{token}.ics"
PERSON = "person"  # the person's own duties
ROSTER = "roster"  # a roster: function and scope ("" for any)
PAST = timedelta(days=31)  # a subscribed calendar shows the last month
AHEAD = timedelta(days=92)  # and the next three, as /rooster ical does
REFRESH = timedelta(hours=1)
OWN_WORDS = SELF_WORDS | {"mijn", "eigen", "my", "mine", "own"}

# /rooster <word> …, Dutch and English.
SUBSCRIBE = frozenset({"abonneer", "abonneren", "subscribe"})
UNSUBSCRIBE = frozenset({"opzeggen", "opzeg", "unsubscribe"})
SUBSCRIPTIONS = frozenset({"abonnement", "abonnementen", "subscription", "subscriptions"})
WORDS = SUBSCRIBE | UNSUBSCRIBE | SUBSCRIPTIONS


def new_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def feed_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + PATH.format(token=token)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which calendar a command line names (a `CalendarFeed` without owner and date)."""

    kind: str
    function_key: str = ""
    scope: str = ""

    def audit_object(self) -> str:
        if self.kind == PERSON:
            return "ical:person"
        return f"ical:{self.function_key or '*'}:{self.scope or '*'}"


def _label(tx: Tx, settings: RosterSettings, feed: Selection, lang: Language) -> str:
    d = tx.directory
    if feed.kind == PERSON:
        return t(lang, "roster.feed.label.mine")
    if feed.function_key and feed.scope:
        return key_label(d, settings, (feed.function_key, feed.scope), lang)
    if feed.function_key:
        return t(lang, "roster.feed.label.function", function=function_name(d, feed.function_key))
    return t(lang, "roster.feed.label.scope", scope=scope_name(d, settings, feed.scope, lang))


def _window(tx: Tx) -> tuple[datetime, datetime]:
    """Midnight local, a month back, to three months ahead."""
    tz = tx.directory.region.timezone
    today = tx.now.astimezone(tz).date()
    midnight = datetime.min.time()
    return (
        to_utc(datetime.combine(today - PAST, midnight), tz),
        to_utc(datetime.combine(today + AHEAD, midnight), tz),
    )


class RosterFeeds:
    """/rooster abonneer, /rooster opzeggen and /rooster abonnementen, and the calendars the
    HTTP server serves. `base_url` is where that server is reached (None: it does not run)."""

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url

    async def command(self, tx: Tx, person: Person, word: str, args: str) -> None:
        """`word` is one of `WORDS`; `args` the rest of the line. Without the HTTP server
        there are no new URLs, but earlier subscriptions can still be listed and stopped."""
        if word in SUBSCRIBE:
            await self.subscribe(tx, person, args)
        elif word in UNSUBSCRIBE:
            await self.unsubscribe(tx, person, args)
        else:
            await self.subscriptions(tx, person)

    async def _select(
        self, tx: Tx, person: Person, settings: RosterSettings, args: str
    ) -> Selection:
        """The calendar `args` names: nothing (or "mijn") is one's own duties; otherwise a
        roster, by the same words and rules as /rooster (it must exist)."""
        text = " ".join(args.split())
        if not text or text.casefold() in OWN_WORDS:
            return Selection(PERSON)
        function, scope = parse_function_scope(tx.directory, settings, text)
        start, end = _window(tx)
        roster = await load_roster(tx, start, end, [function] if function else None)
        if not roster_keys(tx, roster, settings, function, scope):
            raise UserError("roster.who.none", what=text)
        return Selection(ROSTER, function or "", scope or "")

    async def subscribe(self, tx: Tx, person: Person, args: str) -> None:
        if self.base_url is None:
            raise UserError("roster.feed.off")
        base_url = self.base_url
        settings = await roster_settings(tx)
        chosen = await self._select(tx, person, settings, args)
        token = new_token()
        feed = CalendarFeed(person.id, chosen.kind, chosen.function_key, chosen.scope, tx.now)
        renewed = await tx.uow.calendar_feeds.put(feed, token_hash(token))
        # The audit names the calendar, never the token.
        await tx.audit(person, "roster.feed.subscribed", chosen.audit_object(), renewed=renewed)
        await tx.send(
            person,
            "roster.feed.url",
            label=lambda lang: _label(tx, settings, chosen, lang),
            url=feed_url(base_url, token),
            args=(" " + " ".join(args.split())) if args.strip() else "",
            renewed=lambda lang: t(lang, "roster.feed.renewed") if renewed else "",
            secrets=(token,),  # the outbox keeps it only until the message is delivered
        )

    async def unsubscribe(self, tx: Tx, person: Person, args: str) -> None:
        settings = await roster_settings(tx)
        text = " ".join(args.split())
        if not text or text.casefold() in OWN_WORDS:
            chosen = Selection(PERSON)
        else:
            # No check that the roster still exists: a subscription outlives its roster.
            function, scope = parse_function_scope(tx.directory, settings, text)
            chosen = Selection(ROSTER, function or "", scope or "")

        def label(lang: Language) -> str:
            return _label(tx, settings, chosen, lang)

        removed = await tx.uow.calendar_feeds.remove(
            person.id, chosen.kind, chosen.function_key, chosen.scope
        )
        if not removed:
            raise UserError("roster.feed.not_subscribed", label=label)
        await tx.audit(person, "roster.feed.unsubscribed", chosen.audit_object())
        await tx.send(person, "roster.feed.stopped", label=label)

    async def subscriptions(self, tx: Tx, person: Person) -> None:
        settings = await roster_settings(tx)
        feeds = await tx.uow.calendar_feeds.of_person(person.id)
        if not feeds:
            await tx.send(person, "roster.feed.list_none")
            return
        tz = tx.directory.region.timezone
        lang = person.language
        lines = [
            t(
                lang,
                "roster.feed.list_line",
                label=_label(tx, settings, Selection(f.kind, f.function_key, f.scope), lang),
                since=fmt_datetime(f.created_at, tz, lang),
            )
            for f in feeds
        ]
        await tx.send(person, "roster.feed.list", lines="\n".join(lines))

    async def calendar(self, tx: Tx, token: str) -> bytes | None:
        """The calendar behind a token, as it is now; None for anything that is not a live
        subscription of someone in the region."""
        if not TOKEN.fullmatch(token):
            return None
        feed = await tx.uow.calendar_feeds.by_token(token_hash(token))
        if feed is None:
            return None
        owner = tx.directory.people.get(feed.person_id)  # only people still in the region
        if owner is None:
            return None
        function = feed.function_key or None
        if function is not None and function not in tx.directory.functions:
            return None
        settings = await roster_settings(tx)
        start, end = _window(tx)
        roster = await load_roster(tx, start, end, [function] if function else None)
        chosen = Selection(feed.kind, feed.function_key, feed.scope)
        lang = owner.language
        if feed.kind == PERSON:
            keys = roster_keys(tx, roster, settings, None, None)
            name = t(lang, "roster.feed.calendar.mine", name=owner.name)
        else:
            keys = roster_keys(tx, roster, settings, function, feed.scope or None)
            name = t(lang, "roster.feed.calendar.roster", label=_label(tx, settings, chosen, lang))
        return export_ics(
            tx.directory,
            settings,
            roster,
            keys,
            start,
            end,
            owner.id if feed.kind == PERSON else None,
            name=name,
            refresh=REFRESH,
        )
