"""What the auth service's public routes answer on success, one model per answer object,
named by what it is (RouteDoc.response; the OpenAPI document shows them). Checked against
every answer the test suite sees (shared/http/answers.py): a field a handler adds
without adding it here fails the suite."""

from __future__ import annotations

from pydantic import Field

from shared.http.answers import Answer, SnakeAnswer


class App(SnakeAnswer):
    id: str
    name: str
    type: str
    status: str
    use_explorer: bool
    created_at: str
    updated_at: str
    kyc_return_url: str | None
    app_fee: float
    company_id: int
    merchant_id: int | None


class JwksKeys(Answer):
    x: str
    alg: str
    crv: str
    kid: str
    kty: str
    use: str


class Jwks(Answer):
    keys: list[JwksKeys]


class User(Answer):
    id: int
    first_name: str
    last_name: str
    full_name: str
    email: str
    phone: str | None
    role: str
    enabled: bool
    company_id: int | None
    company_name: str | None
    merchant_id: int | None
    notes: str | None
    created_at: str


class ApiKey(Answer):
    key_id: str
    prefix: str
    name: str | None
    merchant_id: int
    app_id: str | None
    mode: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    # A publishable key's (type "publishable"): the key itself and where it may be used.
    type: str | None = None
    key: str | None = None
    allowed_origins: list[str] | None = None



class Tokens(Answer):
    token: str
    refresh_token: str
    token_expiry_date: str
    user_id: int = Field(alias="user_id")
    role: str
    full_name: str
    email: str


class Merchant(Answer):
    merchant_id: int
    merchant_uid: str
    merchant_name: str
    merchant_email: str
    merchant_address: str | None
    merchant_phone: str | None
    merchant_country: str | None
    merchant_city: str | None
    merchant_website: str | None
    merchant_description: str | None
    return_url: str | None
    web_service_url: str | None
    payment_methods: list[str] | None
    logo_url: str | None
    accent_color: str | None
    status: str
    is_default: bool
    rate_plan: str
    company_id: int
    created_at: str
    updated_at: str


class SignedUp(Answer):
    id: int
    first_name: str
    last_name: str
    email: str
    role: str
    enabled: bool
    company_name: str




class DeletedApp(SnakeAnswer):
    id: str
    deleted: bool
    revoked_keys: list[str]


class UserSecret(Answer):
    user_id: int
    secret: str


class DeletedUser(Answer):
    id: int
    deleted: bool


class InvitedAdmin(Answer):
    id: int
    first_name: str
    last_name: str
    full_name: str
    email: str
    phone: str
    role: str
    enabled: bool
    company_id: int
    company_name: str
    merchant_id: int | str | None
    notes: str | None
    created_at: str


class CreatedApiKey(Answer):
    key_id: str
    key: str
    prefix: str
    name: str | None
    merchant_id: int
    app_id: str | None
    mode: str
    created_at: str
    type: str | None = None
    allowed_origins: list[str] | None = None



class EmailConfirmed(Answer):
    id: int
    email: str
    enabled: bool


class MerchantSecret(Answer):
    merchant_id: int
    secret: str


class CreatedMerchant(Answer):
    merchant_id: int
    merchant_name: str
    merchant_email: str
    merchant_uid: str
