"""Settlement accounts: where a merchant's payouts go. No I/O.

A BANK account (bank name, branch code, account name, account number of 6 to 20
digits) is paid over ZIMSWITCH; a mobile wallet (ECOCASH, OMARI, INNBUCKS; its phone in
the Zimbabwe form 263 + 9 digits, an account name optional) over its own network
(services/billing/rails.py). Each has a currency, and a merchant has at most one default
account per currency, the one payouts of that currency go to when they name none:

    the first (only) live account of a currency is its default, whatever the request says
    isDefault true makes an account the default and clears the currency's other one
    deleting the default leaves the currency without one (payouts then name an account)

The number (account number or phone) is sealed at rest; everything shown or logged
has only its last four ("****0001"). Adding, changing or deleting an account mails the
merchant's users what changed, masked, who changed it and when.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from services.billing.rails import Destination, DestinationType
from shared.money import MoneyError, get_currency

AccountType = DestinationType
WALLETS: tuple[AccountType, ...] = ("ECOCASH", "OMARI", "INNBUCKS")
ID = re.compile(r"^sa_[A-Za-z0-9]{1,64}$")
_DIGITS = re.compile(r"^[0-9]+$")
_PHONE = re.compile(r"^263[0-9]{9}$")
_BRANCH = re.compile(r"^[A-Za-z0-9-]{1,20}$")


def mask(last4: str) -> str:
    return "****" + last4


class SettlementAccount(BaseModel):
    """A stored settlement account; `number_sealed` only opens to pay it."""
    model_config = ConfigDict(frozen=True)

    pk: int
    settlement_account_id: str
    company_id: int
    merchant_id: int
    type: AccountType
    currency: str
    bank_name: str | None
    branch_code: str | None
    account_name: str | None
    number_sealed: str = Field(repr=False)
    number_last4: str
    is_default: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def masked(self) -> str:
        return mask(self.number_last4)

    @property
    def label(self) -> str:
        """How mail and logs name it: "****0001 (BANK, USD)"."""
        return f"{self.masked} ({self.type}, {self.currency})"

    def destination(self, number: str) -> Destination:
        """What a payout rail is handed, with the opened `number`."""
        return Destination(settlement_account_id=self.settlement_account_id, type=self.type,
                           currency=self.currency, number=number,
                           account_name=self.account_name, bank_name=self.bank_name,
                           branch_code=self.branch_code)

    def render(self) -> SettlementAccountOut:
        bank = self.type == "BANK"
        return SettlementAccountOut.model_validate({
            "settlement_account_id": self.settlement_account_id,
            "merchant_id": self.merchant_id, "type": self.type, "currency": self.currency,
            "bank_name": self.bank_name, "branch_code": self.branch_code,
            "account_name": self.account_name,
            "account_number": self.masked if bank else None,
            "phone_number": None if bank else self.masked, "last4": self.number_last4,
            "is_default": self.is_default, "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None})


@dataclass(frozen=True)
class AccountValues:
    """An account's values as a request sets them; `number` None keeps the stored one."""
    type: AccountType
    currency: str
    bank_name: str | None
    branch_code: str | None
    account_name: str | None
    number: str | None = field(default=None, repr=False)  # never in a traceback


# Default rules -----------------------------------------------------------------------

def default_on_create(requested: bool | None, *, others_in_currency: bool) -> bool:
    return bool(requested) or not others_in_currency


def default_on_change(requested: bool | None, *, current: SettlementAccount, currency: str,
                      others_in_currency: bool) -> bool:
    """`others_in_currency`: live accounts of the (new) currency besides this one."""
    if not others_in_currency:
        return True
    if requested is not None:
        return requested
    return current.is_default and current.currency == currency


def changes(current: SettlementAccount, values: AccountValues, *, is_default: bool) -> list[str]:
    """What a change does, for people and masked: ["account name", ...]."""
    out: list[str] = []
    if values.type != current.type:
        out.append(f"type {current.type} -> {values.type}")
    if values.currency != current.currency:
        out.append(f"currency {current.currency} -> {values.currency}")
    for label, old, new in (("bank name", current.bank_name, values.bank_name),
                            ("branch code", current.branch_code, values.branch_code),
                            ("account name", current.account_name, values.account_name)):
        if old != new:
            out.append(label)
    if values.number is not None and values.number[-4:] != current.number_last4:
        out.append(f"number, now {mask(values.number[-4:])}")
    elif values.number is not None:
        out.append("number")  # another number with the same last four
    if is_default != current.is_default:
        out.append(f"{'made' if is_default else 'no longer'} the default "
                   f"{values.currency} account")
    return out


# The API's request and answer -----------------------------------------------------------

class SettlementAccountIn(BaseModel):
    """POST .../settlement-accounts and PUT .../settlement-accounts/{id}: the whole
    account. On PUT the number may be left out while the type stays: it is kept."""
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)

    type: AccountType
    currency: str = Field(max_length=16)
    is_default: StrictBool | None = Field(default=None, alias="isDefault")
    bank_name: str | None = Field(default=None, alias="bankName", min_length=1, max_length=100)
    branch_code: str | None = Field(default=None, alias="branchCode")
    account_name: str | None = Field(default=None, alias="accountName", min_length=1,
                                     max_length=200)
    account_number: str | None = Field(default=None, alias="accountNumber", repr=False)
    phone_number: str | None = Field(default=None, alias="phoneNumber", repr=False)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            return get_currency(value).code
        except MoneyError as exc:
            raise ValueError(exc.message) from None

    @field_validator("branch_code")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is not None and not _BRANCH.match(value):
            raise ValueError("1 to 20 letters, digits or dashes")
        return value

    # The messages never repeat the value: it is an account number.
    @field_validator("account_number")
    @classmethod
    def _account_number(cls, value: str | None) -> str | None:
        if value is not None and not (_DIGITS.match(value) and 6 <= len(value) <= 20):
            raise ValueError("6 to 20 digits")
        return value

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError("a Zimbabwe mobile number: 263 and 9 digits, no + or spaces")
        return value

    def values(self, current: SettlementAccount | None = None) -> AccountValues:
        """The account's values; ValueError "field: why" for what the type needs or
        forbids. `current`: the stored account a PUT replaces."""
        keeps = current is not None and current.type == self.type
        if self.type == "BANK":
            for name, value in (("bankName", self.bank_name), ("branchCode", self.branch_code),
                                 ("accountName", self.account_name)):
                if value is None:
                    raise ValueError(f"{name}: required for a BANK account")
            if self.phone_number is not None:
                raise ValueError("phoneNumber: only for a mobile wallet; a BANK account "
                                 "takes accountNumber")
            if self.account_number is None and not keeps:
                raise ValueError("accountNumber: required for a BANK account")
            number = self.account_number
        else:
            for name, value in (("bankName", self.bank_name), ("branchCode", self.branch_code),
                                 ("accountNumber", self.account_number)):
                if value is not None:
                    raise ValueError(f"{name}: only for a BANK account; a {self.type} "
                                     "wallet takes phoneNumber")
            if self.phone_number is None and not keeps:
                raise ValueError(f"phoneNumber: required for a {self.type} wallet")
            number = self.phone_number
        return AccountValues(type=self.type, currency=self.currency, bank_name=self.bank_name,
                             branch_code=self.branch_code, account_name=self.account_name,
                             number=number)


class SettlementAccountOut(BaseModel):
    """An account as every answer shows it: the number masked, never whole."""
    model_config = ConfigDict(populate_by_name=True)

    settlement_account_id: str = Field(alias="settlementAccountId")
    merchant_id: int = Field(alias="merchantId")
    type: AccountType
    currency: str
    bank_name: str | None = Field(alias="bankName")
    branch_code: str | None = Field(alias="branchCode")
    account_name: str | None = Field(alias="accountName")
    account_number: str | None = Field(alias="accountNumber")  # BANK: "****0001"
    phone_number: str | None = Field(alias="phoneNumber")  # wallets: "****0001"
    last4: str
    is_default: bool = Field(alias="isDefault")
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    deleted_at: str | None = Field(alias="deletedAt")


# Mail --------------------------------------------------------------------------------

Action = Literal["added", "changed", "deleted"]


def change_email(*, to: str, action: Action, account: SettlementAccount, merchant_name: str,
                 actor: str, at: datetime, changed: list[str] | None = None) -> dict:
    """The `email.requested` data telling one of the merchant's users of a change."""
    what = f"Settlement account {account.label} was {action}"
    lines = [f"{what} for {merchant_name}."]
    if changed:
        lines += ["", "What changed:"] + [f"  - {item}" for item in changed]
    lines += ["", f"By: {actor}", f"When: {at.strftime('%Y-%m-%d %H:%M:%S UTC')}", "",
              "Payouts go to the merchant's settlement accounts. If this was not you, "
              "contact your administrator at once."]
    return {"to": [to], "subject": f"{what} ({merchant_name})", "text": "\n".join(lines) + "\n"}


def actor_label(*, role: str | None, user_id: str | None, email: str | None) -> str:
    """Who made a change, as the mail names them."""
    if email:
        return email
    if role == "SUPER":
        return f"a norgate operator (SUPER user {user_id})"
    if role == "ADMIN":
        return f"an administrator of your company (ADMIN user {user_id})"
    return f"user {user_id} ({role})"
