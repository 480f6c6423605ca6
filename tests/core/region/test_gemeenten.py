from __future__ import annotations

from core.model import Gemeente, GemeenteId
from core.region.gemeenten import match, normalize, split_names

GEMEENTEN = tuple(
    Gemeente(GemeenteId(i), n.lower().replace(" ", "-"), n)
    for i, n in enumerate(
        [
            "De Bilt",
            "De Ronde Venen",
            "Utrecht",
            "Utrechtse Heuvelrug",
            "Súdwest-Fryslân",
            "Wijk bij Duurstede",
            "Amersfoort",
        ]
    )
)


def _name(query: str) -> str | None:
    found = match(GEMEENTEN, query).found
    return found.name if found else None


def test_case_accents_and_leading_gemeente_are_forgiven() -> None:
    assert _name("utrecht") == "Utrecht"
    assert _name("Gemeente Súdwest Fryslân") == "Súdwest-Fryslân"
    assert _name("sudwest-fryslan") == "Súdwest-Fryslân"
    assert _name("  DE   BILT ") == "De Bilt"
    assert normalize("de gemeente Zeist") == "zeist"


def test_exact_beats_prefix_and_unique_prefix_is_accepted() -> None:
    assert _name("Utrecht") == "Utrecht"  # not Utrechtse Heuvelrug
    assert _name("Wijk") == "Wijk bij Duurstede"


def test_ambiguous_and_near_misses_are_asked_back() -> None:
    assert {g.name for g in match(GEMEENTEN, "de").candidates} == {"De Bilt", "De Ronde Venen"}
    assert [g.name for g in match(GEMEENTEN, "Amersfort").candidates] == ["Amersfoort"]
    assert match(GEMEENTEN, "Heuvelrug").candidates[0].name == "Utrechtse Heuvelrug"
    assert match(GEMEENTEN, "Atlantis") == match(GEMEENTEN, "Atlantis").__class__("Atlantis")


def test_split_names() -> None:
    assert split_names("Soest, Baarn en Eemnes") == ["Soest", "Baarn", "Eemnes"]
    assert split_names("Wijk bij Duurstede") == ["Wijk bij Duurstede"]
