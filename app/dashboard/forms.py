"""Turn a submitted HTML form into the arguments the JSON API's schemas accept.

The dashboard validates with the very schemas the API does, so a rule about a
field (ranges, lengths, known values) is written once, in app/api.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from marshmallow import Schema, ValidationError

from app.errors import InvalidRequest


def _first_message(messages) -> str:
    while isinstance(messages, dict) and messages:
        messages = next(iter(messages.values()))
    while isinstance(messages, list) and messages:
        messages = messages[0]
    return str(messages)


def _label(field: str) -> str:
    return field.replace("_", " ").capitalize()


def load(schema: Schema, form: Mapping[str, str], lists: Iterable[str] = (),
         data: dict | None = None) -> dict:
    """Load the non-empty form fields (plus ``data``) with ``schema``; InvalidRequest otherwise.

    Empty fields are left out, so the schema's defaults apply; ``lists`` names fields
    given as several values (checkboxes).
    """
    raw = {name: value.strip() for name, value in form.items()
           if name != "csrf_token" and name not in lists and value.strip() != ""}
    for name in lists:
        values = form.getlist(name) if hasattr(form, "getlist") else []
        if values:
            raw[name] = values
    raw.update(data or {})
    try:
        return schema.load(raw, unknown="exclude")
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        message = f"{_label(field)}: {_first_message(messages)}" if field != "_schema" \
            else _first_message(messages)
        raise InvalidRequest(message, field=field) from None


def integers(text: str, field: str) -> list[int]:
    """A comma-separated list of whole numbers, e.g. "50, 80, 100"."""
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise InvalidRequest(f"{_label(field)}: give whole numbers separated by commas, "
                             "e.g. 50, 80, 100.", field=field) from None
