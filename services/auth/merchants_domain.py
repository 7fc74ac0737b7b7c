"""Merchant, API key and app rules: request models, id formats and renderings; no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.auth.domain import check_email
from shared.crypto import base62

INVITATION_TTL = timedelta(days=7)
MERCHANT_STATUSES = ("DEVELOPMENT", "ACTIVE", "INACTIVE")
RatePlan = Literal["STARTER", "PROFESSIONAL", "ENTERPRISE"]
# The methods a merchant may offer (checkout's connectors); a merchant's
# `paymentMethods` narrows its checkout to some of them (null: all).
PaymentMethod = Literal["VISA_MASTER", "ZIMSWITCH", "OMARI", "INNBUCKS", "ECOCASH",
                        "NOR_WALLET"]

# Test or live (docs/modes.md): every key acts in one mode, kept in its record.
KeyMode = Literal["test", "live"]
API_KEY_PREFIX, API_KEY_LENGTH = "nk_", 40
# A secret key says its mode: `nk_test_...` or `nk_live_...`; one made before modes
# (`nk_` + 40) is a test key. Base62 has no "_", so the three can never be confused.
SECRET_PREFIXES: dict[str, str] = {"test": "nk_test_", "live": "nk_live_"}
# Publishable keys are safe to embed in a web page (checkout.js). Base62 has no "_",
# so no secret key can ever start with this prefix. checkout.js checks the format
# (/^nk_pub_[A-Za-z0-9]{20,100}$/), so their mode is in their record only.
PUBLISHABLE_PREFIX = "nk_pub_"
# Lists show a key's kind part (`nk_test_`, `nk_live_`, `nk_pub_`, an old key's `nk_`)
# and this many of its random characters: enough to tell a merchant's keys apart.
API_KEY_SHOWN = 8
LIVE_NEEDS_ACTIVE = "mode: a DEVELOPMENT merchant has test keys only; activate it first"
MAX_ORIGINS = 20
KEY_ID = re.compile(r"^key_[A-Za-z0-9]{22}$")
APP_ID = re.compile(r"^app_[A-Za-z0-9]{22}$")
_URL = re.compile(r"^https?://[^\s/]+\S*$")


def new_api_key(mode: KeyMode = "test") -> str:
    """`nk_test_` or `nk_live_` + 40 base62 characters (about 238 bits): hashed with
    SHA-256, never stored."""
    return SECRET_PREFIXES[mode] + base62(API_KEY_LENGTH)


def shown_prefix(key: str) -> str:
    """What lists show of a key: its kind part and API_KEY_SHOWN random characters
    (`nk_test_Ab3dE9fQ`); an old `nk_` key's is its first 11 characters, as before."""
    kind = key[:key.rindex("_") + 1]
    return key[:len(kind) + API_KEY_SHOWN]


def key_mode_problem(mode: KeyMode, merchant_status: str) -> str | None:
    """Why a merchant may not have a key of `mode`, if it may not. Only DEVELOPMENT is
    held to test keys; an INACTIVE one still gets keys as before modes (the gateway and
    checkout decide what it may do with them)."""
    if mode == "live" and merchant_status == "DEVELOPMENT":
        return LIVE_NEEDS_ACTIVE
    return None


def new_publishable_key() -> str:
    """`nk_pub_` + 40 base62 characters: public by design, usable only by the widget."""
    return PUBLISHABLE_PREFIX + base62(API_KEY_LENGTH)


def is_publishable(key: str) -> bool:
    return key.startswith(PUBLISHABLE_PREFIX)


def check_origin(value: object) -> str:
    """A web origin as browsers send it: `scheme://host[:port]`, http or https,
    lower case, without a default port, path, query or credentials."""
    if not isinstance(value, str) or len(value) > 300:
        raise ValueError("must be an origin such as https://shop.example.com")
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError(f"{raw!r} is not an origin such as https://shop.example.com") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if (scheme not in ("http", "https") or not host or parts.username is not None
            or parts.password is not None or parts.path not in ("", "/") or parts.query
            or parts.fragment or raw.endswith("?") or raw.endswith("#")
            or not re.fullmatch(r"[a-z0-9.\-]+|[0-9a-f:.]+", host)):
        raise ValueError(f"{raw!r} is not an origin such as https://shop.example.com "
                         "(scheme and host only, no path)")
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def new_key_id() -> str:
    return "key_" + base62(22)


def new_app_id() -> str:
    return "app_" + base62(22)


def check_url(value: str | None) -> str | None:
    if value and (len(value) > 2000 or not _URL.match(value)):
        raise ValueError("must be an http:// or https:// URL")
    return value or None


# Hosts whose logo may be served over plain http: a developer's own machine (and the
# test suite's shop); anywhere else a page over https must not load an http image.
_LOCAL_HOSTS = ("localhost", "127.0.0.1")
LOGO_URL_MAX = 500
ACCENT = re.compile(r"^#[0-9a-f]{6}$")


def check_logo_url(value: str | None) -> str | None:
    """A logo's URL: https (http for localhost only), a plain host name (it becomes the
    checkout page's `img-src` origin), no credentials, at most LOGO_URL_MAX characters."""
    if not value:
        return None
    problem = (f"must be an https:// URL of an image, at most {LOGO_URL_MAX} characters "
               "(http:// only for localhost)")
    if len(value) > LOGO_URL_MAX or not _URL.match(value) or any(c in value for c in "\"'<>"):
        raise ValueError(problem)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise ValueError(problem) from None
    host = parts.hostname or ""
    if (parts.scheme.lower() not in ("https", "http") or parts.username is not None
            or not re.fullmatch(r"[a-z0-9.\-]+", host)
            or (parts.scheme.lower() == "http" and host not in _LOCAL_HOSTS)):
        raise ValueError(problem)
    return value


def check_accent(value: str | None) -> str | None:
    """`#rrggbb`, any case; kept in lower case."""
    if value is None or value == "":
        return None
    lowered = value.lower()
    if not ACCENT.match(lowered):
        raise ValueError("must be a colour written #rrggbb, such as #1a7f37")
    return lowered


def split_name(name: str) -> tuple[str, str]:
    """The MERCHANT login's first and last name: "ABC Store" -> ("ABC", "Store")."""
    first, _, last = name.strip().partition(" ")
    return first, last.strip() or first


# Merchants ---------------------------------------------------------------------

class _MerchantFields(BaseModel):
    """The seed's merchant fields; contact fields are optional."""

    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True,
                              extra="forbid")

    merchant_name: str = Field(alias="merchantName", min_length=1, max_length=200)
    merchant_email: str = Field(alias="merchantEmail", max_length=254)
    merchant_address: str | None = Field(default=None, alias="merchantAddress", max_length=500)
    merchant_phone: str | None = Field(default=None, alias="merchantPhone",
                                       pattern=r"^\+?[0-9 ()-]{6,20}$")
    merchant_country: str | None = Field(default=None, alias="merchantCountry", max_length=100)
    merchant_city: str | None = Field(default=None, alias="merchantCity", max_length=100)
    merchant_website: str | None = Field(default=None, alias="merchantWebsite", max_length=500)
    merchant_description: str | None = Field(default=None, alias="merchantDescription",
                                             max_length=2000)
    return_url: str | None = Field(default=None, alias="returnUrl")
    web_service_url: str | None = Field(default=None, alias="webServiceUrl")
    payment_methods: list[PaymentMethod] | None = Field(default=None, alias="paymentMethods",
                                                        min_length=1, max_length=6)
    # The brand on its checkout pages (docs/payments.md, Brand).
    logo_url: str | None = Field(default=None, alias="logoUrl")
    accent_color: str | None = Field(default=None, alias="accentColor")

    @field_validator("payment_methods")
    @classmethod
    def _methods(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each payment method at most once")
        return value

    @field_validator("merchant_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)

    @field_validator("return_url", "web_service_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url(value)

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        return check_logo_url(value)

    @field_validator("accent_color")
    @classmethod
    def _accent(cls, value: str | None) -> str | None:
        return check_accent(value)


class CreateMerchant(_MerchantFields):
    """POST /api/v1/admin/create-merchant-account; a SUPER caller names the company."""

    rate_plan: RatePlan = Field(default="STARTER", alias="ratePlan")
    company_id: int | None = Field(default=None, alias="companyId", ge=1, le=2**63 - 1)


class ReplaceMerchant(_MerchantFields):
    """PUT: the whole settings; absent optional fields are cleared, an absent
    ratePlan is left as it is."""

    rate_plan: RatePlan | None = Field(default=None, alias="ratePlan")

    def changes(self) -> dict:
        values = self.model_dump(exclude={"rate_plan"})
        if self.rate_plan is not None:
            values["rate_plan"] = self.rate_plan
        return values


class PatchMerchant(ReplaceMerchant):
    """PATCH: only the fields sent change; null clears an optional one."""

    # Optional here, required in ReplaceMerchant: a PATCH body is a partial one.
    merchant_name: str | None = Field(  # type: ignore[assignment]
        default=None, alias="merchantName", min_length=1, max_length=200)
    merchant_email: str | None = Field(  # type: ignore[assignment]
        default=None, alias="merchantEmail", max_length=254)

    @field_validator("merchant_name", "merchant_email", "rate_plan")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("cannot be null")
        return value

    @field_validator("merchant_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:  # type: ignore[override]
        return None if value is None else check_email(value)

    def changes(self) -> dict:
        return self.model_dump(include=self.model_fields_set)


def invitation_email(*, to: str, merchant_name: str, public_url: str, token: str) -> dict:
    """Data of the `email.requested` event inviting a merchant's login to set a password.
    The link opens the console's page for it; the token is in the fragment, which never
    reaches a server (no access log, no Referer holds it)."""
    page = f"{public_url}/console/accept-invitation"
    text = (f"Hello {merchant_name},\n\nA norgate merchant account was created for you.\n"
            f"Choose your password by opening this link:\n{page}#token={token}\n\n"
            f"If the link does not open, go to {page} and paste this code.\n"
            f"Invitation code: {token}\n\n"
            f"The link and code expire in {INVITATION_TTL.days} days. Then sign in with "
            f"{to} and your new password.\n"
            "If you did not expect this message, ignore it.\n")
    return {"to": [to], "subject": "Your norgate merchant account", "text": text}


def render_merchant(row) -> dict:
    return {
        "merchantId": row["id"], "merchantUid": str(row["uid"]), "merchantName": row["name"],
        "merchantEmail": row["email"], "merchantAddress": row["address"],
        "merchantPhone": row["phone"], "merchantCountry": row["country"],
        "merchantCity": row["city"], "merchantWebsite": row["website"],
        "merchantDescription": row["description"], "returnUrl": row["return_url"],
        "webServiceUrl": row["web_service_url"], "paymentMethods": row["payment_methods"],
        "logoUrl": row["logo_url"], "accentColor": row["accent_color"],
        "status": row["status"], "isDefault": row["is_default"],
        "ratePlan": row["rate_plan"], "companyId": row["company_id"],
        "createdAt": row["created_at"].isoformat(), "updatedAt": row["updated_at"].isoformat(),
    }


# API keys ----------------------------------------------------------------------

class CreateApiKey(BaseModel):
    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True,
                              extra="forbid")

    merchant_id: int | None = Field(default=None, alias="merchantId", ge=1, le=2**63 - 1)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    app_id: str | None = Field(default=None, alias="appId", pattern=APP_ID.pattern)
    # "secret" (server side only) or "publishable" (embeddable in checkout.js).
    type: Literal["secret", "publishable"] = "secret"
    mode: KeyMode = "test"
    allowed_origins: list[str] | None = Field(default=None, alias="allowedOrigins",
                                              max_length=MAX_ORIGINS)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(check_origin(v) for v in value))

    @model_validator(mode="after")
    def _origins_fit_the_type(self):
        if self.type == "publishable" and not self.allowed_origins:
            raise ValueError("allowedOrigins: a publishable key needs at least one origin "
                             "(the web sites that embed checkout.js)")
        if self.type == "secret" and self.allowed_origins is not None:
            raise ValueError("allowedOrigins: only publishable keys have allowed origins; "
                             "a secret key must never reach a browser")
        return self


class UpdateApiKey(BaseModel):
    """PATCH: the name, or a publishable key's allowed origins."""

    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True,
                              extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    allowed_origins: list[str] | None = Field(default=None, alias="allowedOrigins",
                                              min_length=1, max_length=MAX_ORIGINS)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(check_origin(v) for v in value))


class VerifyApiKey(BaseModel):
    key: str = Field(min_length=1, max_length=200)


def render_key(row) -> dict:
    """A key as lists show it: a secret key by its prefix only, never the key or its
    hash; a publishable key in full (it is meant to be embedded in web pages)."""
    out = {
        "keyId": row["key_id"], "prefix": row["prefix"], "name": row["name"],
        "merchantId": row["merchant_id"], "appId": row["app_public_id"], "mode": row["mode"],
        "createdAt": row["created_at"].isoformat(),
        "lastUsedAt": row["last_used_at"].isoformat() if row["last_used_at"] else None,
        "revokedAt": row["revoked_at"].isoformat() if row["revoked_at"] else None,
    }
    if row["kind"] == "publishable":  # a key without "type" is a secret key
        out["type"] = "publishable"
        out["key"] = row["publishable_key"]
        out["allowedOrigins"] = list(row["allowed_origins"])
    return out


# Apps --------------------------------------------------------------------------

class AppFields(BaseModel):
    """PUT body of an app (and POST, with `company_id` for a SUPER caller), as the
    Prices seed names the fields."""

    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True,
                              extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    type: Literal["individual", "marketplace"] = "individual"
    status: Literal["active", "inactive"] = "active"
    use_explorer: bool = True
    kyc_return_url: str | None = None
    app_fee: Decimal = Field(default=Decimal(0), ge=0, le=100, decimal_places=4)

    @field_validator("app_fee", mode="before")
    @classmethod
    def _number(cls, value):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError("must be a number from 0 to 100 (a percentage)")
        return value

    @field_validator("kyc_return_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url(value)

    def changes(self) -> dict:
        return self.model_dump(exclude={"company_id"})


class CreateApp(AppFields):
    company_id: int | None = Field(default=None, alias="companyId", ge=1, le=2**63 - 1)


class PatchApp(AppFields):
    # Optional here, required in AppFields: a PATCH body is a partial one.
    name: str | None = Field(  # type: ignore[assignment]
        default=None, min_length=1, max_length=256)

    @field_validator("name", "type", "status", "use_explorer", "app_fee")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("cannot be null")
        return value

    def changes(self) -> dict:
        return self.model_dump(include=self.model_fields_set)


def prices_time(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as the Prices seed writes it: 2022-08-03T17:13:36.275Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def render_app(row) -> dict:
    # normalize(): 0.0000 from numeric(9,4) is written 0, as in the seed; still a Decimal.
    return {
        "id": row["app_id"], "name": row["name"], "type": row["type"], "status": row["status"],
        "use_explorer": row["use_explorer"], "created_at": prices_time(row["created_at"]),
        "updated_at": prices_time(row["updated_at"]), "kyc_return_url": row["kyc_return_url"],
        "app_fee": row["app_fee"].normalize(), "company_id": row["company_id"],
        "merchant_id": row["merchant_id"],
    }


# Who a NORAH payment token pays ---------------------------------------------------

PayeeProblem = Literal["no_merchant", "out_of_scope", "signer_disabled"]


class Signer(BaseModel):
    """Who signed a NORAH payment token: a user (its role, company and, for a MERCHANT
    user, its merchant) or a merchant itself."""

    kind: Literal["user", "merchant"]
    role: str | None = None
    enabled: bool = True
    company_id: int | None = None
    merchant_id: int | None = None  # a MERCHANT user's merchant; a merchant signer's own id


class PayeeRule(BaseModel):
    """Which merchant a token pays, before it is looked up: a fixed one (the signer's
    own), the one its `mid` claim names, or the company's default; or why none."""

    source: Literal["own", "claimed", "default"] | None = None
    merchant_id: int | None = None
    problem: PayeeProblem | None = None


def payee_rule(signer: Signer, claimed: int | None) -> PayeeRule:
    """A token's `mid` claim is the signer's word only: a merchant (or a MERCHANT user)
    pays itself alone, an ADMIN its company's merchants (checked once the merchant is
    found: `payee_in_scope`), SUPER any merchant it names."""
    if not signer.enabled:
        return PayeeRule(problem="signer_disabled")
    if signer.merchant_id is not None:
        if claimed is not None and claimed != signer.merchant_id:
            return PayeeRule(problem="out_of_scope")
        return PayeeRule(source="own", merchant_id=signer.merchant_id)
    if claimed is not None:
        return PayeeRule(source="claimed", merchant_id=claimed)
    if signer.role == "ADMIN":
        return PayeeRule(source="default")
    return PayeeRule(problem="no_merchant")  # SUPER has no company to default to


def payee_in_scope(signer: Signer, merchant_company_id: int) -> bool:
    return signer.role == "SUPER" or merchant_company_id == signer.company_id
