"""Account rules: sign-up data, the password policy, confirmation tokens and e-mails."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

CONFIRMATION_TTL = timedelta(hours=24)
PASSWORD_MIN, PASSWORD_MAX = 10, 128
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def check_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("must be a valid e-mail address")
    return value


def check_password(password: str, email: str) -> None:
    """Length and not the e-mail (NIST SP 800-63B: length over composition rules)."""
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"must be at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise ValueError(f"must be at most {PASSWORD_MAX} characters")
    lowered = password.lower()
    local = email.split("@", 1)[0].lower()
    if lowered == email.lower() or (len(local) >= 4 and local in lowered):
        raise ValueError("must not contain your e-mail address")


class NewUser(BaseModel):
    """A person with a login: the fields every sign-up body shares."""

    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True)

    first_name: str = Field(alias="firstName", min_length=1, max_length=100)
    last_name: str = Field(alias="lastName", min_length=1, max_length=100)
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{6,20}$")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)

    @field_validator("password")
    @classmethod
    def _password_policy(cls, value: str, info: ValidationInfo) -> str:
        check_password(value, info.data.get("email") or "")  # email is declared first
        return value


class SecondaryAdmin(NewUser):
    """An ADMIN adding an ADMIN; a SUPER caller names the company."""

    company_id: int | None = Field(default=None, alias="companyId", ge=1, le=2**63 - 1)


class UpdateUser(BaseModel):
    """PUT /api/v1/admin/users/{userId}, field names as in the seed."""

    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True,
                              extra="forbid")

    full_name: str | None = Field(default=None, alias="fullName", min_length=1, max_length=201)
    email: str | None = Field(default=None, max_length=254)
    role: Literal["SUPER", "ADMIN", "MERCHANT"] | None = None
    status: bool | None = None
    notes: str | None = Field(default=None, max_length=2000)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return check_email(value) if value else None

    def names(self) -> tuple[str | None, str | None]:
        if not self.full_name:
            return None, None
        first, _, last = self.full_name.partition(" ")
        return first, last.strip() or first


class AdminSignUp(NewUser):
    """Body of POST /api/v1/auth/admin-sign-up, field names as in the NORAH seed."""

    company_name: str = Field(alias="companyName", min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=2000)
    public_email: str | None = Field(default=None, alias="publicEmail", max_length=254)
    return_url: str | None = Field(default=None, alias="returnUrl", max_length=2000)
    web_service_url: str | None = Field(default=None, alias="webServiceUrl", max_length=2000)
    website: str | None = Field(default=None, max_length=500)

    @field_validator("public_email")
    @classmethod
    def _public_email(cls, value: str | None) -> str | None:
        return check_email(value) if value else None

    @field_validator("return_url", "web_service_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value or None


def sign_in_client(address: str | None) -> str:
    """Whom sign-in throttling (and each budget of unauthenticated writes) counts as
    one client: an IPv4 address, or the /64 of an IPv6 one (a host is routinely given a
    whole /64, so rotating within it gains nothing). An IPv4-mapped IPv6 address is its
    IPv4 address."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0].strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class WriteBudget:
    """At most `limit` writes under `key` in each fixed window of `window_seconds`
    (store.count_public_write counts them)."""

    key: str
    limit: int
    window_seconds: int


HOUR, MINUTE = 3600, 60


@dataclass(frozen=True)
class Backoff:
    """How long a sign-in key is held back after its `failures`-th counted attempt: not
    at all before `free` of them, then `first` seconds, times `factor` for each further
    one, at most `cap`."""

    free: int
    first: float
    factor: float
    cap: float

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap, self.first * self.factor ** min(failures - self.free, 64))


class SessionRevoked(BaseModel):
    """Data of `session.revoked`: a refresh family ended (gateways drop what they know
    of the user's sessions at once)."""

    model_config = ConfigDict(populate_by_name=True)

    user_id: int = Field(alias="userId")
    session_id: str = Field(alias="sessionId")
    reason: Literal["sign_out", "refresh_reuse"]
    tokens_revoked: int = Field(alias="tokensRevoked")

    def data(self) -> dict:
        return self.model_dump(by_alias=True)


class ConfirmEmail(BaseModel):
    token: str = Field(min_length=16, max_length=200)


def new_token() -> tuple[str, str]:
    """A confirmation token and the hash that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def confirmation_email(*, to: str, first_name: str, public_url: str, token: str) -> dict:
    """Data of the `email.requested` event asking the notifier to send the link and code.

    The link opens the console's page, which posts the token itself: a mail scanner
    that fetches links confirms nothing, and the token rides in the fragment (#), which
    browsers never send to a server, so no access log or Referer ever holds it."""
    page = f"{public_url}/console/confirm-email"
    hours = int(CONFIRMATION_TTL.total_seconds() // 3600)
    text = (f"Hello {first_name},\n\nConfirm your norgate account by opening this link:\n"
            f"{page}#token={token}\n\n"
            f"If the link does not open, go to {page} and enter this "
            f"confirmation code: {token}\n\n"
            f"The link and code expire in {hours} hours. Then sign in with {to} and your "
            "password.\nIf you did not sign up, ignore this message.\n")
    return {"to": [to], "subject": "Confirm your norgate account", "text": text}


def render_user(row) -> dict:
    """A user as the NORAH routes show it (never the password hash or secret)."""
    return {
        "id": row["id"], "firstName": row["first_name"], "lastName": row["last_name"],
        "fullName": f"{row['first_name']} {row['last_name']}", "email": row["email"],
        "phone": row["phone"], "role": row["role"], "enabled": row["enabled"],
        "companyId": row["company_id"], "companyName": row["company_name"],
        "merchantId": row["merchant_id"], "notes": row["notes"],
        "createdAt": row["created_at"].isoformat(),
    }
