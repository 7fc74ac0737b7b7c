"""The answers services give each other over InternalClient, one pydantic model each.

A model is read where its answer is received (`answer`, `handler_answer`); what a
producer adds beyond these fields is ignored (`extra="ignore"`), so a new field breaks
no consumer, while a missing or mistyped one is the caller's upstream error.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.http.client import ServiceUnavailable
from shared.http.errors import ApiError, Errors

M = TypeVar("M", bound=BaseModel)


def answer(model: type[M], body: Any, service: str) -> M:
    """`body` read as `model`; a malformed answer raises ServiceUnavailable(`service`)."""
    try:
        return model.model_validate(body)
    except ValidationError:
        raise ServiceUnavailable(service, "unexpected answer") from None


def handler_answer(model: type[M], body: Any, service: str) -> M:
    """For a handler: a malformed answer is the caller's 502 `upstream_unavailable`
    (as InternalClient.get_json has a failing service)."""
    try:
        return model.model_validate(body)
    except ValidationError:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service=service) from None


class MerchantAccount(BaseModel):
    """auth's account of a merchant (`/internal/merchants/{id}`, a payee's, the shorter
    `/internal/merchants/by-uid/{uid}` or `/internal/merchants/resolve`: what it does not
    say is None)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    merchant_id: int = Field(alias="merchantId")
    company_id: int = Field(alias="companyId")
    status: str = "ACTIVE"
    merchant_uid: str | None = Field(default=None, alias="merchantUid")
    rate_plan: str | None = Field(default=None, alias="ratePlan")
    merchant_name: str | None = Field(default=None, alias="merchantName")
    merchant_email: str | None = Field(default=None, alias="merchantEmail")
    web_service_url: str | None = Field(default=None, alias="webServiceUrl")
    return_url: str | None = Field(default=None, alias="returnUrl")
    # None: the merchant named none, so it takes every method (domain.offers).
    payment_methods: list[str] | None = Field(default=None, alias="paymentMethods")
    logo_url: str | None = Field(default=None, alias="logoUrl")
    accent_color: str | None = Field(default=None, alias="accentColor")

    @property
    def inactive(self) -> bool:
        return self.status == "INACTIVE"  # DEVELOPMENT merchants take sandbox payments


class MerchantUser(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    user_id: str = Field(alias="userId", coerce_numbers_to_str=True)
    email: str


class MerchantUsers(BaseModel):
    """auth's `/internal/merchants/{id}/users`: whom to mail, and who each user is."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    emails: list[str]
    users: list[MerchantUser] = []


class Jwks(BaseModel):
    """auth's `/.well-known/jwks.json`: the keys, each a JWK as PyJWK reads it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    keys: list[dict[str, Any]] = []


class TransactionSecret(BaseModel):
    """auth's `/internal/secrets/{kind}/{subject}`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    secret: str


class BatchQuote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    charges: int


class QuoteBatch(BaseModel):
    """fees' `/internal/quotes/batch`: one quote per ask, in order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    quotes: list[BatchQuote]
