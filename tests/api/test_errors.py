"""Every error the app returns has the error shape, including Flask's own."""
import logging
import re

import pytest
from openapi_spec_validator import validate


def assert_error_shape(response, status, code):
    assert response.status_code == status
    assert response.is_json
    error = response.json["error"]
    assert set(error) >= {"message", "type", "code"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]


def test_unknown_route(client):
    assert_error_shape(client.get("/no/such/route"), 404, "not_found")


def test_wrong_method(client):
    response = client.put("/api/auth/me")
    assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_too_large(make_app):
    client = make_app(max_request_bytes=2048).test_client()
    response = client.post("/api/auth/signup", json={"email": "a@example.com", "password": "x" * 5000})
    assert_error_shape(response, 413, "payload_too_large")


def test_malformed_json(client):
    response = client.post("/api/auth/signup", data="{not json", content_type="application/json")
    assert_error_shape(response, 400, "invalid_request")


def test_unhandled_exception_is_logged_with_request_id_and_hidden(make_app, caplog):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    assert_error_shape(response, 500, "internal_error")
    request_id = response.headers["X-Request-Id"]
    assert request_id.startswith("req_")
    assert request_id in response.json["error"]["message"]
    assert "secret internals" not in response.get_data(as_text=True)
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_every_response_has_a_request_id(client):
    assert client.get("/healthz").headers["X-Request-Id"].startswith("req_")


def test_spec_is_valid_openapi(client):
    spec = client.get("/openapi.json").json
    validate(spec)
    assert {"bearerAuth", "cookieAuth"} <= set(spec["components"]["securitySchemes"])


def test_every_route_is_in_the_spec(app, client):
    from app.api import UNDOCUMENTED_ENDPOINTS

    spec = client.get("/openapi.json").json
    documented = {(path, method.upper()) for path, ops in spec["paths"].items()
                  for method in ops if method != "parameters"}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED_ENDPOINTS or rule.endpoint.startswith("dashboard."):
            continue  # the dashboard's pages are HTML for people, not API
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (path, method) not in documented:
                missing.append(f"{method} {path}")
    assert missing == []


def test_protected_routes_declare_security(client):
    spec = client.get("/openapi.json").json
    for path in ("/api/keys", "/api/keys/{key_id}", "/api/auth/me"):
        for method, operation in spec["paths"][path].items():
            if method == "parameters":
                continue
            assert {"bearerAuth": []} in operation["security"]


def test_errors_are_documented_in_the_error_shape(client):
    spec = client.get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    assert "error" in schemas["Error"]["properties"]
    signup = spec["paths"]["/api/auth/signup"]["post"]
    assert "409" in signup["responses"]


@pytest.mark.parametrize("asset", ["swagger-ui-bundle.js", "swagger-ui.css",
                                   "swagger-ui-standalone-preset.js"])
def test_swagger_ui_is_served_offline(client, asset):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"/docs/assets/{asset}" in html
    assert "http://" not in html and "https://" not in html
    assert client.get(f"/docs/assets/{asset}").status_code == 200
