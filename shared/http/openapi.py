"""OpenAPI documents: each service describes its public routes; the gateway merges them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter

from shared.http.envelopes import Family, family_of

OPENAPI_VERSION = "3.1.0"

_ENVELOPES: dict[Family, dict[str, Any]] = {
    Family.NORAH: {
        "type": "object",
        "description": "NORAH envelope",
        "properties": {"timestamp": {"type": "string"}, "statusCode": {"type": "integer"},
                       "status": {"type": "string"}, "message": {"type": "string"},
                       "data": {}, "pagination": {"type": "object"}},
    },
    Family.NORPAY: {
        "type": "object",
        "description": "NorPay envelope",
        "properties": {"status": {"type": "string", "enum": ["1", "0"]},
                       "message": {"type": "string"}, "result": {}},
    },
    Family.PRICES: {"type": "object", "description": "Prices envelope",
                    "properties": {"data": {}}},
    Family.PLAIN: {"type": "object"},
}

# What a success envelope always holds (shared/http/envelopes.ok).
_REQUIRED = {Family.NORAH: ["timestamp", "statusCode", "status", "message", "data"],
             Family.NORPAY: ["status", "message", "result"], Family.PRICES: ["data"]}

# What every route may answer besides its success: the error catalogue rendered in the
# family's envelope (shared/http/envelopes.py error_body).
_ERROR_DETAIL = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                   "field": {"type": ["string", "null"]},
                   "request_id": {"type": ["string", "null"]}, "details": {}},
}
_ERRORS: dict[Family, dict[str, Any]] = {
    Family.NORAH: {
        "type": "object", "description": "NORAH error envelope",
        "required": ["timestamp", "statusCode", "status", "message", "error"],
        "properties": {"timestamp": {"type": "string"}, "statusCode": {"type": "integer"},
                       "status": {"type": "string"}, "message": {"type": "string"},
                       "data": {"type": "null"}, "error": _ERROR_DETAIL},
    },
    Family.NORPAY: {
        "type": "object", "description": "NorPay error envelope",
        "required": ["status", "message"],
        "properties": {"status": {"const": "0"}, "message": {"type": "string"},
                       "result": {"type": "null"}},
    },
    Family.PRICES: {"type": "object", "description": "Prices error envelope",
                    "required": ["error"], "properties": {"error": _ERROR_DETAIL}},
    Family.PLAIN: {"type": "object", "description": "Error", "required": ["error"],
                   "properties": {"error": _ERROR_DETAIL}},
}
_PATH_PARAM = re.compile(r"{([^}/]+)}")


# RouteDoc.extra of a route whose success is a PDF, not JSON.
PDF: dict[str, Any] = {"responses": {"200": {"description": "The PDF", "content": {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}}


@dataclass(frozen=True)
class Auth:
    """Who may call a route: what the gateway asks for (services/gateway/authn.py) and
    the roles the handler allows. Documentation only: it is enforced there, not here;
    the document's `security` derives from it."""

    public: bool = False  # no credentials (the gateway's is_public)
    # The roles the handler allows, where it names some (empty: any signed-in caller).
    roles: tuple[str, ...] = ()
    # A publishable key only, from one of its origins (the widget's routes, cors.py).
    # Its `security` is the API key's and the token's, as the document has always said.
    publishable: bool = False

    def security(self) -> list[dict[str, list[str]]]:
        # A public route says so (an empty requirement), rather than leaving it unsaid.
        return [] if self.public else [{"bearerAuth": []}, {"apiKey": []}]


PUBLIC = Auth(public=True)
SIGNED_IN = Auth()  # an access token or a secret API key
PUBLISHABLE_KEY = Auth(publishable=True)


def roles(*names: str) -> Auth:
    return Auth(roles=names)


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    tags: tuple[str, ...] = ()
    request: type[BaseModel] | None = None
    # The success's model (shared.http.answers.Answer), or a type of them (list[...]).
    response: Any = None
    status: int = 200
    # Auth, or a bool as before: False is PUBLIC, True SIGNED_IN.
    auth: Auth | bool = SIGNED_IN
    extra: dict[str, Any] = field(default_factory=dict)
    # The success is the bare answer, in no envelope (NORAH's sign-in and refresh).
    bare: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.auth, bool):
            object.__setattr__(self, "auth", SIGNED_IN if self.auth else PUBLIC)

    @property
    def access(self) -> Auth:
        return self.auth if isinstance(self.auth, Auth) else SIGNED_IN


def _add_component(components: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    # One name, one schema: two models of one name would leave the document describing
    # one of them with the other's fields.
    if name in components and components[name] != schema:
        raise ValueError(f"two models are documented as {name}")
    components[name] = schema


def _schema_ref(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    """A reference to `model`'s schema in the components (a model), or the schema of a
    type of models (list[Model]) referring to theirs."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        named: str | None = model.__name__
    else:
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        named = None
    for name, sub in schema.pop("$defs", {}).items():
        _add_component(components, name, sub)
    if named is None:
        return schema
    _add_component(components, named, schema)
    return {"$ref": f"#/components/schemas/{named}"}


_WORDS = re.compile(r"[^0-9A-Za-z]+")
_VERSION = re.compile(r"^v\d+$")
_PIECES = re.compile(r"\{([^}]+)\}|([^{]+)")


def operation_id(method: str, path: str) -> str:
    """A stable name for an operation from its method and path, as generators want one:
    GET /api/v2/payments/{paymentId} is getPaymentsByPaymentId. The API and version
    segments are dropped; a path parameter reads "By<Name>"."""
    words = [method.lower()]
    for segment in path.strip("/").split("/"):
        if segment in ("api", "") or _VERSION.match(segment):
            continue
        for param, text in _PIECES.findall(segment):  # {receiptId}.pdf: two pieces
            if param:
                words.append("By" + param[:1].upper() + param[1:])
            else:
                words += [w[:1].upper() + w[1:] for w in _WORDS.split(text) if w]
    return "".join(words)


def _error_name(family: Family) -> str:
    return {Family.NORAH: "NorahError", Family.NORPAY: "NorPayError",
            Family.PRICES: "PricesError", Family.PLAIN: "Error"}[family]


# The errors every route may answer (the catalogue, shared/http/errors.py), by when.
_CLIENT_ERRORS = {
    "400": "The request is invalid: the message names the field",
    "401": "No valid credentials (API key or access token)",
    "403": "Authenticated, but not allowed",
    "404": "No such object, or another tenant's",
    "409": "The object's state forbids it, or the Idempotency-Key was used for another request",
    "429": "Too many requests: wait Retry-After seconds",
}


def _errors(doc: RouteDoc, family: Family) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{_error_name(family)}"}
    wanted = ["400"]
    if not doc.access.public:
        wanted += ["401", "403", "429"]
    if _PATH_PARAM.search(doc.path):
        wanted.append("404")
    if doc.method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
        wanted.append("409")
    out = {code: {"description": _CLIENT_ERRORS[code],
                  "content": {"application/json": {"schema": ref}}}
           for code in sorted(wanted)}
    out["default"] = {"description": "Any other error of the catalogue (5xx: retry later)",
                      "content": {"application/json": {"schema": ref}}}
    return out


def build_spec(title: str, docs: list[RouteDoc], version: str = "1.0.0",
               servers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {_error_name(f): schema for f, schema in _ERRORS.items()}
    for doc in docs:
        family = family_of(doc.path)
        envelope: dict[str, Any] = (dict(_ENVELOPES[family]) if not doc.bare
                                    else {"type": "object"})
        if doc.response is not None:
            key = None if doc.bare else {Family.NORAH: "data", Family.NORPAY: "result",
                                         Family.PRICES: "data"}.get(family)
            ref = _schema_ref(doc.response, components)
            # The envelope's answer is always there: a generated client types it as the
            # model, not "the model or unset".
            envelope = ({**envelope, "properties": {**envelope["properties"], key: ref},
                         "required": _REQUIRED[family]} if key else ref)
        extra = dict(doc.extra)
        responses = {**_errors(doc, family),
                     str(doc.status): {"description": "Success", "content": {
                         "application/json": {"schema": envelope}}},
                     **extra.pop("responses", {})}
        op: dict[str, Any] = {
            "operationId": operation_id(doc.method, doc.path),
            "summary": doc.summary,
            "description": doc.summary,
            "tags": list(doc.tags),
            "responses": dict(sorted(responses.items())),
            **extra,
        }
        names = _PATH_PARAM.findall(doc.path)
        if names and "parameters" not in op:
            op["parameters"] = [{"name": n, "in": "path", "required": True,
                                 "schema": {"type": "string"}} for n in names]
        if doc.request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _schema_ref(doc.request, components)}}}
        op["security"] = doc.access.security()
        paths.setdefault(doc.path, {})[doc.method.lower()] = op
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version,
                 "description": "norgate: the NorPay, NORAH and Prices APIs on one gateway",
                 "license": {"name": "Proprietary", "identifier": "LicenseRef-norgate"}},
        "servers": servers or [{"url": "/", "description": "This gateway"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def merge_specs(title: str, specs: list[dict[str, Any]], version: str = "1.0.0",
                servers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    merged = build_spec(title, [], version, servers)
    for spec in specs:
        for path, ops in spec.get("paths", {}).items():
            merged["paths"].setdefault(path, {}).update(ops)
        schemas = merged["components"]["schemas"]
        for name, schema in spec.get("components", {}).get("schemas", {}).items():
            # One name, one schema: two services' models of one name would otherwise
            # leave the document describing one with the other's fields.
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"two services document different schemas as {name}")
            schemas[name] = schema
    merged["paths"] = dict(sorted(merged["paths"].items()))
    tags = sorted({t for ops in merged["paths"].values() for op in ops.values()
                   for t in op.get("tags", [])})
    merged["tags"] = [{"name": t, "description": f"The {t} routes"} for t in tags]
    return merged
