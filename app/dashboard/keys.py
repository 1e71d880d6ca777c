"""Settings → API Keys: list with limits and this month's use, create (shown once), revoke."""
from __future__ import annotations

from flask import flash, redirect, request, url_for

from app.api.keys import KeyLimitsSchema, NewKeySchema
from app.dashboard.blueprint import bp, me, page, signed_in
from app.dashboard.forms import load
from app.dashboard.usage_counts import month_usage
from app.errors import EXPECTED_ERRORS, api_error
from app.identity.api_keys import create_key, live_key, live_keys, revoke_key
from app.tiers import TIERS


def _keys_page(status: int = 200, **context):
    user = me()
    usage = month_usage(user.id, user.tier, live_keys(user.id))
    return page("keys.html", status, title="API keys", usage=usage, tier=TIERS[user.tier],
                form=request.form, **context)


@bp.route("/dashboard/settings/keys")
@signed_in
def keys():
    return _keys_page()


@bp.route("/dashboard/settings/keys", methods=["POST"])
@signed_in
def create():
    user = me()
    try:
        body = load(NewKeySchema(), {"name": request.form.get("name", "")})
        limits = _optional_limits()
        record, plaintext = create_key(user.id, body.get("name", "default"), tier=user.tier,
                                       **limits)
    except EXPECTED_ERRORS as failure:
        exc = api_error(failure)
        return _keys_page(exc.status, error=exc.message)
    # Rendered, not redirected: the key exists only in this response.
    return page("key_created.html", 201, title="Your new API key", key=record,
                plaintext=plaintext, base_url=request.url_root.rstrip("/") + "/v1")


def _optional_limits() -> dict:
    """The lower limits the form asks for, if any (left empty: the tier's)."""
    asked = {name: value for name in ("rpm_limit", "monthly_quota")
             if (value := request.form.get(name, "").strip())}
    return load(KeyLimitsSchema(only=("rpm_limit", "monthly_quota")), asked) if asked else {}


@bp.route("/dashboard/settings/keys/<key_id>/revoke")
@signed_in
def confirm_revoke(key_id: str):
    key = live_key(me().id, key_id)
    return page("key_revoke.html", title=f"Revoke {key.name}?", key=key)


@bp.route("/dashboard/settings/keys/<key_id>/revoke", methods=["POST"])
@signed_in
def revoke(key_id: str):
    key = live_key(me().id, key_id)
    revoke_key(me().id, key_id)
    flash(f"The key “{key.name}” ({key.prefix}…{key.last_four}) is revoked; it stops working "
          "within a second.")
    return redirect(url_for("dashboard.keys"))
