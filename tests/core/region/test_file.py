"""The region file: validated as a whole, imported all-or-nothing and idempotently."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import RegionFileError
from core.region.file import dump_region, parse_region
from scm_bot.demo import demo_region_text
from storage.region import export_region, import_region
from tests.conftest import count
from tests.helpers import REGION_FILE


def _problems(text: str) -> list[str]:
    with pytest.raises(RegionFileError) as info:
        parse_region(text)
    return [str(p) for p in info.value.problems]


def test_demo_region_is_valid_and_has_26_gemeenten() -> None:
    doc = parse_region(demo_region_text())
    assert doc.region.code == "VRU"
    assert len(doc.gemeenten) == 26
    assert all("(demo)" in p.name for p in doc.people)
    assert all(g.burgemeester and g.share_with for g in doc.gemeenten)


def test_every_problem_is_reported_with_its_location() -> None:
    text = REGION_FILE.read_text().replace("burgemeester: bgm-soest", "burgemeester: bgm-x")
    text = text.replace("members: [rol-a, rol-b, rol-c]", "members: [rol-a, rol-z]")
    text = text.replace("shift_days: 7}", "shift_days: 0}")
    problems = _problems(text)
    assert problems == [
        "rotations[0].shift_days (regel 37): Input should be greater than or equal to 1",
        "gemeenten[0].burgemeester (regel 28): onbekende persoon 'bgm-x'",
        "rotations[0].members[1] (regel 37): onbekende persoon 'rol-z'",
    ], "every problem in one run: a field's problem hides no other"


def test_a_bad_timezone_does_not_hide_a_duplicate_gemeente() -> None:
    text = REGION_FILE.read_text().replace("Europe/Amsterdam", "Mars/Olympus")
    text = text.replace("{key: de-bilt, name: De Bilt", "{key: soest, name: De Bilt")
    text = text.replace("  - {key: rol-b, name: Rol Bert, functions: [rol], language: en}\n", "")
    problems = _problems(text)
    assert problems == [
        "region.timezone (regel 5): Value error, onbekende tijdzone 'Mars/Olympus'",
        "gemeenten[1].key (regel 28): dubbele key 'soest'",
        "rotations[0].members[1] (regel 36): onbekende persoon 'rol-b'",
    ]


def test_a_reference_to_an_item_with_its_own_problem_is_no_second_problem() -> None:
    text = REGION_FILE.read_text().replace(
        "{key: bgm-soest, name: Burgemeester Soest,", "{key: bgm-soest, name: '',"
    )
    problems = _problems(text)
    assert len(problems) == 1 and problems[0].startswith("people[6].name (regel 24)")


def test_a_key_written_twice_is_refused_with_its_line() -> None:
    """PyYAML keeps the last of two equal keys: a doubled `burgemeester:` would send the
    analyse to the wrong mayor."""
    text = (
        REGION_FILE.read_text()
        .replace("  code: VRU\n", "  code: VRU\n  code: VRBN\n")
        .replace("burgemeester: bgm-soest,", "burgemeester: bgm-soest, burgemeester: bgm-debilt,")
    )
    text += "settings:\n  alarm_functions: [rol]\n"
    problems = _problems(text)
    assert problems == [
        "regel 4: dubbele sleutel 'code' (ook op regel 3)",
        "regel 29: dubbele sleutel 'burgemeester' (ook op regel 29)",
        "regel 39: dubbele sleutel 'settings' (ook op regel 7)",
    ]


def test_a_merge_key_may_be_overridden() -> None:
    """`<<: *defaults` followed by one of its keys is YAML's way to override, no duplicate."""
    text = REGION_FILE.read_text().replace(
        "  - key: coordinator\n    name: Piketcoördinator\n",
        "  - &coord {key: coordinator, name: Piketcoördinator}\n  - <<: *coord\n    key: im\n",
    )
    doc = parse_region(text)
    assert [f.name for f in doc.functions if f.key == "im"] == ["Piketcoördinator"]


def test_structural_errors() -> None:
    assert _problems("region: [")[0].startswith("regel ")
    assert _problems("- a\n- b") == ["(bestand): verwacht een YAML-mapping"]
    problems = _problems("region: {code: vru, name: X}\npeople: [{key: A B, name: ''}]\n")
    assert any(p.startswith("region.code") for p in problems)
    assert any(p.startswith("people[0].key") for p in problems)
    assert any(p.startswith("people[0].name") for p in problems)
    problems = _problems("region: {code: VRU, name: X, timezone: Mars/Olympus}\n")
    assert any("onbekende tijdzone" in p for p in problems)
    problems = _problems("region: {code: VRU, name: X}\nextra: 1\n")
    assert any(p.startswith("extra") for p in problems)


def test_duplicates_are_refused() -> None:
    text = REGION_FILE.read_text().replace(
        "{key: rol-c, name: Rol Cees", "{key: rol-a, name: Rol Cees"
    )
    problems = _problems(text)
    assert any("dubbele key 'rol-a'" in p for p in problems)


async def test_import_twice_changes_nothing(engine: AsyncEngine) -> None:
    doc = parse_region(REGION_FILE.read_text())
    first = await import_region(engine, doc)
    assert first.changed and "gemeente soest" in first.created
    second = await import_region(engine, doc)
    assert not second.changed
    assert await count(engine, "person") == 9


async def test_export_round_trips(engine: AsyncEngine) -> None:
    doc = parse_region(demo_region_text())
    await import_region(engine, doc)
    exported = await export_region(engine)
    assert exported is not None
    again = parse_region(dump_region(exported))
    assert again == doc
    assert not (await import_region(engine, again)).changed


async def test_changes_and_removals(engine: AsyncEngine) -> None:
    await import_region(engine, parse_region(REGION_FILE.read_text()))
    text = REGION_FILE.read_text().replace("Rol Anna", "Rol Anna-Maria")
    text = text.replace("  - {key: im, name: Info Ineke, functions: [im]}\n", "")
    report = await import_region(engine, parse_region(text))
    assert report.updated == ["person rol-a"]
    assert report.deactivated == ["person im"]


async def test_another_region_is_refused_and_nothing_changes(engine: AsyncEngine) -> None:
    await import_region(engine, parse_region(REGION_FILE.read_text()))
    other = (
        REGION_FILE.read_text()
        .replace("code: VRU", "code: VRBN")
        .replace("Rol Anna", "Iemand Anders")
    )
    with pytest.raises(ValueError, match="VRU"):
        await import_region(engine, parse_region(other))
    exported = await export_region(engine)
    assert exported is not None and exported.people[1].name == "Rol Anna"


def test_the_readme_example_is_a_valid_region_file() -> None:
    readme = (REGION_FILE.parent.parent.parent / "README.md").read_text("utf-8")
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    doc = parse_region(block)
    assert [g.key for g in doc.gemeenten] == ["soest"]
    assert doc.people[0].telegram_user_id == 123456789


def test_telegram_ids_beyond_the_database_are_refused_with_their_line() -> None:
    """The column is a BIGINT: an id it cannot hold passed validation and failed the import."""
    caco = "{key: caco, name: Caco Test, functions: [caco]}"
    text = REGION_FILE.read_text().replace(caco, caco[:-1] + f", telegram_user_id: {2**63}}}")
    problems = _problems(text)
    assert len(problems) == 1 and problems[0].startswith("people[0].telegram_user_id (regel 18)")
    largest = REGION_FILE.read_text().replace(
        caco, caco[:-1] + f", telegram_user_id: {2**63 - 1}}}"
    )
    assert parse_region(largest).people[0].telegram_user_id == 2**63 - 1
    chat = f"chats:\n  - {{key: crisis, name: Crisis, telegram_chat_id: {-(2**63) - 1}}}\n"
    problems = _problems(REGION_FILE.read_text() + chat)
    assert len(problems) == 1 and problems[0].startswith("chats[0].telegram_chat_id (regel ")


@pytest.mark.parametrize(
    "text",
    [
        "region: " + "[" * 5000 + "]" * 5000,
        "region: " + "{a: " * 5000 + "1" + "}" * 5000,
        "region:\n" + "".join("  " * i + "- \n" for i in range(1, 3000)),
    ],
)
def test_deeply_nested_yaml_is_a_clear_problem(text: str) -> None:
    problems = _problems(text)
    assert len(problems) == 1 and "niveaus diep genest" in problems[0]
    assert problems[0].startswith("regel ")


def test_a_date_that_does_not_exist_is_a_problem_with_its_line() -> None:
    text = REGION_FILE.read_text().replace('start: "2026-01-05T08:00:00"', "start: 2026-02-30")
    problems = _problems(text)
    assert len(problems) == 1 and problems[0].startswith("rotations[0].start (regel 37)")
    unquoted = REGION_FILE.read_text().replace(
        'start: "2026-01-05T08:00:00"', "start: 2026-01-05T08:00:00"
    )
    assert parse_region(unquoted) == parse_region(REGION_FILE.read_text())
    assert _problems("region: !!timestamp 2026-02-30")[0].startswith("region (regel 1): ")


@pytest.mark.parametrize("value", ["!!bool x", '!!int ""', "!!int _", "!!int 0x", "!!float ."])
def test_a_value_its_tag_cannot_make_is_a_problem_with_its_line(value: str) -> None:
    problems = _problems(f"region:\n  code: VRU\n  name: {value}\n")
    assert len(problems) == 1 and problems[0].startswith("regel 3: geen geldige YAML: !!")
