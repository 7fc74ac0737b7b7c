"""Every norgate setting, read from NORGATE_* environment variables.

One class for all services keeps the names and defaults in one place; each
process reads only what it uses. `load_settings()` validates at start-up and
stops the process with a message naming the variable when a value is bad.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

SERVICES = ("gateway", "auth", "checkout", "billing", "fees", "notifier")
DEFAULT_PORTS = {
    "gateway": 8080,
    "auth": 8081,
    "checkout": 8082,
    "billing": 8083,
    "fees": 8084,
    "notifier": 8085,
}
# Values published in norgate's own source at one time (the old built-in defaults and
# the example Secret's placeholders): refused everywhere, since anyone can read them.
PUBLIC_SECRETS = frozenset({"dev-only-secret-key-change-me-in-production",
                            "Norgate-dev-super-1"})
_PLACEHOLDER = "REPLACE-WITH"
# A purpose label (shared/secrets.py) and the derived value NORGATE_SERVICE_KEYS gives.
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9:_-]{0,99}$")
_DERIVED = re.compile(r"^[0-9a-f]{64}$")

ServiceName = Literal["gateway", "auth", "checkout", "billing", "fees", "notifier"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NORGATE_", extra="ignore", frozen=True)

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Validate every documented route's success answer against its model (the test
    # suite's setting: a mismatch is a 500 and a failed test, not a wrong document).
    check_answers: bool = False

    # Infrastructure
    database_url: str = "postgresql://postgres@127.0.0.1:5432/norgate"
    service_database_url: str | None = Field(
        default=None,
        description="DSN this process connects with; default: NORGATE_DATABASE_URL "
        "with the service's own role (<database>_<service>).",
    )
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_namespace: str = Field(default="norgate", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    smtp_url: str | None = None
    smtp_from: str = "norgate <no-reply@norgate.local>"

    # Network
    bind_host: str = "127.0.0.1"
    public_url: str = "http://localhost:8080"
    gateway_port: int = Field(default=DEFAULT_PORTS["gateway"], ge=1, le=65535)
    auth_port: int = Field(default=DEFAULT_PORTS["auth"], ge=1, le=65535)
    checkout_port: int = Field(default=DEFAULT_PORTS["checkout"], ge=1, le=65535)
    billing_port: int = Field(default=DEFAULT_PORTS["billing"], ge=1, le=65535)
    fees_port: int = Field(default=DEFAULT_PORTS["fees"], ge=1, le=65535)
    notifier_port: int = Field(default=DEFAULT_PORTS["notifier"], ge=1, le=65535)
    # The gateway's /metrics, on a port of its own that is never published (the public
    # port answers 404 there). Unset: the gateway serves no metrics.
    gateway_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    auth_url: str | None = None
    checkout_url: str | None = None
    billing_url: str | None = None
    fees_url: str | None = None
    notifier_url: str | None = None

    # Secrets and bootstrap. No built-in values: a default here would be a key anyone
    # who read the source holds. `make run` generates both once per checkout
    # (var/secrets.env); a split deployment gives each service NORGATE_SERVICE_KEYS, only
    # the values derived for it, instead of the master key (deploy/service_secrets.py).
    secret_key: SecretStr | None = None
    service_keys: dict[str, SecretStr] = Field(default_factory=dict)
    bootstrap_super_email: str = Field(default="super@norgate.local",
                                       pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    bootstrap_super_password: SecretStr | None = None

    # Sessions and keys
    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=7 * 86_400, ge=300, le=90 * 86_400)
    signing_key_rotation_days: int = Field(default=30, ge=1, le=365)
    sign_in_max_failures: int = Field(default=5, ge=1, le=100)
    sign_in_max_failures_per_ip: int = Field(default=50, ge=1, le=10_000)
    sign_in_lock_seconds: int = Field(default=900, ge=1, le=86_400)
    # The account-wide ceiling on distributed guessing: past this many failures, clients
    # new to the account get one password check per interval between them.
    sign_in_account_max_failures: int = Field(default=100, ge=1, le=100_000)
    sign_in_account_interval_seconds: int = Field(default=10, ge=1, le=3600)
    # How long a gateway replica trusts its last check of a signed-in user's session.
    session_check_seconds: float = Field(default=5.0, ge=0, le=60)
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Fee rules: how long a cached version vouches for quotes; a rule write answers
    # after it (read-your-writes on every replica, shared/lease.py).
    fee_rules_lease_seconds: float = Field(default=0.3, ge=0.05, le=10)

    # Prices breakdown (price_item), platform-wide; each app adds its own app_fee
    price_provider_fee_percent: Decimal = Field(default=Decimal("2.9"), ge=0, lt=100)
    price_provider_min_fee: Decimal = Field(default=Decimal("0.25"), ge=0)
    price_platform_fee_percent: Decimal = Field(default=Decimal("3.9"), ge=0, le=100)
    # Exchange rates the operator sets for a price's currency_conversion (no live rates):
    # JSON {"USD/EUR": "0.92", ...}, one unit of the first in the second; the inverse
    # pair is derived when only one direction is given.
    fx_rates: dict[str, Decimal] = Field(default_factory=dict)
    # Delays before each attempt of a price trigger's call (the first is immediate).
    trigger_retry_schedule: tuple[float, ...] = (0, 5, 30, 300, 1800, 7200)

    # The proxies (load balancer, ingress) in front of the gateway, as addresses or
    # CIDRs: X-Forwarded-For is read only from them (empty: from nobody, the TCP peer
    # is the client). JSON list or comma-separated.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # Replaced by trusted_proxies (it trusted the header from any peer): only 0 loads,
    # so a deployment that set it is told to list its proxies instead.
    trusted_proxy_hops: int = 0

    # Unauthenticated writes (auth): sign-ups per client (an IPv4 address or an IPv6
    # /64) an hour and on the whole platform a minute, and accept-invitation per client
    # an hour; counted in the database, so shared by every replica.
    sign_ups_per_client_per_hour: int = Field(default=10, ge=1, le=100_000)
    sign_ups_per_minute: int = Field(default=60, ge=1, le=100_000)
    invitation_accepts_per_client_per_hour: int = Field(default=30, ge=1, le=100_000)
    # The budget of each ADMIN and SUPER user's session at the gateway, as a plan's
    # (a MERCHANT user spends its merchant's plan, as its API keys do).
    staff_rate_plan: Literal["STARTER", "PROFESSIONAL", "ENTERPRISE"] = "PROFESSIONAL"

    # Tuning
    workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # The body limit of the gateway's upload routes (routing.UPLOADS: a settlement file
    # for reconciliation, at most 32 MiB, plus its multipart framing); streamed, never
    # buffered whole at the gateway.
    max_upload_bytes: int = Field(default=33_619_968, ge=1024)
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=10, ge=1)
    relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    relay_linger_seconds: float = Field(default=0.01, ge=0, le=1)
    consumer_prefetch: int = Field(default=32, ge=1)
    consumer_linger_seconds: float = Field(default=0.02, ge=0, le=1)
    consumer_max_attempts: int = Field(default=8, ge=1, le=20)
    consumer_retry_delays: tuple[float, ...] = (1, 5, 30, 120, 600, 1800, 3600)

    # Webhooks (notifier). The schedule is the delay before each attempt: the first is
    # immediate, then as Svix (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    webhook_retry_schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_linger_seconds: float = Field(default=0.005, ge=0, le=1)
    webhook_disable_after_seconds: float = Field(default=5 * 86_400, gt=0)
    webhook_rotation_grace_seconds: float = Field(default=86_400, ge=0, le=30 * 86_400)
    webhook_concurrency: int = Field(default=64, ge=1, le=1000)
    # Fairness between merchants: the share of those sends one merchant may hold, how
    # many endpoints it may register, and how many redeliveries and test events it may
    # queue a minute (counted in the database, so shared by every notifier replica).
    webhook_merchant_share: float = Field(default=0.25, gt=0, le=1)
    webhook_max_endpoints: int = Field(default=16, ge=1, le=1000)
    webhook_manual_sends_per_minute: int = Field(default=1000, ge=1, le=100_000)
    # Ports a webhook endpoint or a price trigger may use in prod (SSRF: not a public
    # host's SSH or database port); other environments allow any.
    webhook_allowed_ports: tuple[int, ...] = (80, 443)

    # Local mail sink (started by `make run` when NORGATE_SMTP_URL is unset)
    mailsink_smtp_port: int = Field(default=1025, ge=1, le=65535)
    mailsink_http_port: int = Field(default=8025, ge=1, le=65535)
    mail_dir: str = "var/mail"

    # Billing: how often the renewal scheduler runs, and the dunning schedule (days
    # after each failed collection before the next retry; when they run out the
    # subscription is canceled)
    billing_tick_seconds: float = Field(default=60.0, gt=0, le=86_400)
    billing_dunning_days: tuple[float, ...] = Field(default=(3, 5, 7), max_length=20)
    # How often a merchant may e-mail one invoice, and one recipient, an hour
    # (POST /api/v2/invoices/{id}/send; 429 invoice_sends_rate_limited past them).
    invoice_sends_per_hour: int = Field(default=3, ge=1, le=1000)
    invoice_recipient_sends_per_hour: int = Field(default=10, ge=1, le=10_000)

    # Money out (docs/payouts.md). The payouts tick releases balances that became
    # available, makes the scheduled payouts, sends pending payouts to their rail and
    # asks the rail about payouts in transit too long without an answer.
    payout_tick_seconds: float = Field(default=30.0, gt=0, le=86_400)
    # The length of a settlement day: a schedule's delayDays and intervals count in it.
    # 86400 in production; the e2e tests shorten it to run a week in seconds.
    payout_day_seconds: float = Field(default=86_400.0, ge=0.01, le=86_400)
    # A new payout stays pending (cancelable) this long before it is sent to its rail.
    payout_hold_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # The sandbox rails: how long a payout is in transit before the rail calls back, and
    # how long after being paid a returned payout (account ending 0002) comes back.
    sandbox_payout_callback_seconds: float = Field(default=2.0, ge=0, le=3600)
    sandbox_payout_return_seconds: float = Field(default=5.0, ge=0, le=86_400)
    # A payout in transit with no rail answer for this long is asked about (a lost
    # callback, a restart in between).
    payout_status_check_seconds: float = Field(default=120.0, gt=0, le=86_400)

    # Housekeeping (docs/housekeeping.md): every service prunes its tables of what is
    # past its retention this often, in batches of this many rows, safe with replicas.
    housekeeping_interval_seconds: float = Field(default=3600.0, gt=0, le=86_400)
    housekeeping_batch_size: int = Field(default=1000, ge=1, le=100_000)
    # How long a completed Idempotency-Key's answer is kept and replayed (then deleted).
    idempotency_retention_seconds: int = Field(default=86_400, ge=3600, le=30 * 86_400)
    # How long after its window ended a rate-limit counter is kept (gateway).
    rate_limit_retention_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400)
    # How long after its window began a budget of unauthenticated writes is kept (auth;
    # at least the longest window, an hour).
    public_write_retention_seconds: int = Field(default=86_400, ge=3600, le=30 * 86_400)
    # How long a used or expired e-mail confirmation (or invitation) is kept.
    email_confirmation_retention_days: int = Field(default=7, ge=0, le=365)
    # How long an expired or revoked refresh token is kept (never less than an access
    # token lives: the session check reads them).
    refresh_token_retention_days: int = Field(default=7, ge=0, le=365)
    # How long a webhook event's payload and an attempt's response body are kept; the
    # delivery log (deliveries, attempts, statuses) stays.
    webhook_payload_retention_days: int = Field(default=30, ge=1, le=3650)
    # How long the notifier's record of each e-mail (recipients, subject) is kept.
    email_log_retention_days: int = Field(default=90, ge=1, le=3650)

    @field_validator("database_url", "service_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        if not parts.path.strip("/"):
            raise ValueError("must name a database (postgresql://host/DBNAME)")
        _check_port(value)
        return value

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("amqp", "amqps"):
            raise ValueError("must be an amqp:// or amqps:// URL")
        _check_port(value)
        return value

    @field_validator("smtp_url", mode="before")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if not value:
            return None  # empty means unset: `make run` starts the local mail sink
        if urlsplit(value).scheme not in ("smtp", "smtps"):
            raise ValueError("must be an smtp:// or smtps:// URL")
        _check_port(value)
        return value

    @field_validator("public_url", "auth_url", "checkout_url", "billing_url", "fees_url",
                     "notifier_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("gateway_metrics_port", mode="before")
    @classmethod
    def _optional_port(cls, value: object) -> object:
        return None if value == "" else value  # empty means unset

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _trusted_proxies(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("must be a JSON list or comma-separated addresses "
                                     "and CIDRs, e.g. 10.0.0.0/8,192.0.2.7") from None
            else:
                value = [part for part in text.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or len(value) > 100:
            raise ValueError("must list at most 100 addresses or CIDRs")
        networks: list[str] = []
        for entry in value:
            try:  # host bits are dropped: 10.0.0.7/8 is 10.0.0.0/8
                networks.append(str(ipaddress.ip_network(str(entry).strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{str(entry)[:60]!r} is not an IP address or CIDR") from None
        return tuple(networks)

    @field_validator("trusted_proxy_hops")
    @classmethod
    def _no_hops(cls, value: int) -> int:
        if value:
            raise ValueError("is no longer read (it trusted X-Forwarded-For from any "
                             "client): unset it and list the proxies in front of the "
                             "gateway in NORGATE_TRUSTED_PROXIES, e.g. 10.0.0.0/8")
        return value

    @field_validator("webhook_allowed_ports")
    @classmethod
    def _allowed_ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or len(value) > 50:
            raise ValueError("must list 1 to 50 ports, e.g. [80, 443]")
        if any(p < 1 or p > 65535 for p in value):
            raise ValueError("every port must be a number from 1 to 65535")
        return tuple(sorted(set(value)))

    @field_validator("consumer_retry_delays")
    @classmethod
    def _retry_delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("must list at least one delay in seconds")
        if any(d < 0.01 or d > 86_400 for d in value):
            raise ValueError("every delay must be between 0.01 and 86400 seconds")
        if len({int(d * 1000) for d in value}) != len(set(value)):
            raise ValueError("delays must differ by at least a millisecond")
        return value

    @field_validator("fx_rates")
    @classmethod
    def _fx_rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        from shared.money import get_currency

        rates = {}
        for pair, rate in value.items():
            base, sep, quote = pair.partition("/")
            if not sep:
                raise ValueError(f"{pair!r}: write a pair as BASE/QUOTE, e.g. USD/EUR")
            base, quote = get_currency(base).code, get_currency(quote).code
            if not rate > 0:
                raise ValueError(f"{pair}: the rate must be positive")
            rates[f"{base}/{quote}"] = rate
        return rates

    @field_validator("webhook_retry_schedule", "trigger_retry_schedule")
    @classmethod
    def _webhook_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or len(value) > 20:
            raise ValueError("must list 1 to 20 delays in seconds")
        if any(d < 0 or d > 7 * 86_400 for d in value):
            raise ValueError("every delay must be between 0 and 604800 seconds")
        return value

    @field_validator("service_keys")
    @classmethod
    def _service_keys(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for purpose, derived in value.items():
            if not _PURPOSE.match(purpose):
                raise ValueError(f"{purpose[:100]!r} is not a purpose label")
            if not _DERIVED.match(derived.get_secret_value()):
                # The value is a secret: name its purpose only.
                raise ValueError(f"{purpose}: must be 64 lower-case hex digits "
                                 "(python -m deploy.service_secrets derives them)")
        return value

    @model_validator(mode="after")
    def _refuse_public_secrets(self) -> "Settings":
        # Checked in every environment: a public value is no secret in dev either.
        for name, secret in (("NORGATE_SECRET_KEY", self.secret_key),
                             ("NORGATE_BOOTSTRAP_SUPER_PASSWORD",
                              self.bootstrap_super_password)):
            value = secret.get_secret_value() if secret is not None else None
            if value is not None and (value in PUBLIC_SECRETS or _PLACEHOLDER in value):
                raise ValueError(f"{name} is a value published in norgate's source: set "
                                 "your own (make run generates one in var/secrets.env)")
        if self.bootstrap_super_password is not None \
                and len(self.bootstrap_super_password.get_secret_value()) < 10:
            raise ValueError("NORGATE_BOOTSTRAP_SUPER_PASSWORD must be at least 10 characters")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("NORGATE_SECRET_KEY must be at least 32 characters")
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("NORGATE_DB_POOL_MIN must not exceed NORGATE_DB_POOL_MAX")
        taken = {self.port_of(s): s for s in SERVICES}
        if self.gateway_metrics_port in taken:
            raise ValueError(f"NORGATE_GATEWAY_METRICS_PORT must differ from the service "
                             f"ports ({self.gateway_metrics_port} is "
                             f"NORGATE_{taken[self.gateway_metrics_port].upper()}_PORT)")
        return self

    # Derived values -----------------------------------------------------

    def port_of(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def url_of(self, service: str) -> str:
        """Base URL other processes use to reach `service` over internal HTTP."""
        explicit = getattr(self, f"{service}_url", None)
        return explicit or f"http://127.0.0.1:{self.port_of(service)}"

    @property
    def database_name(self) -> str:
        return urlsplit(self.database_url).path.strip("/")

    def role_of(self, service: str) -> str:
        """The PostgreSQL role a service connects as: one per database and service."""
        return f"{self.database_name}_{service}"

    def role_password(self, service: str) -> str:
        from shared.secrets import derive

        return derive(self, f"db-role:{self.database_name}:{service}")

    def dsn_of(self, service: str) -> str:
        """DSN for a service's own role (NORGATE_SERVICE_DATABASE_URL wins when set)."""
        if self.service_database_url:
            return self.service_database_url
        parts = urlsplit(self.database_url)
        host = parts.hostname or ("" if "host" in parse_qs(parts.query) else "127.0.0.1")
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{self.role_of(service)}:{self.role_password(service)}@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _check_port(url: str) -> None:
    try:
        _ = urlsplit(url).port
    except ValueError:
        raise ValueError("has an invalid port (must be a number from 1 to 65535)") from None


def _env_name(loc: tuple[str | int, ...]) -> str:
    if not loc:
        return "NORGATE_* (settings)"
    return "NORGATE_" + str(loc[0]).upper()


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings; on a bad value, print which variable and exit(2)."""
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        # Raised before validation when a list setting is not JSON, e.g. "soon".
        match = re.search(r'field "(\w+)"', str(exc))
        name = _env_name((match.group(1),)) if match else "NORGATE_* (settings)"
        sys.stderr.write(f"norgate: invalid configuration\n  {name}: must be a JSON list "
                         "such as [1, 5, 30]\n")
        raise SystemExit(2) from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = _env_name(err.get("loc", ()))
            msg = err.get("msg", "invalid value").removeprefix("Value error, ")
            lines.append(f"  {name}: {msg}" if err.get("loc") else f"  {msg}")
        sys.stderr.write("norgate: invalid configuration\n" + "\n".join(lines) + "\n")
        raise SystemExit(2) from None
