"""Team compositions as the region file gives them (`settings.teams`), and their checks.

A team (a GBT, RBT, ROT or a maatwerk team under MCP) lists the functions that are called
out, each required or optional, with per gemeente functions added or dropped; who holds a
function is always the roster's answer (`core.roster`), never the file's.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.i18n import t
from core.model import Language

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
LANGUAGE = Language.NL  # the region file and its problems are Dutch


class TeamKind(StrEnum):
    GBT = "GBT"  # gemeentelijk beleidsteam, around the burgemeester
    RBT = "RBT"  # regionaal beleidsteam, around the voorzitter veiligheidsregio (GRIP 4)
    ROT = "ROT"  # regionaal operationeel team, led by the ROL
    MAATWERK = "maatwerk"  # a team composed to fit the task (MCP)


# Typical norms after alarmering (domain brief): the region's file may set its own.
DEFAULT_NORM_MINUTES = {
    TeamKind.GBT: 60,
    TeamKind.RBT: 60,
    TeamKind.ROT: 45,
    TeamKind.MAATWERK: 60,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberSpec(_Strict):
    """One function of a team: `rol` (required) or `{function: rol, required: false}`."""

    function: Key
    required: bool = True

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"function": data} if isinstance(data, str) else data


class GemeenteDefaults(_Strict):
    """How one gemeente's team differs from the composition: functions added or dropped."""

    add: list[MemberSpec] = Field(default_factory=list)
    drop: list[Key] = Field(default_factory=list)


class TeamSpec(_Strict):
    key: Key
    kind: TeamKind
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    # When the team should be complete after the call-out; then the convener and the Caco
    # hear which required functions have nobody coming. Default per kind.
    norm_minutes: Annotated[int, Field(ge=5, le=600)] | None = None
    # How long a paged member has to answer before that function's backup is paged.
    answer_minutes: Annotated[int, Field(ge=1, le=120)] = 10
    members: Annotated[list[MemberSpec], Field(min_length=1)]
    gemeenten: dict[Key, GemeenteDefaults] = Field(default_factory=dict)
    # Who chairs the process (gets the attendance board), and who may record decisions
    # besides the burgemeester.
    chair: Key | None = "technisch-voorzitter"
    recorders: list[Key] = Field(default_factory=lambda: ["im", "notulist", "technisch-voorzitter"])

    @property
    def norm(self) -> int:
        return self.norm_minutes or DEFAULT_NORM_MINUTES[self.kind]

    def members_for(self, gemeente_keys: Iterable[str]) -> list[MemberSpec]:
        """The composition for an incident in these gemeenten: the team's functions, less
        what a gemeente drops, plus what it adds (each function once, in file order)."""
        keys = list(gemeente_keys)
        dropped = {k for g in keys if g in self.gemeenten for k in self.gemeenten[g].drop}
        found: dict[str, MemberSpec] = {}
        for member in self.members:
            if member.function not in dropped:
                found.setdefault(member.function, member)
        for g in keys:
            for member in self.gemeenten[g].add if g in self.gemeenten else []:
                found.setdefault(member.function, member)
        return list(found.values())


Problem = tuple[tuple[Any, ...], str]


def check_teams(
    teams: list[TeamSpec],
    functions: set[str],
    held: set[str],
    gemeenten: set[str],
) -> list[Problem]:
    """Problems a team cannot see on its own: repeated keys, functions that are not piket
    functions of the file (the roster could never name anyone) or that nobody holds, and
    unknown gemeenten. Paths are relative to `settings`."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, team in enumerate(teams):
        where = ("settings", "teams", i)
        if team.key in seen:
            problems.append(
                ((*where, "key"), t(LANGUAGE, "region.duplicate", field="key", value=team.key))
            )
        seen.add(team.key)
        listed: list[tuple[tuple[Any, ...], str]] = [
            ((*where, "members", j), m.function) for j, m in enumerate(team.members)
        ]
        for g, defaults in team.gemeenten.items():
            if g not in gemeenten:
                problems.append(
                    ((*where, "gemeenten", g), t(LANGUAGE, "region.unknown_gemeente", key=g))
                )
            listed += [
                ((*where, "gemeenten", g, "add", j), m.function) for j, m in enumerate(defaults.add)
            ]
            for j, key in enumerate(defaults.drop):
                if key not in {m.function for m in team.members}:
                    problems.append(
                        (
                            (*where, "gemeenten", g, "drop", j),
                            t(LANGUAGE, "region.team_drop_unknown", key=key, team=team.key),
                        )
                    )
        for path, key in listed:
            if key not in functions:
                problems.append((path, t(LANGUAGE, "region.unknown_function", key=key)))
            elif key not in held:
                problems.append((path, t(LANGUAGE, "region.team_function_unheld", key=key)))
    return problems
