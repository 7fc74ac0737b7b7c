"""Internal routes billing calls to collect money (service principals only; the
gateway never routes /internal/...).

    POST /internal/payments
        {merchantId, amount, currency, description, metadata, expiresAt?, charge?,
         livemode?}
        Creates a NorPay payment for the merchant with the same use case as
        /api/v2/payments/create (merchant check, fee quote, payment.created). With
        `expiresAt` (Unix seconds) the hosted checkout stays open until then (an
        invoice's payment link lives until its due date). With `charge` (a saved
        off-session method: NOR_WALLET payer, ZIMSWITCH/INNBUCKS account) it is
        confirmed at once through the same connectors as /confirm, so a sandbox
        wallet without funds or an account ending 0001 fails as it would there.
        `livemode` (JSON true or false, default false): the mode of the object the
        payment is for (an invoice's), which the payment takes (docs/modes.md); a live
        one's `charge` is refused as a live confirm is (payment_method_live_unavailable).
        Answers 201 {paymentId, status, checkoutUrl, failureReason, amount, charges,
        livemode}.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.checkout import domain, payments, store
from services.checkout.connectors import BadPaymentDetails
from services.checkout.context import uow
from services.checkout.errors import api_errors
from services.checkout.payments import units
from services.checkout.ports import AUTH, FEES
from shared.http.envelopes import json_response
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of, read_json
from shared.http.routes import Routes, post
from shared.money import MinorInput, parse_minor_string


class Charge(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    payment_method: Literal["NOR_WALLET", "ZIMSWITCH", "INNBUCKS"] = Field(
        alias="paymentMethod")
    payer: str | None = Field(default=None, max_length=100)
    account: str | None = Field(default=None, max_length=40)


class Collect(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    merchant_id: int = Field(alias="merchantId", ge=1, le=2**63 - 1)
    amount: MinorInput
    currency: str = Field(min_length=2, max_length=5)
    description: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=50)
    expires_at: int | None = Field(default=None, alias="expiresAt", ge=0, le=2**40)
    charge: Charge | None = None
    # Strict: true or false only, never "yes" or 1 read as a mode.
    livemode: bool = Field(default=False, strict=True)


async def collect(request: web.Request) -> web.Response:
    if principal_of(request).kind != "service":
        raise ApiError(Errors.FORBIDDEN)
    body = await read_json(request, Collect)
    money = parse_minor_string(body.amount, body.currency)
    merchant = await request.app[AUTH].merchant(str(body.merchant_id))
    if merchant.inactive:
        raise ApiError(Errors.MERCHANT_INACTIVE)
    quote = await request.app[FEES].quote(merchant.merchant_id, money.currency.code,
                                          money.minor)
    create = domain.CreatePayment.model_validate({
        "amount": str(money.minor), "currency": money.currency.code,
        "description": body.description, "metadata": body.metadata})
    try:
        with api_errors():
            async with uow(request) as work:
                row = await payments.create(work, merchant=merchant, origin="billing",
                                            money=money, body=create, quote=quote,
                                            livemode=body.livemode)
                if body.expires_at is not None:
                    row = await store.update_payment(work.conn, row["id"], {
                        "expires_at": datetime.fromtimestamp(body.expires_at, UTC)})
                if body.charge is not None:
                    confirm = domain.ConfirmPayment.model_validate(
                        body.charge.model_dump(by_alias=True, exclude_none=True))
                    row, _ = await payments.confirm(work, row, confirm)
    except BadPaymentDetails as exc:
        raise ApiError(Errors.VALIDATION, field=f"charge.{exc.field}", detail=str(exc)) from None
    return json_response({
        "paymentId": row["payment_id"], "status": row["status"],
        "failureReason": row["failure_reason"], "amount": units(row["amount"]),
        "charges": units(row["charges"]), "currency": row["currency"],
        "checkoutUrl": f"{request.app[SETTINGS].public_url}/checkout/{row['payment_id']}",
        "expiresAt": str(int(row["expires_at"].timestamp())),
        "livemode": row["livemode"]}, status=201)


# Internal only (billing collects an invoice): not in the public OpenAPI document.
ROUTES = Routes(
    post("/internal/payments", collect, None),
)
