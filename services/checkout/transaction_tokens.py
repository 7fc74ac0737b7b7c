"""NORAH payment tokens: `/api/v1/transaction/{u,m}/generate` and `/transaction/verify`.

A token is an HS256 JWT signed with the transaction-signing secret of a user (`u`)
or a merchant (`m`); auth keeps those secrets sealed and opens them for checkout over
internal HTTP. Tokens live 60 seconds. Regenerating a secret invalidates every token
signed with the old one.

A token carries the mode of the principal that generated it (`livemode`, docs/modes.md):
the page's payment is made in that mode; a token without the claim (made before modes
existed) is a test one. Like every claim it is the signer's word (a signer can sign
offline too), and no more than the signer could do with its own credentials.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal
from urllib.parse import urlencode

import jwt
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.checkout import answers
from services.checkout.context import CLIENT
from services.checkout.ports import AUTH
from services.checkout.transactions_api import merchant_in_scope
from shared.authz import require
from shared.http.client import InternalClient
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.routes import Routes, post
from shared.internal_answers import TransactionSecret, handler_answer
from shared.money import MajorInput, parse_major, to_major_decimal

TOKEN_TTL_SECONDS = 60
KIND_OF = {"u": "user", "m": "merchant"}
MESSAGE_OF = {"u": "Successfully created a user payment token",
              "m": "Successfully created a merchant payment token"}


class GenerateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: MajorInput
    currency: str = Field(min_length=2, max_length=5)
    # Which merchant a user token pays: a MERCHANT user's own; for an ADMIN the
    # company's default merchant, or this one of the company's merchants instead.
    merchant_uid: str | None = Field(default=None, alias="merchantUid", max_length=64)


class VerifyToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=4096)
    type: Literal["u", "m"]


async def fetch_secret(client: InternalClient, kind: Literal["u", "m"], subject: str) -> str | None:
    """The signing secret of user/merchant `subject`; None when auth knows no such one."""
    body = await client.get_json("auth", f"/internal/secrets/{KIND_OF[kind]}/{subject}")
    if body is None:
        return None
    return handler_answer(TransactionSecret, body, "auth").secret


def sign_token(secret: str, *, kind: str, subject: str, merchant_id: str | None,
               amount: str, currency: str, livemode: bool, now: int | None = None,
               ttl: int = TOKEN_TTL_SECONDS) -> str:
    iat = int(time.time()) if now is None else now
    claims = {"amount": amount, "currency": currency, "type": kind, "sub": subject,
              "iat": iat, "exp": iat + ttl, "jti": uuid.uuid4().hex, "livemode": livemode}
    if merchant_id:
        claims["mid"] = merchant_id
    return jwt.encode(claims, secret, algorithm="HS256")


async def verify_transaction_token(client: InternalClient, token: str, kind: Literal["u", "m"], *,
                                   leeway: int = 0) -> dict[str, Any]:
    """The token's claims once its signature (with its subject's secret), expiry and
    type check out; ApiError otherwise. Signature is checked before expiry, so a
    tampered token is reported as invalid even when it has also expired."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="token",
                       detail="not a payment token") from None
    subject = unverified.get("sub")
    if header.get("alg") != "HS256" or not isinstance(subject, str) \
            or not (subject.isascii() and subject.isdigit()) or len(subject) > 18:
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="token",
                       detail="not a payment token")
    secret = await fetch_secret(client, kind, subject)
    if secret is None:
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="token",
                       detail="unknown signer")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], leeway=leeway,
                            options={"require": ["exp", "iat", "sub", "jti"]})
    except jwt.ExpiredSignatureError:
        raise ApiError(Errors.PAYMENT_TOKEN_EXPIRED, field="token") from None
    except jwt.InvalidSignatureError:
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="token",
                       detail="the signature does not match") from None
    except jwt.InvalidTokenError as exc:
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="token", detail=str(exc)) from None
    if claims.get("type") != kind:
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="type",
                       detail=f"it is not a type {kind} token")
    if not isinstance(claims.setdefault("livemode", False), bool):  # absent: test mode
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="token",
                       detail="its livemode claim must be true or false")
    return claims


async def _generate(request: web.Request, kind: Literal["u", "m"]) -> web.Response:
    if kind == "u":
        who = require(request)
        subject = who.subject
    else:
        who = require(request, "MERCHANT", allow_keys=True)
        subject = who.merchant_id
    if not subject:
        raise ApiError(Errors.FORBIDDEN)
    body = await read_json(request, GenerateToken)
    money = parse_major(body.amount, body.currency)
    merchant_id = who.merchant_id
    if body.merchant_uid is not None:
        if kind == "m":
            raise ApiError(Errors.VALIDATION, field="merchantUid",
                           detail="merchantUid: a merchant token pays its own merchant")
        found = await merchant_in_scope(request.app[AUTH], who, uid=body.merchant_uid)
        merchant_id = str(found.merchant_id)
    elif merchant_id is None:
        # An ADMIN's token pays the company's default merchant, named in the token so the
        # page pays the one chosen now. None at all: the page says so.
        payee = await request.app[AUTH].payee(kind, subject, None)
        if payee.merchant is not None:
            merchant_id = str(payee.merchant.merchant_id)
    secret = await fetch_secret(request.app[CLIENT], kind, subject)
    if secret is None:
        raise ApiError(Errors.NOT_FOUND, resource="User" if kind == "u" else "Merchant")
    token = sign_token(secret, kind=kind, subject=subject, merchant_id=merchant_id,
                       amount=f"{to_major_decimal(money):f}", currency=money.currency.code,
                       livemode=who.livemode)
    url = (f"{request.app[SETTINGS].public_url}/check-out?"
           f"{urlencode({'token': token, 'type': kind})}")
    return ok(Family.NORAH, {"token": token, "url": url}, message=MESSAGE_OF[kind])


async def generate_user_token(request: web.Request) -> web.Response:
    return await _generate(request, "u")


async def generate_merchant_token(request: web.Request) -> web.Response:
    return await _generate(request, "m")


async def verify_token(request: web.Request) -> web.Response:
    """Public: the hosted checkout page checks a token before showing the amount."""
    body = await read_json(request, VerifyToken)
    claims = await verify_transaction_token(request.app[CLIENT], body.token, body.type)
    money = parse_major(claims["amount"], claims["currency"])
    mid = claims.get("mid")
    if mid is not None and not (isinstance(mid, str) and mid.isascii() and mid.isdigit()):
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="token", detail="not a payment token")
    # The merchant it would pay, as the page decides it: never the claim unchecked.
    payee = await request.app[AUTH].payee(body.type, claims["sub"], mid)
    if payee.problem in ("out_of_scope", "signer_disabled"):
        raise ApiError(Errors.PAYMENT_TOKEN_INVALID, field="token",
                       detail="it names a merchant its signer may not pay")
    return ok(Family.NORAH, {
        "amount": to_major_decimal(money), "currency": money.currency.code,
        "type": claims["type"],
        "merchantId": None if payee.merchant is None else str(payee.merchant.merchant_id),
        "expiresAt": claims["exp"], "livemode": claims["livemode"]},
        message="Payment token is valid")


ROUTES = Routes(
    post("/api/v1/transaction/u/generate", generate_user_token,
         "A 60-second payment token signed with your user secret", ("transactions",),
         request=GenerateToken, response=answers.PaymentToken),
    post("/api/v1/transaction/m/generate", generate_merchant_token,
         "A 60-second payment token signed with your merchant's secret",
         ("transactions",), request=GenerateToken, response=answers.PaymentToken),
    post("/api/v1/transaction/verify", verify_token,
         "Check a payment token's signature and expiry; answers its amount",
         ("transactions",), request=VerifyToken, response=answers.VerifiedToken),
)
