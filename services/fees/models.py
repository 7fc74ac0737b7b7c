"""Charge rules as the NORAH API sends and shows them: request models and rendering; no I/O.

Amounts arrive as JSON numbers, which `read_json` parses to `Decimal` (never
float), and stay `Decimal` down to the numeric columns. A FLAT value and both
thresholds are amounts in major units of the rule's currency, so they may have
no more decimals than that currency (1.234 USD is refused, never rounded); a
PERCENTAGE value is a rate from 0 to 100 with up to 18 decimals (the column's
scale, so PostgreSQL never rounds what was sent).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from shared import jsontext
from shared.money import MoneyError, get_currency, parse_major

ChargeType = Literal["FLAT", "PERCENTAGE"]
ChargeStatus = Literal["ACTIVE", "INACTIVE"]
CHARGE_STATUSES = ("ACTIVE", "INACTIVE")
SCALE = 18  # decimals the numeric columns keep
VALUE_DIGITS = 22  # integer digits of numeric(40, 18)
THRESHOLD_DIGITS = 60  # integer digits of numeric(78, 18)


def plain(value: Decimal) -> Decimal:
    """The same number without trailing zeros or an exponent: 1.500000000000000000 -> 1.5,
    0E-18 -> 0, 1E+9 -> 1000000000. Built from the digit tuple, so no context rounds it
    (`Decimal.normalize` keeps only 28 digits). Only for bounded (validated or stored)
    values: a positive exponent is written out as zeros (`_number` bounds requests')."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN or infinity has no digits
        raise ValueError("must be a finite number")
    if not any(digits):
        return Decimal(0)
    coefficient = list(digits)
    while exponent < 0 and coefficient[-1] == 0:
        coefficient.pop()
        exponent += 1
    if exponent > 0:
        coefficient += [0] * exponent
        exponent = 0
    return Decimal((sign, tuple(coefficient), exponent))


def _places(value: Decimal) -> int:
    exponent = plain(value).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _fits(value: Decimal, integer_digits: int) -> bool:
    return value.is_zero() or value.adjusted() < integer_digits


def _number(value: Any) -> Decimal:
    """A JSON number (int or Decimal from read_json; a float only from Python callers),
    within read_json's bound whoever calls: the validators below and plain() write the
    number out, and 1e999999999 written out is a billion digits."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    number: int | Decimal
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        number = Decimal(str(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("must be a finite number")
        number = value
    else:
        raise ValueError("must be a number")
    if not jsontext.in_range(number):
        raise ValueError(jsontext.OUT_OF_RANGE)
    return Decimal(number)


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _zero_when_null(value: Any) -> Any:
    return Decimal(0) if value is None else value


Number = Annotated[Decimal, BeforeValidator(_number), WithJsonSchema({"type": "number"})]
Upper = BeforeValidator(_upper)


def _as_amount(value: Decimal, currency: str, field: str) -> None:
    """Refuse an amount the currency cannot hold exactly (too many decimals, negative)."""
    try:
        parse_major(value, currency, field, allow_zero=True)
    except MoneyError as exc:
        raise ValueError(exc.message.removeprefix(f"{field} ")) from None


class ChargeFields(BaseModel):
    """One charge rule's fields (POST body, and the whole of a PUT body).

    Field order matters: a validator sees only the fields declared before it, so
    chargeType and currency come before the amounts, and maxThreshold before
    minThreshold (a minimum above the maximum is reported on minThreshold).
    """

    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True,
                              extra="forbid")

    charge_type: Annotated[ChargeType, Upper] = Field(alias="chargeType")
    charge_source: Annotated[str, Upper] = Field(alias="chargeSource", min_length=1,
                                                  max_length=50)
    charge_category: Annotated[str, Upper] = Field(alias="chargeCategory", min_length=1,
                                                    max_length=50)
    status: Annotated[ChargeStatus, Upper]
    currency: Annotated[str, Upper] = Field(min_length=1, max_length=16)
    value: Number
    statement_narration: str | None = Field(default=None, alias="statementNarration",
                                            max_length=255)
    max_threshold: Number | None = Field(default=None, alias="maxThreshold")
    min_threshold: Annotated[Number, BeforeValidator(_zero_when_null)] = Field(
        default=Decimal(0), alias="minThreshold", json_schema_extra={"default": 0})
    pl_account: str | None = Field(default=None, alias="plAccount", max_length=100)
    allow_above_amount: bool = Field(default=False, alias="allowAboveAmount", strict=True)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            return get_currency(value).code
        except MoneyError as exc:
            raise ValueError(exc.message) from None

    @field_validator("value")
    @classmethod
    def _value(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if value < 0:
            raise ValueError("must not be negative")
        kind, currency = info.data.get("charge_type"), info.data.get("currency")
        if kind == "PERCENTAGE":
            if value > 100:
                raise ValueError("a PERCENTAGE must be from 0 to 100")
            if _places(value) > SCALE:
                raise ValueError(f"a PERCENTAGE has at most {SCALE} decimal places")
        elif kind == "FLAT":
            if currency is not None:
                _as_amount(value, currency, "value")
            if not _fits(value, VALUE_DIGITS):
                raise ValueError("is too large")
        return plain(value)

    @field_validator("max_threshold", "min_threshold")
    @classmethod
    def _threshold(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is None:
            return None
        name = "maxThreshold" if info.field_name == "max_threshold" else "minThreshold"
        if value < 0:
            raise ValueError("must not be negative")
        if (currency := info.data.get("currency")) is not None:
            _as_amount(value, currency, name)
        if not _fits(value, THRESHOLD_DIGITS):
            raise ValueError("is too large")
        value = plain(value)
        upper = info.data.get("max_threshold")
        if info.field_name == "min_threshold" and upper is not None and value > upper:
            raise ValueError(f"must not be above maxThreshold ({upper:f})")
        return value

    @field_validator("allow_above_amount")
    @classmethod
    def _allow_above(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("charge_type") == "PERCENTAGE":
            raise ValueError("only a FLAT rule may charge more than the transaction amount")
        return value


class SystemCharge(ChargeFields):
    """POST /api/v1/system/charges/add and PUT /api/v1/system/charges/{chargeId}."""


class NewMerchantCharge(ChargeFields):
    """POST /api/v1/merchant/charges/add: the rule and the merchant it is for."""

    merchant_user_name: str = Field(alias="merchantUserName", min_length=3, max_length=254)


class ReplaceMerchantCharge(ChargeFields):
    """PUT /api/v1/merchant/charges/{chargeId}: the whole rule. `merchantUserName` may be
    sent back as it is, but a charge never moves to another merchant."""

    merchant_user_name: str | None = Field(default=None, alias="merchantUserName",
                                           max_length=254)


def render_charge(row) -> dict:
    return {
        "chargeId": row["id"], "scope": row["scope"], "merchantId": row["merchant_id"],
        "merchantUserName": row["merchant_user_name"], "chargeType": row["charge_type"],
        "chargeSource": row["charge_source"], "chargeCategory": row["charge_category"],
        "status": row["status"], "currency": row["currency"], "value": plain(row["value"]),
        "statementNarration": row["statement_narration"],
        "minThreshold": plain(row["min_threshold"]),
        "maxThreshold": None if row["max_threshold"] is None else plain(row["max_threshold"]),
        "plAccount": row["pl_account"], "allowAboveAmount": row["allow_above_amount"],
        "createdAt": row["created_at"].isoformat(), "updatedAt": row["updated_at"].isoformat(),
    }


def event_data(row) -> dict:
    """What charge.created|updated|deleted carry (enough for caches to reload)."""
    return {"chargeId": row["id"], "scope": row["scope"], "merchantId": row["merchant_id"],
            "currency": row["currency"], "chargeCategory": row["charge_category"],
            "status": row["status"]}


def event_ids(row) -> dict:
    """The envelope's company_id/merchant_id, where the rule has them."""
    return {"company_id": None if row["company_id"] is None else str(row["company_id"]),
            "merchant_id": None if row["merchant_id"] is None else str(row["merchant_id"])}
