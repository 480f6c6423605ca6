"""The analyse as people read it: chat text with change marks, Markdown, PDF, kernbeeld."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import as_file, files

from fpdf import FPDF

from core.analyse.form import FieldType, Form, FormField
from core.analyse.model import Answer, Version
from core.i18n import fmt_datetime, fmt_time, t
from core.model import CACO, Directory, Incident, Language, PersonId

CHANGED = "✱"


@dataclass(frozen=True)
class Sheet:
    """Everything a rendering needs about one version."""

    incident: Incident
    version: Version
    form: Form
    directory: Directory
    base: Version | None = None  # marks fields changed since this version


def value_text(
    form: Form, field: FormField, value: Answer | None, directory: Directory, language: Language
) -> str:
    if value is None or value == "" or value == []:
        return ""
    match field.type:
        case FieldType.CHOICE:
            return form.choice_label(field, str(value), language)
        case FieldType.MULTI:
            return ", ".join(form.choice_label(field, str(v), language) for v in value)
        case FieldType.GEMEENTEN:
            names = [g.name for g in directory.gemeenten if g.id in set(value)]
            return ", ".join(names)
        case FieldType.TIME:
            at = datetime.fromisoformat(str(value))
            return fmt_datetime(at, directory.region.timezone, language)
        case _:
            return str(value)


def _editors(sheet: Sheet) -> list[str]:
    ids = dict.fromkeys([sheet.version.published_by, *sheet.version.editors.values()])
    people = [sheet.directory.people.get(PersonId(i)) for i in ids]
    return [f"{p.name} ({_function_names(sheet, p.functions)})" for p in people if p]


def _function_names(sheet: Sheet, keys: set[str] | frozenset[str]) -> str:
    return ", ".join(sorted(sheet.directory.function_name(k) for k in keys))


def _sources(sheet: Sheet) -> str:
    ids = {sheet.version.published_by, *map(int, sheet.version.editors.values())}
    functions: set[str] = set()
    for i in ids:
        person = sheet.directory.people.get(PersonId(i))
        if person:
            functions |= person.functions
    return _function_names(sheet, functions | {CACO})


def changed_keys(sheet: Sheet) -> set[str]:
    if sheet.base is None:
        return set()
    return {
        f.key
        for f in sheet.form.fields
        if sheet.version.values.get(f.key) != sheet.base.values.get(f.key)
    }


def rows(
    sheet: Sheet, language: Language, *, kernbeeld: bool = False
) -> list[tuple[str, str, bool]]:
    """(label, text, changed) for every field with a value, in form order."""
    changed = changed_keys(sheet)
    result = []
    for field in sheet.form.fields:
        if kernbeeld and not field.kernbeeld:
            continue
        values = sheet.version.values
        text = value_text(sheet.form, field, values.get(field.key), sheet.directory, language)
        if text or field.key in changed:
            result.append((field.label.get(language), text or "—", field.key in changed))
    return result


def title(sheet: Sheet, language: Language) -> str:
    return t(
        language, "analyse.doc_title", id=sheet.incident.public_id, version=sheet.version.number
    )


def chat_text(sheet: Sheet, language: Language) -> str:
    tz = sheet.directory.region.timezone
    lines = [
        t(
            language,
            "analyse.doc_meta",
            peiltijd=fmt_time(sheet.version.published_at, tz, language),
            editors=", ".join(_editors(sheet)),
            sources=_sources(sheet),
        ),
    ]
    if sheet.base is not None:
        lines.append(
            t(language, "analyse.doc_changed_since", mark=CHANGED, version=sheet.base.number)
        )
    for label, text, changed in rows(sheet, language):
        mark = f"{CHANGED} " if changed else ""
        lines.append(f"\n{mark}{label}:\n{text}")
    return "\n".join(lines)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown(sheet: Sheet, language: Language, *, kernbeeld: bool = False) -> str:
    tz = sheet.directory.region.timezone
    heading = t(
        language,
        "analyse.kernbeeld_title" if kernbeeld else "analyse.doc_title",
        id=sheet.incident.public_id,
        version=sheet.version.number,
    )
    out = [f"# {_md(heading)}", ""]
    out.append(
        _md(
            t(
                language,
                "analyse.doc_meta",
                peiltijd=fmt_datetime(sheet.version.published_at, tz, language),
                editors=", ".join(_editors(sheet)),
                sources=_sources(sheet),
            )
        )
    )
    if sheet.base is not None:
        legend = t(language, "analyse.doc_changed_since", mark=CHANGED, version=sheet.base.number)
        out += ["", _md(legend)]
    for label, text, changed in rows(sheet, language, kernbeeld=kernbeeld):
        out += ["", f"## {CHANGED + ' ' if changed else ''}{_md(label)}", ""]
        out += [_md(line) for line in text.splitlines()]
    return "\n".join(out) + "\n"


# The PDF embeds Unicode fonts shipped in core/data/fonts (see its README for where they come
# from and their licences): DejaVu Sans for the text, Symbola for symbols and emoji it lacks.
# Text shaping (HarfBuzz) puts right-to-left scripts such as Hebrew in reading order.
FONT = "dejavu"
FONT_FILES = {
    (FONT, ""): "DejaVuSans.ttf",
    (FONT, "B"): "DejaVuSans-Bold.ttf",
    ("symbola", ""): "SymbolaEmoji.ttf",
}


def document(*, compliance: str | None = None) -> FPDF:
    """An A4 document with the embedded fonts and text shaping; `compliance` names a PDF/A
    level fpdf2 enforces ("PDF/A-3B": the Archiefregeling's format for permanent records)."""
    doc = FPDF(format="A4", enforce_compliance=compliance)
    folder = files("core").joinpath("data", "fonts")
    for (family, style), name in FONT_FILES.items():
        with as_file(folder.joinpath(name)) as path:
            doc.add_font(family, style, path)
    doc.set_fallback_fonts(["symbola"], exact_match=False)
    doc.set_text_shaping(True)
    return doc


def pdf(sheet: Sheet, language: Language, *, kernbeeld: bool = False) -> bytes:
    tz = sheet.directory.region.timezone
    doc = document()
    doc.set_title(title(sheet, language))
    doc.set_creator("scm-bot")
    doc.add_page()
    doc.set_font(FONT, "B", 15)
    heading = t(
        language,
        "analyse.kernbeeld_title" if kernbeeld else "analyse.doc_title",
        id=sheet.incident.public_id,
        version=sheet.version.number,
    )
    doc.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
    doc.set_font(FONT, "", 9)
    meta = t(
        language,
        "analyse.doc_meta",
        peiltijd=fmt_datetime(sheet.version.published_at, tz, language),
        editors=", ".join(_editors(sheet)),
        sources=_sources(sheet),
    )
    doc.multi_cell(0, 5, meta, new_x="LMARGIN", new_y="NEXT")
    if sheet.base is not None:  # the legend of the change marks below
        legend = t(language, "analyse.doc_changed_since", mark=CHANGED, version=sheet.base.number)
        doc.multi_cell(0, 5, legend, new_x="LMARGIN", new_y="NEXT")
    for label, text, changed in rows(sheet, language, kernbeeld=kernbeeld):
        doc.ln(3)
        doc.set_font(FONT, "B", 11)
        doc.multi_cell(
            0, 6, (f"{CHANGED} " if changed else "") + label, new_x="LMARGIN", new_y="NEXT"
        )
        doc.set_font(FONT, "", 10)
        doc.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())
