"""The authorize decision, steps 2–10 of the contract, as a pure function.

The caller has already found the account and the extension (step 1),
classified the destination, looked its rate up and read the balance; this
module only decides, in the contract's order, first match wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from callcredit.domain.errors import InvalidInput
from callcredit.domain.money import Money
from callcredit.domain.rating.arithmetic import (
    Rate,
    call_cost,
    first_interval_cost,
    granted_seconds,
)
from callcredit.domain.rating.numbers import NumberInfo
from callcredit.domain.rating.plan import Plan


class Reason(StrEnum):
    """Why a call was allowed or denied (the contract's ``reason`` strings)."""

    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_EXTENSION = "unknown_extension"
    INVALID_NUMBER = "invalid_number"
    EMERGENCY = "emergency"
    INCLUDED = "included"
    DESTINATION_BLOCKED = "destination_blocked"
    EXTENSION_BLOCKED = "extension_blocked"
    EXTENSION_CAP_REACHED = "extension_cap_reached"
    LOW_BALANCE = "low_balance"
    FRAUD_GUARD = "fraud_guard"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    PREPAID = "prepaid"


LOW_BALANCE_MODES = ("off", "stop-below", "auto-topoff")


@dataclass(frozen=True, slots=True)
class ExtensionRights:
    """What one extension may do; ``monthly_cap_minor`` None means no cap."""

    paid_allowed: bool = True
    premium_allowed: bool = True
    monthly_cap_minor: int | None = None
    month_spent_minor: int = 0


@dataclass(frozen=True, slots=True)
class LowBalancePolicy:
    """The Settings drop-down: ``off``, ``stop-below`` or ``auto-topoff``,
    with its threshold in minor units."""

    mode: str = "off"
    below_minor: int = 0

    def __post_init__(self) -> None:
        if self.mode not in LOW_BALANCE_MODES:
            raise InvalidInput(f"low-balance mode {self.mode!r} is not one of {LOW_BALANCE_MODES}")


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may this call go ahead, and for how long?".

    ``granted_seconds`` is None when nothing limits the call (emergency,
    included) and 0 on a denial; ``reserve`` is the cost of the granted
    seconds, the amount to hold. ``first_interval`` is the connect fee plus
    the first increment, when a rate matched.
    """

    allow: bool
    reason: Reason
    number: NumberInfo
    rule: str | None
    rate: Rate | None
    granted_seconds: int | None
    first_interval: Money | None
    reserve: Money

    @property
    def matched(self) -> str | None:
        """The plan rule or the rate-deck prefix that decided the price."""
        if self.rule is not None:
            return self.rule
        return self.rate.prefix if self.rate is not None else None


def decide(
    number: NumberInfo,
    plan: Plan,
    rate: Rate | None,
    rights: ExtensionRights,
    policy: LowBalancePolicy,
    available_minor: int,
    fraud_guard_tripped: bool,
    quota_seconds: int,
) -> Decision:
    """Decide a call (contract steps 2–10). The money the call may use is the
    available balance and, when the extension has a monthly cap, what is
    left under the cap; a cap too low for even the first interval counts as
    reached."""
    currency = plan.currency
    free = Money.zero(currency)

    def deny(reason: Reason, first: Money | None = None) -> Decision:
        return Decision(False, reason, number, None, rate, 0, first, free)

    if not number.valid:
        return deny(Reason.INVALID_NUMBER)
    if number.emergency:
        return Decision(True, Reason.EMERGENCY, number, None, None, None, None, free)
    rule = plan.included_rule(number)
    if rule is not None:
        return Decision(True, Reason.INCLUDED, number, rule, None, None, None, free)
    if rate is None:
        return deny(Reason.DESTINATION_BLOCKED)
    first = first_interval_cost(rate, currency)
    if not rights.paid_allowed or (number.premium and not rights.premium_allowed):
        return deny(Reason.EXTENSION_BLOCKED, first)
    spendable = available_minor
    if rights.monthly_cap_minor is not None:
        room = rights.monthly_cap_minor - rights.month_spent_minor
        if room <= 0 or first.minor > room:
            return deny(Reason.EXTENSION_CAP_REACHED, first)
        spendable = min(spendable, room)
    if policy.mode == "stop-below" and available_minor < policy.below_minor:
        return deny(Reason.LOW_BALANCE, first)
    if fraud_guard_tripped:
        return deny(Reason.FRAUD_GUARD, first)
    if first.minor > available_minor:
        return deny(Reason.INSUFFICIENT_FUNDS, first)
    seconds = granted_seconds(rate, spendable, quota_seconds, currency)
    reserve = call_cost(seconds, rate, currency)
    return Decision(True, Reason.PREPAID, number, None, rate, seconds, first, reserve)
