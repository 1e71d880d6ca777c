"""Swagger UI's assets, served from the swagger-ui-bundle package (no CDN, works offline)."""
from __future__ import annotations

from flask import Blueprint, Flask, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets/"

assets = Blueprint("swagger_assets", __name__)


@assets.route(f"{ASSETS_URL}<path:filename>")
def asset(filename: str):
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


def init_app(app: Flask) -> None:
    app.register_blueprint(assets)
