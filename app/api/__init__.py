"""The HTTP API: one flask-smorest blueprint per area, documented in /openapi.json."""
from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api

from app.api import (
    analytics,
    auth,
    budgets,
    chat,
    compliance_audit,
    compliance_bias,
    compliance_reports,
    docs,
    health,
    jobs,
    keys,
    metrics,
    models,
    oauth,
    openai_schemas,
    ops,
    webhook_schemas,
    webhooks,
)
from app.api.converters import register_converters
from app.api.schemas import ErrorSchema, register_fields
from app.errors import InvalidRequest, handle_http_exception

# Routes that serve the documentation itself; everything else must be in the spec.
UNDOCUMENTED_ENDPOINTS = {"static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                          "swagger_assets.asset"}


class AqtaApi(Api):
    """flask-smorest's Api, answering and documenting errors in Aqta's shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return handle_http_exception(error)


def refuse_nul_characters() -> None:
    """No management API field may hold a NUL character: PostgreSQL cannot store one."""
    if request.path.startswith("/v1/"):
        return  # chat bodies go to providers, not tables; validation checks what is stored
    if "\x00" in request.path or "%00" in request.query_string.decode("latin-1") \
            or b"\\u0000" in request.get_data(cache=True):
        raise InvalidRequest("Text may not contain NUL characters (\\u0000).")


def register_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="Aqta",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=docs.ASSETS_URL,
        OPENAPI_SWAGGER_UI_CONFIG={"persistAuthorization": True},
        API_SPEC_OPTIONS={
            "info": {"description": "An OpenAI-compatible LLM gateway. Authenticate with "
                                    "'Authorization: Bearer sk-aqta-…' or a session cookie."},
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "An Aqta API key, sk-aqta-…"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "aqta_session"},
                "metricsToken": {"type": "http", "scheme": "bearer",
                                 "description": "The operator's METRICS_TOKEN"},
            }},
        },
    )
    api = AqtaApi(app)
    register_converters(app, api)
    register_fields(api)
    openai_schemas.register(api.spec)
    webhook_schemas.register(api.spec)
    for module in (ops, metrics, auth, oauth, keys, chat, models, analytics, jobs, webhooks,
                   budgets, health, compliance_audit, compliance_reports, compliance_bias):
        api.register_blueprint(module.blp)
    docs.init_app(app)
    app.before_request(refuse_nul_characters)
    app.extensions["aqta.api"] = api
