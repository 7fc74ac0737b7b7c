"""shared.http.envelopes and shared.http.errors: families, exact Decimals, envelope shapes."""

from __future__ import annotations

import re
from decimal import Decimal

import orjson
import pytest
from pydantic import BaseModel, ValidationError, field_validator

from shared.http.envelopes import Family, dumps, error, family_of, ok
from shared.http.errors import ApiError, Errors, from_validation_error

NORAH_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def body_of(response) -> dict:
    return orjson.loads(response.body)


# --- family_of ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/api/v1/x", Family.NORAH),
        ("/api/v1", Family.NORAH),
        ("/api/v1/payments/pay_1/refunds", Family.NORAH),
        ("/api/v10", Family.PLAIN),
        ("/api/v10/x", Family.PLAIN),
        ("/api/v1x", Family.PLAIN),
        ("/api/v2/payments/create", Family.NORPAY),
        ("/api/v2", Family.NORPAY),
        ("/api/v20/payments", Family.PLAIN),
        ("/prices/app_1", Family.PRICES),
        ("/prices", Family.PRICES),
        ("/pricesx", Family.PLAIN),
        ("/healthz", Family.PLAIN),
        ("/", Family.PLAIN),
        ("/api", Family.PLAIN),
    ],
)
def test_family_of_path(path: str, family: Family) -> None:
    assert family_of(path) is family


# --- dumps ----------------------------------------------------------------------------


def test_dumps_writes_decimal_with_its_exact_digits() -> None:
    assert dumps({"amount": Decimal("975.00")}) == b'{"amount":975.00}'


def test_dumps_writes_negative_decimal_as_a_number() -> None:
    assert dumps({"amount": Decimal("-1.5")}) == b'{"amount":-1.5}'


def test_dumps_writes_integral_decimal_without_exponent() -> None:
    assert dumps([Decimal("1E+2"), Decimal(100)]) == b"[100,100]"


def test_dumps_never_rounds_an_18_decimal_amount() -> None:
    text = dumps({"nor": Decimal("123456789.123456789012345678")})
    assert text == b'{"nor":123456789.123456789012345678}'


def test_dumps_writes_decimals_nested_in_lists_and_dicts() -> None:
    payload = {"items": [{"amount": Decimal("10.50"), "fees": [Decimal("0.30"), Decimal(0)]}],
               "total": {"value": Decimal("10.80")}}
    assert dumps(payload) == (
        b'{"items":[{"amount":10.50,"fees":[0.30,0]}],"total":{"value":10.80}}'
    )


def test_dumps_output_is_valid_json_with_decimal_values() -> None:
    parsed = orjson.loads(dumps({"a": [Decimal("975.00"), Decimal("-1.5")]}))
    assert parsed == {"a": [975.0, -1.5]}


def test_dumps_leaves_a_string_with_backslash_u0000d_text_alone() -> None:
    text = r"\u0000D12\u0000"  # literal backslashes, as a client might send them
    payload = {"note": text, "amount": Decimal("1.00")}
    out = dumps(payload)
    assert orjson.loads(out) == {"note": text, "amount": 1.0}
    assert b'"amount":1.00' in out


@pytest.mark.parametrize("payload", [{"note": "\u0000D12\u0000"}, {"\u0000D12\u0000": "key"}],
                         ids=["value", "key"])
def test_dumps_leaves_a_string_with_nul_d_characters_alone(payload: dict) -> None:
    assert orjson.loads(dumps(payload)) == payload


def test_dumps_serialises_pydantic_models_by_alias() -> None:
    class Out(BaseModel):
        merchant_id: str

        model_config = {"alias_generator": lambda name: name.replace("_id", "Id")}

    assert orjson.loads(dumps({"m": Out(merchantId="m_1")})) == {"m": {"merchantId": "m_1"}}


def test_dumps_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})


# --- ok(): success envelopes ----------------------------------------------------------


def test_norah_ok_has_exactly_the_documented_keys() -> None:
    response = ok(Family.NORAH, {"id": "pay_1"})
    body = body_of(response)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert set(body) == {"timestamp", "statusCode", "status", "message", "data"}
    assert NORAH_TIMESTAMP.match(body["timestamp"])
    assert body["statusCode"] == 200
    assert body["status"] == "OK"
    assert isinstance(body["message"], str) and body["message"]
    assert body["data"] == {"id": "pay_1"}


def test_norah_created_says_created() -> None:
    response = ok(Family.NORAH, {"id": "pay_1"}, status=201)
    body = body_of(response)
    assert response.status == 201
    assert body["statusCode"] == 201
    assert body["status"] == "CREATED"
    assert body["message"]


def test_norah_ok_uses_a_given_message() -> None:
    assert body_of(ok(Family.NORAH, [], message="Found 0 payments"))["message"] == \
        "Found 0 payments"


def test_norah_ok_adds_pagination_only_when_given() -> None:
    page = {"page": 1, "size": 20, "total": 41}
    body = body_of(ok(Family.NORAH, [1, 2], pagination=page))
    assert set(body) == {"timestamp", "statusCode", "status", "message", "data", "pagination"}
    assert body["pagination"] == page


def test_norah_ok_writes_amounts_exactly() -> None:
    response = ok(Family.NORAH, {"amount": Decimal("975.00")})
    assert b'"data":{"amount":975.00}' in response.body


def test_norpay_ok_has_exactly_the_documented_keys() -> None:
    response = ok(Family.NORPAY, {"paymentId": "p_1", "amount": "1050"})
    assert response.status == 200
    assert body_of(response) == {"status": "1", "message": "OK",
                                 "result": {"paymentId": "p_1", "amount": "1050"}}


def test_prices_ok_is_only_data() -> None:
    response = ok(Family.PRICES, [{"currency": "usd", "amount": Decimal(50)}])
    assert body_of(response) == {"data": [{"currency": "usd", "amount": 50}]}
    assert response.body == b'{"data":[{"currency":"usd","amount":50}]}'


def test_plain_ok_is_the_payload_itself() -> None:
    assert body_of(ok(Family.PLAIN, {"status": "ok"})) == {"status": "ok"}


def test_ok_passes_extra_headers() -> None:
    response = ok(Family.NORPAY, None, headers={"Location": "/api/v2/payments/p_1"})
    assert response.headers["Location"] == "/api/v2/payments/p_1"


# --- error(): error envelopes -----------------------------------------------------------


def test_norpay_error_reads_exactly_like_the_seed() -> None:
    response = error(Family.NORPAY, ApiError(Errors.AMOUNT_NOT_POSITIVE), "req-1")
    assert response.status == 400
    assert response.body == (
        b'{"status":"0","message":"Error! Amount must be greater than 0","result":null}'
    )
    assert response.headers["X-Error-Code"] == "amount_not_positive"


def test_norah_error_envelope() -> None:
    err = ApiError(Errors.AMOUNT_NOT_POSITIVE, field="amount")
    response = error(Family.NORAH, err, "req-42")
    body = body_of(response)
    assert response.status == 400
    assert response.headers["X-Error-Code"] == "amount_not_positive"
    assert set(body) == {"timestamp", "statusCode", "status", "message", "data", "error"}
    assert NORAH_TIMESTAMP.match(body["timestamp"])
    assert body["statusCode"] == 400
    assert body["status"] == "BAD_REQUEST"
    assert body["message"] == "Amount must be greater than 0"
    assert body["data"] is None
    assert body["error"]["code"] == "amount_not_positive"
    assert body["error"]["field"] == "amount"
    assert body["error"]["request_id"] == "req-42"


def test_norah_error_status_name_follows_the_http_status() -> None:
    body = body_of(error(Family.NORAH, ApiError(Errors.NOT_FOUND, resource="Payment"), None))
    assert (body["statusCode"], body["status"], body["message"]) == \
        (404, "NOT_FOUND", "Payment not found")


def test_prices_and_plain_errors_carry_the_error_object() -> None:
    for family in (Family.PRICES, Family.PLAIN):
        response = error(family, ApiError(Errors.RATE_LIMITED), "r-9")
        assert response.status == 429
        assert body_of(response) == {"error": {
            "code": "rate_limited", "message": "Too many requests; retry later",
            "field": None, "request_id": "r-9"}}


def test_error_passes_the_errors_own_headers() -> None:
    err = ApiError(Errors.RATE_LIMITED, headers={"Retry-After": "5"})
    response = error(Family.NORPAY, err, None)
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Error-Code"] == "rate_limited"


def test_error_details_appear_in_the_norah_error_object() -> None:
    err = ApiError(Errors.CONFLICT, detail="Payment already captured", details={"state": "x"})
    body = body_of(error(Family.NORAH, err, None))
    assert body["statusCode"] == 409
    assert body["message"] == "Payment already captured"
    assert body["error"]["details"] == {"state": "x"}


# --- errors catalogue ---------------------------------------------------------------


def test_api_error_formats_its_message() -> None:
    err = ApiError(Errors.BODY_TOO_LARGE, limit=2048)
    assert err.message == "Request body is larger than the limit of 2048 bytes"
    assert str(err) == err.message
    assert (err.status, err.code) == (413, "body_too_large")


def test_error_codes_are_unique() -> None:
    kinds = [v for k, v in vars(Errors).items() if not k.startswith("_")]
    codes = [kind.code for kind in kinds]
    assert len(codes) == len(set(codes))


class Item(BaseModel):
    amount: int
    currency: str

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        if value != value.upper():
            raise ValueError("must be upper case")
        return value


class Order(BaseModel):
    reference: str
    items: list[Item]


def validation_error(data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as exc_info:
        Order.model_validate(data)
    return exc_info.value


def test_validation_error_names_the_nested_field_path() -> None:
    exc = validation_error({"reference": "o-1",
                            "items": [{"amount": "lots", "currency": "USD"}]})
    err = from_validation_error(exc)
    assert err.status == 400
    assert err.code == "validation_error"
    assert err.field == "items[0].amount"
    assert err.message.startswith("items[0].amount: ")


def test_validation_error_strips_the_value_error_prefix() -> None:
    exc = validation_error({"reference": "o-1", "items": [
        {"amount": 1, "currency": "USD"}, {"amount": 2, "currency": "usd"}]})
    err = from_validation_error(exc)
    assert err.field == "items[1].currency"
    assert err.message == "items[1].currency: must be upper case"


def test_validation_error_lists_every_problem_in_details() -> None:
    exc = validation_error({"items": [{"amount": "x"}]})
    err = from_validation_error(exc)
    fields = {problem["field"] for problem in err.details}
    assert fields == {"reference", "items[0].amount", "items[0].currency"}


def test_validation_error_renders_in_norpay_with_the_field_named() -> None:
    exc = validation_error({"reference": "o-1", "items": [{"amount": "x", "currency": "USD"}]})
    body = body_of(error(Family.NORPAY, from_validation_error(exc), None))
    assert body["status"] == "0"
    assert body["message"].startswith("Error! items[0].amount: ")
    assert body["result"] is None
