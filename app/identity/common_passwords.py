"""The list of common passwords shipped with the package, and the check against it.

A password is common when it is on the list (ignoring case), or is a listed one
with up to four digits or symbols around it (``Password1!``, ``!dragon2024``).
The list (data/common-passwords.txt.gz, see the NOTICE beside it) is read once, on
first use, not at import.
"""
from __future__ import annotations

import gzip
import re
from functools import cache
from importlib import resources

_AFFIX = "[\\W\\d_]{1,4}"  # up to four digits or symbols
_TRAILING, _LEADING = re.compile(_AFFIX + "$"), re.compile("^" + _AFFIX)


@cache
def common_passwords() -> frozenset[str]:
    data = resources.files("app.identity").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def is_common(password: str) -> bool:
    """Whether ``password`` is, or is barely more than, a commonly used one."""
    lowered = password.lower()
    stripped = _LEADING.sub("", _TRAILING.sub("", lowered))
    known = common_passwords()
    return lowered in known or (bool(stripped) and stripped in known)
