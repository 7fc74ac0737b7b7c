"""The three public envelopes, and which family a path belongs to.

    NORAH  /api/v1/...   {timestamp, statusCode, status, message, data[, pagination]}
    NorPay /api/v2/...   {status: "1"|"0", message, result}
    Prices /prices/...   {data}
Anything else (health, docs, internal routes) answers plain JSON.

Amounts in NORAH and Prices are JSON numbers written exactly as their Decimal
(975.00 stays 975.00): money is never turned into a float on the way out.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

from shared import jsontext
from shared.http.errors import ApiError


class Family(enum.Enum):
    NORAH = "norah"
    NORPAY = "norpay"
    PRICES = "prices"
    PLAIN = "plain"


def family_of(path: str) -> Family:
    if path == "/api/v1" or path.startswith("/api/v1/"):
        return Family.NORAH
    if path == "/api/v2" or path.startswith("/api/v2/"):
        return Family.NORPAY
    if path == "/prices" or path.startswith("/prices/"):
        return Family.PRICES
    return Family.PLAIN


def dumps(payload: Any) -> bytes:
    return jsontext.dumps(payload)


def _status_name(status: int) -> str:
    try:
        return HTTPStatus(status).name
    except ValueError:
        return str(status)


def norah_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def json_response(payload: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, headers=headers,
                        content_type="application/json")


def ok(family: Family, result: Any, *, status: int = 200, message: str | None = None,
       pagination: dict[str, Any] | None = None,
       headers: dict[str, str] | None = None) -> web.Response:
    """Render a success in the family's envelope."""
    if family is Family.NORAH:
        body: dict[str, Any] = {
            "timestamp": norah_timestamp(), "statusCode": status,
            "status": _status_name(status),
            "message": message or ("Successfully created new resource" if status == 201
                                   else "Request processed successfully"),
            "data": result,
        }
        if pagination is not None:
            body["pagination"] = pagination
    elif family is Family.NORPAY:
        body = {"status": "1", "message": message or "OK", "result": result}
    elif family is Family.PRICES:
        body = {"data": result}
        if pagination is not None:
            body["pagination"] = pagination
    else:
        body = result
    return json_response(body, status, headers)


def error_body(family: Family, err: ApiError, request_id: str | None) -> dict[str, Any]:
    detail = {"code": err.code, "message": err.message, "field": err.field,
              "request_id": request_id}
    if err.details is not None:
        detail["details"] = err.details
    if family is Family.NORAH:
        return {"timestamp": norah_timestamp(), "statusCode": err.status,
                "status": _status_name(err.status), "message": err.message, "data": None,
                "error": detail}
    if family is Family.NORPAY:
        # The seed's errors read "Error! <message>" with a null result.
        return {"status": "0", "message": f"Error! {err.message}", "result": None}
    return {"error": detail}


def error(family: Family, err: ApiError, request_id: str | None) -> web.Response:
    headers = {"X-Error-Code": err.code, **err.headers}
    return json_response(error_body(family, err, request_id), err.status, headers)
