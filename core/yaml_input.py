"""Reading the YAML files people write (the region file, the analyse form) without surprises.

Every problem becomes a `YamlProblem` with its line where there is one: bad syntax, nesting
deeper than any real file needs (PyYAML's composer is recursive and would end in a
RecursionError), or a value the constructor cannot make. Dates and times stay text: the
validation reads them, with the field's name and line, instead of the constructor raising a
bare ValueError for 2026-02-30.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 40  # the region file needs 6 levels, the analyse form 4


class YamlProblem(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(f"regel {line}: {message}" if line else message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):
    """The safe loader: dates stay text, and a value its tag cannot make is a problem with
    its line (PyYAML raises KeyError for `!!bool x`, IndexError for `!!int ""`, ...)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except YamlProblem:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            value = f" {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
            line = node.start_mark.line + 1 if node.start_mark else None
            raise YamlProblem(line, f"geen geldige YAML: {tag}{value}") from None


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
                raise YamlProblem(line, f"meer dan {MAX_DEPTH} niveaus diep genest")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _one_line(problem: str) -> str:
    return "geen geldige YAML: " + " ".join(problem.split())


def load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for lines) and the data of a single YAML document."""
    try:
        _check_depth(text)
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except YamlProblem:
        raise
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        if mark is not None:
            problem += f" (kolom {mark.column + 1})"
        raise YamlProblem(mark.line + 1 if mark else None, _one_line(problem)) from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
        raise YamlProblem(None, _one_line(str(error))) from None
    return root, data
