"""Webhooks: endpoints (the secret shown once), test events, deliveries with attempts, retry."""
from __future__ import annotations

from flask import flash, redirect, request, url_for

from app.api.webhook_schemas import NewEndpointSchema
from app.dashboard.blueprint import bp, me, page, signed_in
from app.dashboard.forms import load
from app.errors import EXPECTED_ERRORS, api_error
from app.webhooks import service as webhooks
from app.webhooks.events import EVENT_TYPES, SUBSCRIBABLE

DELIVERIES_SHOWN = 50  # newest deliveries on an endpoint's page


def _list_page(status: int = 200, **context):
    return page("webhooks.html", status, title="Webhooks",
                endpoints=webhooks.endpoints(me().id), event_types=SUBSCRIBABLE,
                descriptions={name: EVENT_TYPES[name].description for name in SUBSCRIBABLE},
                form=request.form, chosen=request.form.getlist("event_types"), **context)


@bp.route("/dashboard/webhooks")
@signed_in
def webhooks_list():
    return _list_page()


@bp.route("/dashboard/webhooks", methods=["POST"])
@signed_in
def webhook_create():
    try:
        body = load(NewEndpointSchema(), request.form, lists=("event_types",))
        record, secret = webhooks.create_endpoint(me().id, body["url"],
                                                  description=body["description"],
                                                  event_types=body["event_types"])
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        return _list_page(exc.status, error=exc.message)
    # Rendered, not redirected: the secret exists only in this response.
    return page("webhook_secret.html", 201, title="Your webhook's signing secret",
                endpoint=record, secret=secret, rotated=False)


def _endpoint_page(endpoint_id: str, status: int = 200, **context):
    user_id = me().id
    endpoint = webhooks.endpoint(user_id, endpoint_id)
    deliveries = webhooks.deliveries(user_id, endpoint_id, DELIVERIES_SHOWN)
    return page("webhook.html", status, title=f"Webhook {endpoint.url}", endpoint=endpoint,
                deliveries=deliveries, **context)


@bp.route("/dashboard/webhooks/<endpoint_id>")
@signed_in
def webhook(endpoint_id: str):
    return _endpoint_page(endpoint_id)


def _act(endpoint_id: str, action, done: str):
    """Run an endpoint action; back to its page with ``done`` or the error."""
    try:
        action()
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        return _endpoint_page(endpoint_id, exc.status, error=exc.message)
    flash(done)
    return redirect(url_for("dashboard.webhook", endpoint_id=endpoint_id))


@bp.route("/dashboard/webhooks/<endpoint_id>/test", methods=["POST"])
@signed_in
def webhook_test(endpoint_id: str):
    return _act(endpoint_id, lambda: webhooks.send_test(me().id, endpoint_id),
                "A webhook.test event is on its way; its delivery is listed below.")


@bp.route("/dashboard/webhooks/<endpoint_id>/enabled", methods=["POST"])
@signed_in
def webhook_enable(endpoint_id: str):
    enable = request.form.get("enabled") == "true"
    return _act(endpoint_id,
                lambda: webhooks.update_endpoint(me().id, endpoint_id, {"enabled": enable}),
                "Endpoint enabled." if enable else "Endpoint disabled.")


@bp.route("/dashboard/webhooks/<endpoint_id>/deliveries/<delivery_id>/retry", methods=["POST"])
@signed_in
def webhook_retry(endpoint_id: str, delivery_id: str):
    return _act(endpoint_id, lambda: webhooks.retry_delivery(me().id, endpoint_id, delivery_id),
                "The delivery is being sent again.")


@bp.route("/dashboard/webhooks/<endpoint_id>/rotate-secret", methods=["POST"])
@signed_in
def webhook_rotate(endpoint_id: str):
    record, secret = webhooks.rotate_secret(me().id, endpoint_id)
    return page("webhook_secret.html", title="Your webhook's new signing secret",
                endpoint=record, secret=secret, rotated=True)


@bp.route("/dashboard/webhooks/<endpoint_id>/delete")
@signed_in
def webhook_confirm_delete(endpoint_id: str):
    endpoint = webhooks.endpoint(me().id, endpoint_id)
    return page("webhook_delete.html", title="Delete this webhook?", endpoint=endpoint)


@bp.route("/dashboard/webhooks/<endpoint_id>/delete", methods=["POST"])
@signed_in
def webhook_delete(endpoint_id: str):
    webhooks.delete_endpoint(me().id, endpoint_id)
    flash("The webhook endpoint is deleted.")
    return redirect(url_for("dashboard.webhooks_list"))
