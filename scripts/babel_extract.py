"""The `pybabel extract` method for scm-bot's catalogs (see scripts/babel.cfg).

Message ids are stable keys ("close.done") that travel through the code as data (a reply's
key, a button label, a refusal), so they cannot be found in the Python source. Dutch is the
source language: the template is every message of the Dutch catalog, plural or not, with
its Dutch text as a comment for the translator.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

from babel.messages.pofile import read_po


def dutch_catalog(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str, str | tuple[str, str], list[str]]]:
    """Yield each message of a Dutch `.po` file as gettext (or ngettext) would be found."""
    for message in read_po(fileobj):
        line = message.lineno or 0
        if isinstance(message.id, str):
            if message.id:  # not the header
                yield line, "gettext", message.id, [str(message.string)]
        else:
            forms = [str(form) for form in message.string or ()]
            yield line, "ngettext", (message.id[0], message.id[1]), forms
