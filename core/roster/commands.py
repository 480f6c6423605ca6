"""The roster commands: reading the rosters (`core.roster.queries`), the coordinators'
changes (`core.roster.changes`) and, here, /ruil: swaps between two people, answered by the
one asked and, where the region wants it, approved by a coordinator.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple, TypedDict

from core.callbacks import RequestId, SwapButton
from core.errors import UserError
from core.i18n import Localized
from core.model import Person, PersonId
from core.roster.changes import (
    Reading,
    Readings,
    RosterChanges,
    fingerprint_of,
    override_proposal,
    result_of,
)
from core.roster.checks import check_override
from core.roster.dates import fmt_moment, parse_period
from core.roster.model import Override, RosterRequest, RosterSettings
from core.roster.proposals import (
    ChangeRequest,
    OverrideChange,
    Proposal,
)
from core.roster.queries import MINE_DAYS
from core.roster.queries import roster_keys as roster_keys  # where core.roster.feeds finds it
from core.roster.service import (
    coordinators_of,
    find_person,
    key_label,
    load_roster,
    may_edit,
    parse_function_scope,
    roster_settings,
    runs,
)
from core.tx import Tx

SWAP_TTL = timedelta(days=3)


class SwapNames(TypedDict):
    """The placeholders of every message about a swap."""

    asker: str
    taker: str
    start: Localized
    end: Localized
    label: Localized


class SwapDone(SwapNames):
    after: Localized  # the roster after the swap


class _SwapAnswer(NamedTuple):
    """A swap request being answered, with who is in it and the messages' placeholders."""

    request: RosterRequest
    settings: RosterSettings
    asker: Person
    taker: Person
    scope: str  # of the roster swapped on: its coordinators approve
    params: SwapNames


class RosterCommands(RosterChanges):
    """Every roster command: reading, the coordinators' changes, and swaps."""

    # --- swaps -------------------------------------------------------------------------------

    async def ask_swap(self, tx: Tx, person: Person, alternatives: Sequence[Readings]) -> None:
        """/ruil <persoon> [van … tot …] [voor <functie> [scope]]: ask someone to take (part
        of) your duty. `alternatives`: the readings of each way to read the line, in order;
        the first that builds wins, else the first one's refusal is shown."""
        if not tx.directory.holds_piket(person):
            raise UserError("roster.swap.no_piket")
        settings = await roster_settings(tx)
        tz = tx.directory.region.timezone

        async def build(reading: Reading) -> Proposal:
            parts = reading.parts
            taker = find_person(tx.directory, parts["first"])
            reading.passed()
            if "from" in parts:
                start, end = parse_period(parts["from"], parts["until"], tx.now, tz)
            else:
                start, end = await self._next_duty(tx, settings, person, parts.get("for"))
            reading.passed()
            roster = await load_roster(tx, start, end)
            key = await self._key_for(tx, settings, roster, person, start, end, parts.get("for"))
            override = check_override(tx, roster, key, person, taker, start, end)
            return override_proposal(roster, override)

        errors: list[UserError] = []
        proposal: Proposal | None = None
        for readings in alternatives:
            try:
                proposal = await self._first(readings, build, "roster.swap.usage")
                break
            except UserError as error:
                errors.append(error)
        if proposal is None:
            raise errors[0]
        assert isinstance(proposal.change, OverrideChange)
        taker = tx.directory.person(proposal.change.replacement)
        if settings.swap_approval and not coordinators_of(tx.directory, settings, proposal.key[1]):
            # Nobody could approve it: the swap would wait forever.
            raise UserError("roster.swap.no_coordinator")
        payload = ChangeRequest.of(proposal, result=fingerprint_of(proposal)).to_json()
        request_id = await tx.uow.roster.add_request("swap", person.id, payload, tx.now)
        await tx.audit(person, "roster.swap.asked", f"request:{request_id}", **payload)
        label = key_label(tx.directory, settings, proposal.key, taker.language)
        await tx.send(
            taker,
            "roster.swap.ask",
            name=person.name,
            label=label,
            start=lambda lang: fmt_moment(proposal.start, tz, lang),
            end=lambda lang: fmt_moment(proposal.end, tz, lang),
            after=lambda lang: result_of(tx, proposal, lang),
            buttons=(
                ("roster.button.accept", SwapButton(RequestId(request_id), "yes").pack()),
                ("roster.button.decline", SwapButton(RequestId(request_id), "no").pack()),
            ),
        )
        await tx.send(
            person,
            "roster.swap.asked",
            name=taker.name,
            start=lambda lang: fmt_moment(proposal.start, tz, lang),
            end=lambda lang: fmt_moment(proposal.end, tz, lang),
        )

    async def _next_duty(
        self, tx: Tx, settings: RosterSettings, person: Person, for_text: str | None
    ) -> tuple[datetime, datetime]:
        """The person's current duty, or else their next one (within 60 days)."""
        function, scope = (
            parse_function_scope(tx.directory, settings, for_text) if for_text else (None, None)
        )
        start, end = tx.now, tx.now + timedelta(days=MINE_DAYS)
        roster = await load_roster(tx, start, end, [function] if function else None)
        found = []
        for key in await self._keys(tx, roster, settings, function, scope):
            found += [r for r in runs(roster.timeline(*key, start, end)) if r.person == person.id]
        if not found:
            raise UserError("roster.swap.no_duty", days=MINE_DAYS)
        first = min(found, key=lambda r: r.start)
        return max(first.start, tx.now), first.end

    async def answer_swap(self, tx: Tx, person: Person, button: SwapButton) -> None:
        request_id, action = button.request, button.action
        request = await tx.uow.roster.request(request_id, for_update=True)
        if request is None or request.kind != "swap":
            raise UserError("button.stale")
        p = request.payload  # stored as is when the status changes
        swap = ChangeRequest.from_json(p)
        if not isinstance(swap.change, OverrideChange):
            raise UserError("button.stale")
        settings = await roster_settings(tx)
        d = tx.directory
        asker = d.people.get(request.person_id)
        taker = d.people.get(swap.change.replacement)
        if asker is None or taker is None:
            raise UserError("roster.person.gone")
        tz = d.region.timezone
        params = SwapNames(
            asker=asker.name,
            taker=taker.name,
            start=lambda lang: fmt_moment(swap.start, tz, lang),
            end=lambda lang: fmt_moment(swap.end, tz, lang),
            label=lambda lang: key_label(d, settings, swap.key, lang),
        )
        swap_answer = _SwapAnswer(request, settings, asker, taker, swap.key[1], params)
        if action in ("yes", "no"):
            await self._taker_answers(tx, person, swap_answer, accept=action == "yes")
        else:
            await self._coordinator_answers(tx, person, swap_answer, approve=action == "approve")

    async def _taker_answers(
        self, tx: Tx, person: Person, answer: _SwapAnswer, *, accept: bool
    ) -> None:
        request, settings, asker, taker, scope, params = answer
        p = request.payload
        if person.id != taker.id:
            raise UserError("roster.request.not_yours")
        if request.status != "open":
            raise UserError("roster.request.handled")
        if tx.now - request.created_at > SWAP_TTL:
            await tx.uow.roster.set_request(request.id, "expired", p, tx.now)
            raise UserError("roster.request.expired")
        if not accept:
            await tx.uow.roster.set_request(request.id, "declined", p, tx.now)
            await tx.audit(person, "roster.swap.declined", f"request:{request.id}")
            await tx.send(asker, "roster.swap.declined", **params)
            await tx.send(person, "roster.swap.you_declined", **params)
            return
        if not settings.swap_approval:
            await self._finish_swap(tx, person, settings, request, params)
            return
        proposal = await self._recheck(tx, person, settings, request)  # still possible?
        await tx.uow.roster.set_request(request.id, "accepted", p, tx.now)
        await tx.audit(person, "roster.swap.accepted", f"request:{request.id}")
        approve = SwapButton(RequestId(request.id), "approve").pack()
        reject = SwapButton(RequestId(request.id), "reject").pack()
        for coordinator in coordinators_of(tx.directory, settings, scope):
            await tx.send(
                coordinator,
                "roster.swap.approve",
                **params,
                after=lambda lang: result_of(tx, proposal, lang),
                buttons=(("roster.button.approve", approve), ("roster.button.reject", reject)),
            )
        await tx.send(asker, "roster.swap.waiting", **params)
        await tx.send(taker, "roster.swap.waiting", **params)

    async def _coordinator_answers(
        self, tx: Tx, person: Person, answer: _SwapAnswer, *, approve: bool
    ) -> None:
        request, settings, asker, taker, scope, params = answer
        if not may_edit(person, settings, scope):
            raise UserError("roster.request.not_yours")
        if request.status != "accepted":
            raise UserError("roster.request.handled")
        if not approve:
            await tx.uow.roster.set_request(request.id, "rejected", request.payload, tx.now)
            await tx.audit(person, "roster.swap.rejected", f"request:{request.id}")
            for who in (asker, taker):
                await tx.send(who, "roster.swap.rejected", by=person.name, **params)
            await tx.send(person, "roster.swap.you_rejected", **params)
            return
        await self._finish_swap(tx, person, settings, request, params)

    async def _finish_swap(
        self,
        tx: Tx,
        person: Person,
        settings: RosterSettings,
        request: RosterRequest,
        params: SwapNames,
    ) -> None:
        proposal = await self._recheck(tx, person, settings, request)
        done = SwapDone(**params, after=lambda lang: result_of(tx, proposal, lang))
        p = request.payload  # stored as is, and audited
        swap = proposal.change
        assert isinstance(swap, OverrideChange)
        key = proposal.key
        override = Override(
            0,
            key[0],
            key[1],
            swap.replaced,
            swap.replacement,
            proposal.start,
            proposal.end,
            f"ruil:{request.id}",
        )
        await tx.uow.roster.add_override(override, person.key, tx.now)
        await tx.uow.roster.set_request(request.id, "done", p, tx.now)
        await tx.audit(person, "roster.swap.done", f"request:{request.id}", **p)
        d = tx.directory
        told: set[PersonId] = set()
        for pid in (request.person_id, swap.replacement):
            who = d.people.get(pid)
            if who is not None:
                await tx.send(who, "roster.swap.done", **done)
                told.add(pid)
        for coordinator in coordinators_of(d, settings, key[1]):
            if coordinator.id not in told:
                await tx.send(coordinator, "roster.swap.done_note", **done)
                told.add(coordinator.id)
        for pid in proposal.affected:  # anyone else whose duty or backup the swap changes
            other = d.people.get(pid)
            if other is not None and pid not in told:
                await tx.send(other, "roster.changed", by=person.name, **done)
        if self.on_change is not None:
            await self.on_change(tx, proposal.key)
