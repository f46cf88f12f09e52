"""Rating: what a call to a destination costs and whether it may go ahead.

Standard library only. ``arithmetic`` holds the contract's formulas,
``table`` the longest-prefix lookup, ``plan`` the included rules,
``decision`` the authorize decision, ``files`` the deck and plan parsers.
"""

from callcredit.domain.rating.arithmetic import (
    Increment,
    Rate,
    billed_seconds,
    call_cost,
    decimal_text,
    first_interval_cost,
    granted_seconds,
)
from callcredit.domain.rating.decision import (
    Decision,
    ExtensionRights,
    LowBalancePolicy,
    Reason,
    decide,
)
from callcredit.domain.rating.files import parse_deck, parse_plans
from callcredit.domain.rating.numbers import INVALID, KINDS, NumberInfo
from callcredit.domain.rating.plan import Plan
from callcredit.domain.rating.table import RateTable

__all__ = [
    "INVALID",
    "KINDS",
    "Decision",
    "ExtensionRights",
    "Increment",
    "LowBalancePolicy",
    "NumberInfo",
    "Plan",
    "Rate",
    "RateTable",
    "Reason",
    "billed_seconds",
    "call_cost",
    "decide",
    "decimal_text",
    "first_interval_cost",
    "granted_seconds",
    "parse_deck",
    "parse_plans",
]
