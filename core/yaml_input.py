"""Reading the YAML files people write (the region file, the analyse form) without surprises.

Every problem becomes a `YamlProblem` with its line where there is one: bad syntax, nesting
deeper than any real file needs (PyYAML's composer is recursive and would end in a
RecursionError), a key written twice in one mapping (PyYAML silently keeps the last), or a
value the constructor cannot make. Dates and times stay text: the validation reads them, with
the field's name and line, instead of the constructor raising a bare ValueError for
2026-02-30.
"""

from __future__ import annotations

from typing import Any

import yaml

from core.i18n import t
from core.model import Language

MAX_DEPTH = 40  # the region file needs 6 levels, the analyse form 4
LANGUAGE = Language.NL  # the files are written in Dutch, and so are their problems


class YamlProblem(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(
            t(LANGUAGE, "yaml.at_line", line=line, problem=message) if line else message
        )
        self.line = line
        self.message = message


class DuplicateKeys(YamlProblem):
    """Keys written twice in one mapping, every one with its line. The document loaded all
    the same (`root`, `data`), so a caller can report these together with its own problems."""

    def __init__(self, problems: list[YamlProblem], root: yaml.Node | None, data: Any) -> None:
        super().__init__(problems[0].line, problems[0].message)
        self.args = ("; ".join(str(p) for p in problems),)
        self.problems = problems
        self.root = root
        self.data = data


MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """The safe loader: dates stay text, a key written twice is recorded with its line, and
    a value its tag cannot make is a problem with its line (PyYAML raises KeyError for
    `!!bool x`, IndexError for `!!int ""`, ...)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[YamlProblem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE:  # `<<: *defaults` may be overridden on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first_line.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            line = key_node.start_mark.line + 1
            if seen is None:
                first_line[key] = line
            else:
                self.duplicates.append(
                    YamlProblem(line, t(LANGUAGE, "yaml.duplicate_key", key=key, line=seen))
                )
        return super().construct_mapping(node, deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except YamlProblem:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            value = f" {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
            line = node.start_mark.line + 1 if node.start_mark else None
            raise YamlProblem(line, t(LANGUAGE, "yaml.invalid", problem=f"{tag}{value}")) from None


TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _text(loader: _Loader, node: yaml.Node) -> Any:
    return loader.construct_yaml_str(node)


_Loader.add_constructor(TIMESTAMP, _text)  # an explicit !!timestamp is text too


def _check_depth(text: str) -> None:
    """The parser is iterative: its events show the nesting before the composer recurses."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise YamlProblem(line, t(LANGUAGE, "yaml.too_deep", depth=MAX_DEPTH))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _one_line(problem: str) -> str:
    return t(LANGUAGE, "yaml.invalid", problem=" ".join(problem.split()))


def load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for lines) and the data of a single YAML document.

    Raises `YamlProblem`; `DuplicateKeys` (one) when keys were written twice."""
    try:
        _check_depth(text)
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
            duplicates = loader.duplicates
        finally:
            loader.dispose()
    except YamlProblem:
        raise
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        if mark is not None:
            problem = t(LANGUAGE, "yaml.at_column", problem=problem, column=mark.column + 1)
        raise YamlProblem(mark.line + 1 if mark else None, _one_line(problem)) from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
        raise YamlProblem(None, _one_line(str(error))) from None
    if duplicates:
        raise DuplicateKeys(sorted(duplicates, key=lambda p: p.line or 0), root, data)
    return root, data
