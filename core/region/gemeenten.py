"""Forgiving gemeente names: case, accents, a leading "gemeente" and stray punctuation."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from core.model import Gemeente

_PREFIX = re.compile(r"^(de\s+)?gemeente\s+")
_SPLIT = re.compile(r"\s*(?:,|;|\+|&|\ben\b|\band\b)\s*")
MIN_PREFIX = 4


def normalize(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = re.sub(r"[-'’.]", " ", plain)
    plain = re.sub(r"\s+", " ", plain).strip()
    return _PREFIX.sub("", plain)


@dataclass(frozen=True, slots=True)
class Match:
    query: str
    found: Gemeente | None = None
    candidates: tuple[Gemeente, ...] = ()  # asked back when `found` is None


def match(gemeenten: Sequence[Gemeente], query: str) -> Match:
    """Exact (normalized) names win; a unique prefix of 4+ letters is accepted; anything else
    returns candidates to ask back (several prefixes, substrings, or near misses)."""
    q = normalize(query)
    if not q:
        return Match(query)
    names = {g.id: normalize(g.name) for g in gemeenten}
    keys = {g.id: normalize(g.key) for g in gemeenten}
    exact = [g for g in gemeenten if q in (names[g.id], keys[g.id])]
    if exact:
        return Match(query, found=exact[0])
    prefix = [g for g in gemeenten if names[g.id].startswith(q)]
    if len(prefix) == 1 and len(q) >= MIN_PREFIX:
        return Match(query, found=prefix[0])
    if prefix:
        return Match(query, candidates=tuple(prefix))
    inside = [g for g in gemeenten if q in names[g.id]]
    if inside:
        return Match(query, candidates=tuple(inside))
    close = difflib.get_close_matches(q, list(names.values()), n=4, cutoff=0.7)
    return Match(query, candidates=tuple(g for g in gemeenten if names[g.id] in close))


def split_names(text: str) -> list[str]:
    """ "Soest, Baarn en Eemnes" -> ["Soest", "Baarn", "Eemnes"]."""
    return [part for part in _SPLIT.split(text.strip()) if part.strip()]
