"""URL converters: an opaque id with its prefix (``<id(ep):endpoint_id>`` matches ``ep_…``).

A prefixed id cannot collide with a literal path next to it (``/api/webhooks/events``
is never an endpoint id), and the spec documents the id's pattern.
"""
from __future__ import annotations

import re

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import BaseConverter, Map

MAX_ID_CHARS = 64


class PrefixedId(BaseConverter):
    """An id made by ``storage.ids.new_id(prefix)``."""

    def __init__(self, url_map: Map, prefix: str):
        super().__init__(url_map)
        self.regex = re.escape(prefix) + f"_[A-Za-z0-9_-]{{1,{MAX_ID_CHARS}}}"


def prefixed_id_schema(converter: PrefixedId) -> dict:
    return {"type": "string", "pattern": f"^{converter.regex}$"}


def register_converters(app: Flask, api: Api) -> None:
    """Call before any blueprint is registered: rules are compiled as they are added."""
    app.url_map.converters["id"] = PrefixedId
    api.register_converter(PrefixedId, prefixed_id_schema)
