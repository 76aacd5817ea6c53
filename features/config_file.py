"""What the two YAML files a marketer edits (the segment rules, the incentive catalogue) share when they are read.

Every problem in a file is collected with where it is (file, item, field) and reported all at once, in one error
a person can act on; a missing or unreadable file, or text that is not YAML, fails the same way. Messages describe
wrong values in plain words ("text 'abc'", "nothing") and suggest the closest known name for a misspelt one.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml

__all__ = ["ConfigError", "Problem", "Problems", "describe", "read_yaml", "suggest"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, and where: the file, the item (``segment 'x'``, ``incentive 'y'``, ``policy``;
    None for the file as a whole) and the field in it."""

    source: str
    item: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = [self.source]
        if self.item is not None:
            where.append(self.item)
        if self.field:
            where.append(self.field)
        return f"{', '.join(where)}: {self.message}"


class ConfigError(ValueError):
    """The file is invalid; ``problems`` lists every problem found. Subclasses name the kind of file."""

    kind: ClassVar[str] = "file"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        n = len(self.problems)
        head = f"invalid {self.kind}" + (f" ({n} problems)" if n > 1 else "")
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class Problems:
    """The problems found so far in one file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def add(self, item: str | None, field: str, message: str) -> None:
        self.problems.append(Problem(self.source, item, field, message))


def suggest(word: object, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the known names closest to a misspelt one, else nothing."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def describe(value: object) -> str:
    """A value as a person reads it in an error message: ``text 'abc'``, ``number 3``, ``nothing``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"yes/no value {value!r}"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, list):
        return f"list {value!r}"
    return f"{type(value).__name__} {value!r}"


def read_yaml(path: Path | None, package: str, resource: str, error: type[ConfigError]) -> tuple[Any, str]:
    """The parsed YAML of ``path`` (``None``: the file ``resource`` packaged with ``package``) and the name its
    problems are reported under; a file that cannot be read or is not YAML raises ``error``."""
    if path is None:
        source = f"{package}/{resource}"
        text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise error([Problem(source, None, "", f"cannot read the file: {exc}")]) from exc
    try:
        return yaml.safe_load(text), source
    except yaml.YAMLError as exc:
        raise error([Problem(source, None, "", f"not valid YAML: {exc}")]) from exc
