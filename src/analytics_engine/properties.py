"""The one property-path vocabulary: insights, cohorts and exports accept the same names.

A path is up to five dot-separated keys (`plan`, `utm.source`); each key is letters, digits, `_`,
`$` and `-`, at most 100 characters. Because a valid key can hold no backtick, quoting it with
backticks as a JSON sub-column (`properties.`utm`.`source``) cannot be escaped; values never travel
in SQL text, only as query parameters.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

_KEY = r"[A-Za-z0-9_$][A-Za-z0-9_$\-]{0,99}"
PROPERTY_PATH = re.compile(rf"^{_KEY}(\.[A-Za-z0-9_$\-]{{1,100}}){{0,4}}$")
PATH_RULE = "letters, digits, '_', '$', '-', with dots for nested keys (at most 5 levels of 100 characters)"


def check_property_path(path: str) -> str:
    """`path` unchanged when it is a valid property path; ValueError with the rule otherwise."""
    if not isinstance(path, str) or not PROPERTY_PATH.match(path):
        raise ValueError(f"invalid property name {str(path)[:80]!r}: use {PATH_RULE}")
    return path


def path_segments(path: str) -> list[str]:
    """The keys of a validated path, outermost first."""
    return check_property_path(path).split(".")


def property_expr(path: str, column: str = "properties") -> str:
    """The JSON sub-column of a property path (a Dynamic value; NULL when unset)."""
    return column + "." + ".".join(f"`{key}`" for key in path_segments(path))


PropertyPath = Annotated[
    str,
    AfterValidator(check_property_path),
    Field(description=f"Property path: {PATH_RULE}; e.g. `plan` or `utm.source`.", examples=["plan", "utm.source"]),
]
