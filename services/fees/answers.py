"""What the fees service's public routes answer on success, one model per answer object,
named by what it is (RouteDoc.response; the OpenAPI document shows them). Checked against
every answer the test suite sees (shared/http/answers.py): a field a handler adds
without adding it here fails the suite."""

from __future__ import annotations

from shared.http.answers import Answer


class ChargeRule(Answer):
    """A charge rule, a merchant's (scope MERCHANT) or the system's (SYSTEM: no merchant),
    as every charge route answers it (services/fees/models.py render_charge)."""

    charge_id: int
    scope: str
    merchant_id: int | None
    merchant_user_name: str | None
    charge_type: str
    charge_source: str
    charge_category: str
    status: str
    currency: str
    value: float
    statement_narration: str | None
    min_threshold: float
    max_threshold: float | None
    pl_account: str | None
    allow_above_amount: bool
    created_at: str
    updated_at: str


class ChargeCalculationChargesBreakdown(Answer):
    type: str
    value: float
    amount: float


class ChargeCalculation(Answer):
    amount: float
    currency: str
    charges: float
    charges_breakdown: list[ChargeCalculationChargesBreakdown]
    net_amount: float

