"""OpenAPI documents: each service describes its public routes; the gateway merges them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

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


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    tags: tuple[str, ...] = ()
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_spec(title: str, docs: list[RouteDoc], version: str = "1.0.0") -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for doc in docs:
        family = family_of(doc.path)
        envelope = dict(_ENVELOPES[family])
        if doc.response is not None:
            key = {Family.NORAH: "data", Family.NORPAY: "result",
                   Family.PRICES: "data"}.get(family)
            ref = _schema_ref(doc.response, components)
            envelope = ({**envelope, "properties": {**envelope["properties"], key: ref}}
                        if key else ref)
        op: dict[str, Any] = {
            "summary": doc.summary,
            "tags": list(doc.tags),
            "responses": {
                str(doc.status): {"description": "Success",
                                  "content": {"application/json": {"schema": envelope}}},
                "default": {"description": "Error (the error catalogue)",
                            "content": {"application/json": {"schema": _ERRORS[family]}}}},
            **doc.extra,
        }
        names = _PATH_PARAM.findall(doc.path)
        if names and "parameters" not in op:
            op["parameters"] = [{"name": n, "in": "path", "required": True,
                                 "schema": {"type": "string"}} for n in names]
        if doc.request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _schema_ref(doc.request, components)}}}
        if doc.auth:
            op["security"] = [{"bearerAuth": []}, {"apiKey": []}]
        paths.setdefault(doc.path, {})[doc.method.lower()] = op
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def merge_specs(title: str, specs: list[dict[str, Any]], version: str = "1.0.0") -> dict:
    merged = build_spec(title, [], version)
    for spec in specs:
        for path, ops in spec.get("paths", {}).items():
            merged["paths"].setdefault(path, {}).update(ops)
        merged["components"]["schemas"].update(
            spec.get("components", {}).get("schemas", {}))
    merged["paths"] = dict(sorted(merged["paths"].items()))
    return merged
