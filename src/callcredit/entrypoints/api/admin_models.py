"""The admin REST API's request and answer bodies (they make its OpenAPI
document). Amounts are text in major units with the currency's decimals."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

AmountText = Annotated[str, Field(pattern=r"^\d{1,9}(\.\d{1,4})?$", examples=["25.00"])]


class PrepaidBalance(BaseModel):
    """The prepaid balance; amounts in major units with the currency's decimals."""

    account: str
    currency: str
    balance: str
    reserved: str
    available: str


class AddFundsIn(BaseModel):
    """Add Funds: one of the preset amounts, charged to the card on file."""

    amount: AmountText
    idempotency_key: str | None = Field(
        None, max_length=60, description="Repeat it to retry without paying twice."
    )


class PresetsOut(BaseModel):
    """The amounts Add Funds accepts."""

    currency: str
    amounts: list[str]


class SettingsBody(BaseModel):
    """The Settings drop-down: ``auto-topoff`` (below X, add Y), ``stop-below``
    (refuse paid calls below X) or ``off``."""

    mode: Literal["off", "stop-below", "auto-topoff"]
    below: AmountText | None = None
    amount: AmountText | None = None


class SettingsOut(SettingsBody):
    currency: str
    topoff_suspended: bool


class AddressOut(BaseModel):
    """The billing address."""

    line1: str
    line2: str
    postal_code: str
    city: str
    country: str


class CardOut(BaseModel):
    """The card on file as it may be shown; never the number."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    expired: bool
    holder: str
    address: AddressOut


class ActivityEntry(BaseModel):
    """One line of the Prepaid Activity (``amount`` is signed)."""

    time: str
    type: str
    extension: str | None
    destination: str | None
    e164: str | None
    country: str | None
    kind: str | None
    answered_seconds: int | None
    billed_seconds: int | None
    amount: str
    balance_after: str
    currency: str
    reference: str
    overrun: bool


class ActivityOut(BaseModel):
    """A page of the activity, newest first, and totals per extension over
    everything the filters select."""

    total: int
    entries: list[ActivityEntry]
    totals_per_extension: dict[str, str]


class ExtensionOut(BaseModel):
    """An extension's rights and its spend since the first of the month."""

    extension: str
    name: str
    paid_allowed: bool
    premium_allowed: bool
    monthly_cap: str | None
    month_spent: str
    currency: str


class ExtensionPatch(BaseModel):
    """Rights to change; omitted fields stay as they are, ``monthly_cap: null`` removes the cap."""

    name: str | None = Field(None, max_length=200)
    paid_allowed: bool | None = None
    premium_allowed: bool | None = None
    monthly_cap: AmountText | None = None
