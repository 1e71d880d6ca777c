"""Monthly budgets in EUR, for the account or one of its keys, with alert thresholds."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from app.api.schemas import AUTHENTICATED, DecimalString, StrictBoolean
from app.gateway.budgets import account_budgets, set_budget
from app.identity.authentication import current_principal, login_required
from storage.money import EUR_QUANTUM

MAX_MONTHLY_EUR = 1_000_000_000  # a billion EUR: far above any budget, far below the counters' range

# A positive amount below a billion with at most 8 decimal places (no zero: it must be above 0).
MONTHLY_EUR_PATTERN = ("^([1-9][0-9]{0,8}(\\.[0-9]{1,8})?|0?\\.(" +
                       "|".join(f"0{{{zeros}}}[1-9][0-9]{{0,{7 - zeros}}}" for zeros in range(8)) + "))$")


blp = Blueprint("budgets", __name__, url_prefix="/api/budgets",
                description="Monthly budgets in EUR, with alerts and an optional hard stop")


class BudgetSchema(Schema):
    key_id = fields.String(allow_none=True, metadata={"description": "null: the whole account"})
    monthly_eur = DecimalString(required=True, metadata={"example": "100.00000000"})
    thresholds = fields.List(fields.Integer(), metadata={"example": [50, 80, 100]})
    hard_stop = StrictBoolean()
    spent_eur = DecimalString(metadata={"description": "Spent this month",
                                        "example": "12.34000000"})
    month = fields.String(metadata={"example": "2026-11"})


class BudgetListSchema(Schema):
    month = fields.String(required=True)
    data = fields.List(fields.Nested(BudgetSchema), required=True)


class PutBudgetSchema(Schema):
    key_id = fields.String(load_default=None, allow_none=True,
                           metadata={"description": "Omit or null for the account's budget"})
    monthly_eur = DecimalString(required=True, allow_none=True,
                                metadata={"description": "EUR as a decimal string, above 0 and "
                                                         f"below {MAX_MONTHLY_EUR:,}, at most 8 "
                                                         "decimal places; null removes the budget",
                                          "example": "100", "pattern": MONTHLY_EUR_PATTERN,
                                          "invalid": "must be a decimal string above 0 and below "
                                                     "1,000,000,000 with at most 8 decimal places, "
                                                     "e.g. \"100.50\""})
    thresholds = fields.List(fields.Integer(validate=validate.Range(min=1, max=1000)),
                             load_default=[50, 80, 100], validate=validate.Length(max=10))
    hard_stop = StrictBoolean(load_default=False,
                               metadata={"description": "Refuse requests (402 budget_exceeded) "
                                                        "once the budget is spent"})

    @validates("monthly_eur")
    def check_amount(self, value, **_):
        if value is None:
            return
        if not 0 < value < MAX_MONTHLY_EUR:
            raise ValidationError(f"must be above 0 and below {MAX_MONTHLY_EUR:,}")
        if value != value.quantize(EUR_QUANTUM):
            raise ValidationError("at most 8 decimal places")


@blp.route("")
@blp.response(200, BudgetListSchema)
@blp.doc(security=AUTHENTICATED)
@login_required
def list_budgets():
    """The account's budget and its keys' budgets, with what each spent this month."""
    month, budgets = account_budgets(current_principal().user_id)
    return {"month": month, "data": budgets}


@blp.route("", methods=["PUT"])
@blp.arguments(PutBudgetSchema)
@blp.response(200, BudgetSchema)
@blp.alt_response(204, description="The budget was removed")
@blp.alt_response(404, description="No such key of yours")
@blp.doc(security=AUTHENTICATED)
@login_required
def put_budget(body):
    """Set (or, with monthly_eur null, remove) the account's or a key's monthly budget."""
    budget = set_budget(current_principal().user_id, body["key_id"], body["monthly_eur"],
                        body["thresholds"], body["hard_stop"])
    if budget is None:
        return "", 204
    return budget
