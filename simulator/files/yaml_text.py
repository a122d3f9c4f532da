"""YAML text read the costsim way: plain exponents (``3.35e12``, ``80e9``) are numbers, which PyYAML's
YAML 1.1 resolver would leave as strings, and a key given twice in one mapping is an error naming the
key and both lines, where PyYAML would keep the last silently. Malformed YAML is a one-line error."""
from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import CostsimError


class _DuplicateKey(yaml.YAMLError):
    """A key given twice in one mapping: the key and both lines (1-based)."""

    def __init__(self, key, first_line: int, second):
        super().__init__(f"duplicate key {key!r}")
        self.key, self.first_line, self.second_line = key, first_line, second.line + 1
        self.second_column = second.column


class YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # LibYAML's parser where PyYAML has it
    """SafeLoader whose float resolver also takes exponents without a dot or a sign (YAML 1.2 style), and
    which refuses a key given twice in one mapping (PyYAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        """The mapping of ``node``; a key it gives twice raises :class:`_DuplicateKey`."""
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<' merges: its keys may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise _DuplicateKey(key, seen[key], key_node.start_mark)
                    seen[key] = line
                except TypeError:  # an unhashable key: the constructor refuses it below
                    continue
        return super().construct_mapping(node, deep=deep)


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
YamlLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def parse_yaml_text(text: str, source: str) -> Any:
    """YAML text parsed with exponents as numbers; malformed YAML is a one-line error naming ``source``."""
    try:
        return yaml.load(text, Loader=YamlLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as err:
        lines = (f"twice on line {err.first_line}" if err.first_line == err.second_line
                 else f"at lines {err.first_line} and {err.second_line}")
        field = _key_path(text, err.second_line, err.second_column) or str(err.key)
        raise CostsimError(f"duplicate key '{err.key}' {lines}: give each key once (none is silently kept)",
                           source=source, field=field) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CostsimError(f"malformed YAML at {at}: {problem}", source=source) from None


def _key_path(text: str, line: int, column: int) -> str | None:
    """The dotted path of the mapping key at ``line`` (1-based) and ``column`` (0-based) of YAML ``text``,
    where one is found."""
    visited: set[int] = set()  # aliases share nodes: each is walked once (an alias bomb stays cheap)

    def walk(node, prefix):
        if id(node) in visited:
            return None
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = f"{prefix}.{key.value}" if prefix else str(key.value)
                if (key.start_mark.line + 1, key.start_mark.column) == (line, column):
                    return path
                found = walk(value, path)
                if found:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                found = walk(item, f"{prefix}.{i}" if prefix else str(i))
                if found:
                    return found
        return None

    try:
        return walk(yaml.compose(text, Loader=YamlLoader), "")
    except yaml.YAMLError:
        return None
