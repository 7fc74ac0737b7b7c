"""Quotes: the NORAH test calculation, and the internal endpoints checkout and
billing call at payment and payout time. Every quote is computed from the in-memory
rule cache (rules_cache.py): no database round trip, once its lease is current.

Categories are the rules' free-form `chargeCategory`: payments are quoted in
TRANSACTION (the default), payouts in PAYOUT (docs/fees.md). The payout scheduler
quotes many merchants at once through `/internal/quotes/batch`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.fees import answers, domain
from services.fees.context import resolve_merchant, resolve_user
from services.fees.rules_cache import RULES, RuleCache
from shared.authz import require
from shared.http.client import ServiceUnavailable
from shared.http.envelopes import Family, json_response, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of, read_json
from shared.http.routes import Routes, get, post
from shared.money import (
    MajorInput,
    MinorInput,
    Money,
    MoneyError,
    parse_major,
    parse_minor_string,
    to_major_decimal,
    to_major_number,
)

DEFAULT_CATEGORY = "TRANSACTION"  # payments
PAYOUT_CATEGORY = "PAYOUT"  # payouts' fees (billing's payouts)
MAX_BATCH = 1000


class TestCalculation(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    amount: MajorInput
    currency: str = Field(min_length=2, max_length=5)
    user_email: str | None = Field(default=None, min_length=3, max_length=254,
                                   pattern=r"^[^\x00]+$")
    category: str = Field(default=DEFAULT_CATEGORY, alias="chargeCategory", min_length=1,
                          max_length=50)


class QuoteRequest(BaseModel):
    """Internal: amount in minor units (a string, as wei need)."""

    model_config = ConfigDict(populate_by_name=True)

    merchant_id: int | None = Field(default=None, alias="merchantId", ge=1, le=2**63 - 1)
    currency: str = Field(min_length=2, max_length=5)
    amount: MinorInput
    category: str = Field(default=DEFAULT_CATEGORY, min_length=1, max_length=50)


class BatchQuoteRequest(BaseModel):
    """Internal: up to MAX_BATCH quotes in one call (the payout scheduler's)."""

    quotes: list[QuoteRequest] = Field(max_length=MAX_BATCH)


class QuoteLine(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    charge_id: int = Field(serialization_alias="chargeId")
    type: str
    value: Decimal  # the rule's value, a JSON number (1.5)
    amount: str


class QuoteAnswer(BaseModel):
    """One quote, amounts in minor units as strings; the version of the rules it was
    made with, as checkout's QuoteCache needs it."""

    model_config = ConfigDict(serialize_by_alias=True)

    currency: str
    category: str
    merchant_id: int | None = Field(serialization_alias="merchantId")
    amount: str
    charges: str
    net_amount: str = Field(serialization_alias="netAmount")
    breakdown: list[QuoteLine]
    rules_version: int = Field(serialization_alias="rulesVersion")
    rules_age: float = Field(serialization_alias="rulesAge")
    quoted_at: str = Field(serialization_alias="quotedAt")


class BatchQuoteAnswer(BaseModel):
    quotes: list[QuoteAnswer]  # in the order asked


class PriceItemRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    merchant_id: int | None = Field(default=None, alias="merchantId", ge=1, le=2**63 - 1)
    currency: str = Field(min_length=2, max_length=5)
    amount: MajorInput
    # The app's fee as auth stores it (numeric(9, 4)); the places bound a string such
    # as "1e-999999999" too, which lax Decimal takes and the answer would write out.
    app_fee: Decimal = Field(default=Decimal(0), ge=0, le=100, decimal_places=4)
    app_type: Literal["individual", "marketplace"] = "individual"


def _priced(rules: RuleCache, merchant_id: int | None, money: Money,
            category: str) -> domain.Quote:
    """The quote of one amount from the cache as it is (the caller made it current)."""
    category = category.upper()
    return domain.quote(rules.candidates(money.currency.code, category),
                        merchant_id=merchant_id, currency=money.currency, category=category,
                        amount_minor=money.minor)


async def _quote(request: web.Request, merchant_id: int | None, money: Money,
                 category: str) -> domain.Quote:
    rules = request.app[RULES]
    await rules.current()  # every rule written before this request is in the cache
    return _priced(rules, merchant_id, money, category)


def _major(minor: int, money: Money) -> Decimal:
    return to_major_decimal(Money(minor, money.currency))


async def _merchant_for(request: web.Request, user_email: str | None) -> int | None:
    """Whose rules: the merchant named by user_email (within the caller's scope), the
    caller's own merchant, or none (system rules: the e-mail is a login the caller may
    see that is not a merchant's, such as the seed's admin@company.com). Any other
    e-mail is a 404 naming it, never a silent quote of the system rules; another
    tenant's merchant or login reads exactly like an unknown address."""
    who = require(request, allow_keys=True)
    if user_email is None:
        return int(who.merchant_id) if who.merchant_id else None
    try:
        found = await resolve_merchant(request, user_email)
        login = None if found is not None else await resolve_user(request, user_email)
    except ServiceUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth") from None
    def sees(company_id: str | None) -> bool:
        return who.role == "SUPER" or (who.role == "ADMIN" and company_id == who.company_id)

    if found is not None and (sees(str(found.company_id))
                              or str(found.merchant_id) == who.merchant_id):
        return found.merchant_id
    if login is not None and login.role != "MERCHANT" and sees(login.company_id):
        return None
    raise ApiError(Errors.USER_EMAIL_UNKNOWN, field="user_email", email=user_email)


async def test_charge_calculation(request: web.Request) -> web.Response:
    body = await read_json(request, TestCalculation)
    money = parse_major(body.amount, body.currency)
    merchant_id = await _merchant_for(request, body.user_email)
    quote = await _quote(request, merchant_id, money, body.category)
    return ok(Family.NORAH, {
        "amount": to_major_decimal(money),
        "currency": money.currency.code,
        "charges": _major(quote.charges_minor, money),
        "chargesBreakdown": [{"type": line.charge_type, "value": line.value,
                              "amount": _major(line.amount_minor, money)}
                             for line in quote.lines],
        "netAmount": _major(quote.net_minor, money),
    }, message="Charge calculation completed")


def _require_service(request: web.Request) -> None:
    if principal_of(request).kind != "service":
        raise ApiError(Errors.FORBIDDEN)


async def _internal_quotes(request: web.Request, asked: list[QuoteRequest], *,
                           where: str = "") -> list[QuoteAnswer]:
    """The quotes of `asked`, in order: the one quoting path of both internal routes.
    `where` prefixes a bad amount's field (quotes[3].), so a batch names the item."""
    rules = request.app[RULES]
    await rules.current()  # once for the whole batch: every item sees the same rules
    priced: list[tuple[QuoteRequest, domain.Quote]] = []
    for i, body in enumerate(asked):
        try:
            money = parse_minor_string(body.amount, body.currency)
        except MoneyError as exc:
            if not where:
                raise
            field = f"{where}[{i}].{exc.field or 'amount'}"
            raise ApiError(Errors.VALIDATION, field=field,
                           detail=f"{field}: {exc.message}") from None
        priced.append((body, _priced(rules, body.merchant_id, money, body.category)))
    version, age = rules.version, round(rules.lease.age(), 6)
    quoted_at = datetime.now(UTC).isoformat()
    return [QuoteAnswer(
        currency=quote.currency.code, category=quote.category, merchant_id=body.merchant_id,
        amount=str(quote.amount_minor), charges=str(quote.charges_minor),
        net_amount=str(quote.net_minor),
        breakdown=[QuoteLine(charge_id=line.rule_id, type=line.charge_type, value=line.value,
                             amount=str(line.amount_minor)) for line in quote.lines],
        rules_version=version, rules_age=age, quoted_at=quoted_at)
        for body, quote in priced]


async def internal_quote(request: web.Request) -> web.Response:
    """The quote checkout and billing store with a payment (minor units as strings)."""
    _require_service(request)
    body = await read_json(request, QuoteRequest)
    [answer] = await _internal_quotes(request, [body])
    return json_response(answer.model_dump())


async def internal_quote_batch(request: web.Request) -> web.Response:
    """Many quotes in one call, answered in order (the payout scheduler quotes every
    due merchant's payout fee in a few calls, not one per merchant)."""
    _require_service(request)
    body = await read_json(request, BatchQuoteRequest)
    answers = await _internal_quotes(request, body.quotes, where="quotes")
    return json_response(BatchQuoteAnswer(quotes=answers).model_dump())


def _rules_version(request: web.Request) -> dict:
    """The version the answer was made with, and how long ago it was last confirmed:
    a cache of fees' answers holds the same lease (checkout's QuoteCache)."""
    rules = request.app[RULES]
    return {"rulesVersion": rules.version, "rulesAge": round(rules.lease.age(), 6)}


async def internal_rules_version(request: web.Request) -> web.Response:
    """The rules' current version (checkout checks its cached quotes against it)."""
    _require_service(request)
    await request.app[RULES].current()
    return json_response(_rules_version(request))


async def internal_price_item(request: web.Request) -> web.Response:
    """The Prices seed's `price_item` for an amount, the platform settings and an app."""
    _require_service(request)
    body = await read_json(request, PriceItemRequest)
    settings = request.app[SETTINGS]
    money = parse_major(body.amount, body.currency)
    fees = domain.PriceFees(settings.price_provider_fee_percent,
                            settings.price_provider_min_fee,
                            settings.price_platform_fee_percent, body.app_fee, body.app_type)
    charges = (await _quote(request, body.merchant_id, money, DEFAULT_CATEGORY)).charges_minor
    try:
        item = domain.price_item(money.minor, money.currency, fees,
                                 transaction_fee_minor=charges)
    except ValueError as exc:
        raise ApiError(Errors.VALIDATION, field="amount", detail=f"amount: {exc}") from None

    def number(minor: int) -> int | Decimal:
        # Exact (normalize() would round a NOR amount to 28 digits).
        return to_major_number(Money(minor, money.currency))

    return json_response({
        "currency": body.currency.lower(),
        "provider_processing_fee_percent": fees.provider_processing_fee_percent,
        "provider_min_amount_fee": fees.provider_min_amount_fee,
        "app_fee": body.app_fee, "app_type": body.app_type,
        "platform_fee": fees.platform_fee,
        "amount": number(item.amount), "amount_total": number(item.amount_total),
        "amount_platform": number(item.amount_platform),
        "amount_seller": number(item.amount_seller), "amount_app": number(item.amount_app),
        "amount_transaction_fee": number(item.amount_transaction_fee),
    })


ROUTES = Routes(
    post("/api/v1/test-charge-calculation", test_charge_calculation,
         "What the charges on an amount would be (the merchant of user_email, or yours)",
         ("charges",), request=TestCalculation, response=answers.ChargeCalculation),
    # Checkout's and billing's calls: not part of the public API.
    post("/internal/quotes", internal_quote, None),
    post("/internal/quotes/batch", internal_quote_batch, None),
    post("/internal/price-items", internal_price_item, None),
    get("/internal/rules-version", internal_rules_version, None),
)
