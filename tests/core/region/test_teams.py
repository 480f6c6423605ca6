"""Team compositions in the region file (`settings.teams`): every problem is named with its
place in the file, in one run, and nothing is imported."""

from __future__ import annotations

import pytest

from core.errors import RegionFileError
from core.region.file import parse_region
from tests.helpers.bt import REGION


def _problems(text: str) -> list[str]:
    with pytest.raises(RegionFileError) as info:
        parse_region(text)
    return [str(p) for p in info.value.problems]


def test_the_bt_region_is_valid() -> None:
    doc = parse_region(REGION)
    assert doc.settings.teams is not None
    assert [t.key for t in doc.settings.teams] == ["gbt", "rot", "rbt"]


def test_every_team_problem_names_its_place() -> None:
    text = REGION.replace("        - communicatieadviseur\n", "        - woordvoerder\n", 1)
    text = text.replace("{function: notulist, required: false}", "{function: acb, required: false}")
    text = text.replace("        - im\n", "        - adviseur-politie\n", 1)
    text = text.replace(
        "  - {key: notulist, name: Notulist}\n",
        "  - {key: notulist, name: Notulist}\n"
        "  - {key: adviseur-politie, name: Adviseur politie}\n",
    )
    text = text.replace("de-bilt: {drop: [adviseur-ghor]}", "zeist: {drop: [brandweer]}")
    text = text.replace("    - key: rbt\n", "    - key: rot\n")
    assert _problems(text) == [
        "settings.teams[0].gemeenten.zeist (regel 23): onbekende gemeente 'zeist'",
        "settings.teams[0].gemeenten.zeist.drop[0] (regel 23): "
        "'brandweer' staat niet in team 'gbt'",
        "settings.teams[0].members[2] (regel 17): onbekende functie 'woordvoerder'",
        "settings.teams[0].members[3] (regel 18): niemand heeft functie 'adviseur-politie'",
        "settings.teams[0].members[6] (regel 21): onbekende functie 'acb'",
        "settings.teams[2].key (regel 29): dubbele key 'rot'",
    ]


def test_a_malformed_team_is_named_too() -> None:
    text = REGION.replace("      norm_minutes: 45\n", "      norm_minutes: 2\n")
    text = text.replace("    - key: rbt\n      kind: RBT\n", "    - key: rbt\n      kind: XBT\n")
    problems = _problems(text)
    assert problems[0].startswith("settings.teams[1].norm_minutes (regel 27): ")
    assert problems[1].startswith("settings.teams[2].kind (regel 30): ")
    assert len(problems) == 2
