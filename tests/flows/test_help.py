"""/help shows only what the person may do, in their language with that language's command
names; a refusal says who can, instead of pointing at another dead end."""

from __future__ import annotations

from tests.helpers import Harness


async def _help(harness: Harness, who: str) -> str:
    await harness.say(who, "/help")
    return harness.last(who)


async def test_help_lists_only_what_each_person_may_do(harness: Harness) -> None:
    mayor = await _help(harness, "bgm-soest")
    for line in ("/status", "/analyse toon [incident] [versie]", "/analyse export", "/wie"):
        assert line in mayor
    for line in (
        "/analyse [incident]",
        "/analyse uitnodigen",
        "/deel",
        "/ruil",
        "/mijnpiket",
        "toevoegen|verwijderen",
        "/vervang",
        "/alarm",
        "/sluit",
    ):
        assert line not in mayor, line
    assert "/rotatie <functie> [gemeente] – de rotatie bekijken" in mayor

    caco = await _help(harness, "caco")
    assert "/alarm" in caco and "/sluit" in caco and "/analyse toon" in caco
    for line in ("/analyse [incident]", "/analyse uitnodigen", "/deel", "/ruil", "/vervang"):
        assert line not in caco, line

    rol = await _help(harness, "rol-a")
    for line in ("/analyse [incident]", "/analyse toon", "/analyse uitnodigen", "/deel", "/ruil"):
        assert line in rol, line
    assert "toevoegen|verwijderen" not in rol and "/vervang" not in rol

    coordinator = await _help(harness, "coord")
    for line in ("/vervang", "/dienst", "/rotatie <functie> [gemeente] toevoegen|verwijderen"):
        assert line in coordinator, line
    assert "/analyse toon" not in coordinator and "/analyse uitnodigen" not in coordinator

    secretary = await _help(harness, "gs-soest")
    assert "/analyse toon" in secretary
    assert "/analyse uitnodigen" not in secretary and "/ruil" not in secretary


async def test_a_refusal_says_who_can(harness: Harness) -> None:
    editors = (
        "De strategische analyse wordt ingevuld door de ROL en de IM van het incident; zij "
        "sturen hem ook naar de burgemeester."
    )
    for command in ("/deel", "/voorbeeld", "/analyse", "/analyse uitnodigen", "/wijzig advies"):
        await harness.say("caco", command)
        assert harness.last("caco") == editors + " Lezen kan met /analyse toon.", command
    await harness.say("coord", "/deel")
    assert harness.last("coord") == editors  # a coordinator reads no analyses either

    await harness.say("bgm-soest", "/rotatie rol toevoegen Rol Anna")
    assert harness.last("bgm-soest") == "Alleen een piketcoördinator kan het rooster wijzigen."
    await harness.say("rol-a", "/rotatie rol toevoegen Rol Anna")
    assert harness.last("rol-a") == (
        "Alleen een piketcoördinator kan het rooster wijzigen. Met /ruil kun je zelf een ruil "
        "voorstellen."
    )
    await harness.say("bgm-soest", "/ruil Rol Anna")
    assert harness.last("bgm-soest") == (
        "Ruilen kan alleen wie piket heeft, en u hebt geen piketfunctie. Vervanging regelt een "
        "piketcoördinator."
    )


async def test_english_help_names_the_english_commands_and_they_work(harness: Harness) -> None:
    english = await _help(harness, "rol-b")
    for line in (
        "/language nl|en",
        "/analysis [incident]",
        "/analysis show [incident] [version]",
        "/analysis export md|pdf|kernbeeld",
        "/analysis invite [person]",
        "/publish",
        "/close",
        "/rotation <function>",
    ):
        assert line in english, line
    for dutch in ("/taal", "/analyse", "toon", "uitnodigen", "/deel", "/sluit", "/rotatie"):
        assert dutch not in english, dutch

    await harness.raise_alarm()
    await harness.press("rol-b", "I'll take it")
    await harness.say("rol-b", "/analysis")
    assert harness.inbox("rol-b")[-1].title == "Question 2/16: Scale-up (required)"
    await harness.say("rol-b", "/analysis invite Info Ineke")
    assert harness.last("rol-b") == "Info Ineke has been invited."
    await harness.say("rol-b", "/language nl")
    assert harness.last("rol-b") == "Ik spreek vanaf nu Nederlands met je."
