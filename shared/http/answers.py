"""What a route answers on success, as a model (RouteDoc.response), and the check that
keeps the model true: with NORGATE_CHECK_ANSWERS on (the test suite runs with it) every
2xx JSON answer of a documented route is validated against its model, strictly and
with no field left undeclared, so the OpenAPI document (shared.http.openapi) says what
the handlers render, not what someone remembered to write down."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

from shared.http.envelopes import Family, family_of
from shared.http.openapi import RouteDoc

_PARAM = re.compile(r"\{[^}]*\}")


def _open_schema(schema: dict[str, Any]) -> None:
    # Checking forbids undeclared fields; the published schema does not, so a client
    # generated from it accepts a field added later (as Stripe's do).
    schema.pop("additionalProperties", None)
    # Field titles pydantic makes from names ("Paymentid") say nothing the name does not.
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class Answer(BaseModel):
    """A documented answer object: camelCase on the wire (an alias per field where the
    key is not its camelCase name), every field the handler renders declared."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid",
                              alias_generator=to_camel, json_schema_extra=_open_schema)


class SnakeAnswer(Answer):
    """An answer whose keys are snake_case, as its family writes them (Prices, NORAH's
    apps): each field's name is its key."""

    model_config = ConfigDict(alias_generator=None)


class Pagination(Answer):
    """Where a NorPay list's page is (shared.http.pagination): its total, exact up to
    1,000 rows and past that the database's estimate (totalIsEstimate)."""

    page: int
    per_page: int = Field(alias="per_page")
    total: int
    next_cursor: str | None
    total_is_estimate: bool | None = None


class Health(Answer):
    """GET /healthz of every service: alive."""

    status: str
    service: str


class Readiness(Answer):
    """GET /readyz of every service: each check "up" or what it is instead (the database,
    the broker, the outbox relay, the consumers, the gateway's upstreams by name)."""

    status: str
    service: str
    checks: dict[str, str]
    waiting_for: list[str] | None = None


# Where each family puts the answer in its envelope (shared.http.envelopes.ok).
_RESULT_KEY = {Family.NORAH: "data", Family.NORPAY: "result", Family.PRICES: "data"}


def result_of(doc: RouteDoc, body: Any) -> Any:
    """The part of a success body that the route's model describes."""
    key = None if doc.bare else _RESULT_KEY.get(family_of(doc.path))
    return body.get(key) if key is not None and isinstance(body, dict) else body


@cache
def _adapter(response: Any) -> TypeAdapter[Any]:
    return TypeAdapter(response)


class AnswerNotAsDocumented(Exception):
    """A handler rendered what its route's model does not describe: a bug, in the
    handler or in the model."""


def check(doc: RouteDoc, body: Any) -> None:
    try:
        # As JSON, strictly: a number is no string, nor a string a number, and an enum
        # is matched by its value.
        _adapter(doc.response).validate_json(json.dumps(result_of(doc, body)), strict=True)
    except ValueError as exc:
        raise AnswerNotAsDocumented(f"{doc.method} {doc.path}: {exc}") from exc


def _template(path: str) -> str:
    # A route and its document may name a parameter differently (fees routes
    # /merchant/charges/{merchantUserName} and /{chargeId}, documented once as {id}).
    return _PARAM.sub("{}", path)


def answer_checker(docs: list[RouteDoc]) -> Middleware:
    """A middleware checking each documented route's success answers (see the module)."""
    documented = {(d.method.upper(), _template(d.path)): d for d in docs
                  if d.response is not None}

    @web.middleware
    async def check_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        resource = request.match_info.route.resource
        doc = documented.get((request.method, _template(resource.canonical))) \
            if resource is not None else None
        if doc is not None and 200 <= response.status < 300 \
                and isinstance(response, web.Response) \
                and response.content_type == "application/json" \
                and isinstance(response.body, bytes | bytearray):
            check(doc, json.loads(response.body))
        return response

    return check_answers
