"""Webhook endpoints: manage them, test them, watch and retry their deliveries. Own account only.

Deliveries follow the Standard Webhooks format (https://www.standardwebhooks.com):
headers ``webhook-id`` (the event id, the same on every retry), ``webhook-timestamp``
and ``webhook-signature``; verify them with any Standard Webhooks library and the
endpoint's ``whsec_`` secret. Each event type's body is a component in this spec.
"""
from __future__ import annotations

from types import SimpleNamespace

from flask_smorest import Blueprint

import storage.webhooks as hooks_repo
from app.api.schemas import AUTHENTICATED
from app.api.webhook_schemas import (
    DeliveryListSchema,
    DeliverySchema,
    EndpointChangesSchema,
    EndpointListSchema,
    EndpointSchema,
    EndpointWithSecretSchema,
    EventListSchema,
    EventsQuerySchema,
    EventTypeListSchema,
    LimitQuerySchema,
    NewEndpointSchema,
    TestSentSchema,
    component_name,
    example_body,
)
from app.identity.authentication import current_principal, login_required
from app.webhooks import service as webhooks
from app.webhooks.events import EVENT_TYPES

blp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks",
                description="Webhooks: signed, retried notifications of your account's events")


def _user_id() -> str:
    return current_principal().user_id


def _with_secret(record, secret: str) -> SimpleNamespace:
    return SimpleNamespace(**record.__dict__, secret=secret)


@blp.route("")
@blp.response(200, EndpointListSchema)
@blp.alt_response(401, description="Not authenticated")
@blp.doc(security=AUTHENTICATED)
@login_required
def list_endpoints():
    """Your webhook endpoints, newest first (never their secrets)."""
    return {"data": webhooks.endpoints(_user_id())}


@blp.route("", methods=["POST"])
@blp.arguments(NewEndpointSchema)
@blp.response(201, EndpointWithSecretSchema)
@blp.alt_response(400, description="invalid_request, unsafe_webhook_url or unresolvable_webhook_host")
@blp.alt_response(409, description="too_many_endpoints")
@blp.doc(security=AUTHENTICATED)
@login_required
def create_endpoint(body):
    """Add an endpoint. Its signing secret is in this response only; store it now.

    The URL must be http(s) and resolve to public addresses only (unless the operator allows
    private ones); redirects are never followed.
    """
    record, secret = webhooks.create_endpoint(_user_id(), body["url"], description=body["description"],
                                              event_types=body["event_types"], enabled=body["enabled"])
    return _with_secret(record, secret)


@blp.route("/events")
@blp.arguments(EventsQuerySchema, location="query")
@blp.response(200, EventListSchema)
@blp.alt_response(401, description="Not authenticated")
@blp.doc(security=AUTHENTICATED)
@login_required
def list_events(query):
    """Events raised for your account, newest first: endpoint.disabled notices among them."""
    return {"data": hooks_repo.list_events(_user_id(), event_type=query.get("type"),
                                           limit=query["limit"])}


@blp.route("/event-types")
@blp.response(200, EventTypeListSchema)
@blp.doc(security=AUTHENTICATED)
@login_required
def list_event_types():
    """Every event type, what raises it, and an example body (its schema is in components)."""
    return {"data": [{"type": kind.name, "description": kind.description,
                      "subscribable": kind.subscribable, "schema": component_name(kind),
                      "example": example_body(kind)} for kind in EVENT_TYPES.values()]}


@blp.route("/<id(ep):endpoint_id>")
@blp.response(200, EndpointSchema)
@blp.alt_response(404, description="No such endpoint of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def get_endpoint(endpoint_id):
    """One endpoint; ``disabled_reason`` and ``disabled_at`` say if Aqta disabled it."""
    return webhooks.endpoint(_user_id(), endpoint_id)


@blp.route("/<id(ep):endpoint_id>", methods=["PATCH"])
@blp.arguments(EndpointChangesSchema)
@blp.response(200, EndpointSchema)
@blp.alt_response(400, description="invalid_request, unsafe_webhook_url or unresolvable_webhook_host")
@blp.alt_response(404, description="No such endpoint of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def update_endpoint(changes, endpoint_id):
    """Change the URL, event types, description or enabled flag. Enabling resumes pending deliveries."""
    return webhooks.update_endpoint(_user_id(), endpoint_id, changes)


@blp.route("/<id(ep):endpoint_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="No such endpoint of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def delete_endpoint(endpoint_id):
    """Delete the endpoint and its pending deliveries."""
    webhooks.delete_endpoint(_user_id(), endpoint_id)


@blp.route("/<id(ep):endpoint_id>/rotate-secret", methods=["POST"])
@blp.response(200, EndpointWithSecretSchema)
@blp.alt_response(404, description="No such endpoint of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def rotate_secret(endpoint_id):
    """A new signing secret, shown only now. For 24 hours deliveries carry signatures by both
    the new and the old secret, so receivers can switch without missing one."""
    record, secret = webhooks.rotate_secret(_user_id(), endpoint_id)
    return _with_secret(record, secret)


@blp.route("/<id(ep):endpoint_id>/test", methods=["POST"])
@blp.response(202, TestSentSchema)
@blp.alt_response(404, description="No such endpoint of yours")
@blp.alt_response(409, description="endpoint_disabled")
@blp.doc(security=AUTHENTICATED)
@login_required
def send_test(endpoint_id):
    """Send a ``webhook.test`` event to this endpoint; watch it in its deliveries."""
    event_id, delivery_id = webhooks.send_test(_user_id(), endpoint_id)
    return {"event_id": event_id, "delivery_id": delivery_id}


@blp.route("/<id(ep):endpoint_id>/deliveries")
@blp.arguments(LimitQuerySchema, location="query")
@blp.response(200, DeliveryListSchema)
@blp.alt_response(404, description="No such endpoint of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def list_deliveries(query, endpoint_id):
    """The endpoint's deliveries, newest first, each with every attempt: status code, latency,
    error, attempt number and when the next retry is due."""
    return {"data": webhooks.deliveries(_user_id(), endpoint_id, query["limit"])}


@blp.route("/<id(ep):endpoint_id>/deliveries/<id(dlv):delivery_id>/retry", methods=["POST"])
@blp.response(202, DeliverySchema)
@blp.alt_response(404, description="No such endpoint or delivery of yours")
@blp.alt_response(409, description="endpoint_disabled, or delivery_in_flight")
@blp.doc(security=AUTHENTICATED)
@login_required
def retry_delivery(endpoint_id, delivery_id):
    """Send the delivery again now (a failed or a succeeded one), with the same webhook-id."""
    return webhooks.retry_delivery(_user_id(), endpoint_id, delivery_id)
