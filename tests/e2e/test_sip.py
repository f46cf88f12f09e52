"""End to end on real SIP: Kamailio asks a real ``callcredit serve`` before
every paid call; SIPp places the calls and plays the carrier.

Everything listens on 127.0.0.1 (free ports chosen per run); the processes
are started once for the module and stopped by their pid. The harness is the
one ``integrations/sipp/run.sh`` uses.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import support

pytestmark = pytest.mark.sip

ROOT = Path(__file__).resolve().parents[2]
HARNESS_PATH = ROOT / "integrations" / "sipp" / "harness.py"


def _load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("callcredit_sip_harness", HARNESS_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()

PLAN = """
[sip-office]
name = "SIP test office"
home_country = "FR"
currency = "EUR"
rate_deck = "sip"
included = ["FR:fixed_line", "FR:mobile"]
"""
# 1/1 increments so that every second counts; the mobile rate (1.00 EUR a
# second) makes a 10 EUR balance last 10 seconds.
DECK = """prefix,description,per_minute,connect_fee,increment
+44,United Kingdom,0.6000,0.0500,1/1
+447,United Kingdom mobile,60.0000,0,1/1
"""
UK_LANDLINE = "00442079460000"  # +44: 0.60/min, connect fee 0.05
UK_MOBILE = "00447700900123"  # +447: 60.00/min
FR_LANDLINE = "0142685300"  # included in the plan
EMERGENCY = "112"
EXTENSION = "104"
PACKAGES = "apt-get install kamailio kamailio-extra-modules kamailio-utils-modules sip-tester"
QUOTA_SECONDS = 4  # asked by Kamailio per authorization (and the server's default)
REAUTH_BEFORE = 2
FUNDS = "10"  # a preset amount
CARD = ("--number", "4242424242424242", "--exp", "12/34", "--cvc", "123", "--name", "SIP Test")
ACCOUNTS = {  # account -> funds added
    "sip-paid": FUNDS,
    "sip-broke": None,
    "sip-outlive": FUNDS,
    "sip-crowd": FUNDS,
}


def contract_cost(
    seconds: int, per_minute: str, connect_fee: str, first: int, step: int
) -> Decimal:
    """The contract's cost of a call, written out independently of the code."""
    if seconds == 0:
        return Decimal("0.00")
    billed = first if seconds <= first else first + math.ceil((seconds - first) / step) * step
    raw = Decimal(connect_fee) + Decimal(per_minute) * billed / 60
    return raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _callcredit() -> list[str]:
    exe = Path(sys.executable).with_name("callcredit")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("callcredit")
    assert found, "the callcredit command is not installed (pip install -e .)"
    return [found]


@dataclass
class World:
    """A running callcredit, Kamailio in front of a SIPp carrier, and helpers."""

    env: dict[str, str]
    work: Path
    url: str
    token: str
    proxy: Any
    kamailio_log: Path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*_callcredit(), *args], env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        if check:
            assert done.returncode == 0, f"callcredit {' '.join(args)}: {done.stderr}{done.stdout}"
        return done

    def call(self, destination: str, account: str, call_ms: int, **kw: Any) -> Any:
        return harness.place_calls(self.proxy.sip_port, destination, account=account,
                                   extension=kw.pop("extension", EXTENSION), call_ms=call_ms,
                                   work=self.work / "calls", **kw)  # fmt: skip

    def activity(self, account: str) -> list[dict[str, Any]]:
        """The account's Prepaid Activity, oldest first (one CLI call)."""
        out = json.loads(self.cli("activity", account, "--format", "json").stdout)
        assert isinstance(out, list)
        return out

    def kamailio_lines(self, pattern: str) -> list[str]:
        text = self.kamailio_log.read_text(errors="replace")
        return [line for line in text.splitlines() if re.search(pattern, line)]

    def ended(self) -> Counter[str]:
        """How many times Kamailio reported each call's end to callcredit."""
        ends = self.kamailio_lines(r"callcredit: ended ")
        return Counter(re.search(r"callcredit: ended (\S+) ", e).group(1) for e in ends)  # type: ignore[union-attr]


def _calls(activity: list[dict[str, Any]], call_id: str | None = None) -> list[dict[str, Any]]:
    return [e for e in activity if e["type"] == "call" and call_id in (None, e["reference"])]


def _balance(activity: list[dict[str, Any]]) -> Decimal:
    """The balance after the last entry (no call is running, so nothing is reserved)."""
    return Decimal(activity[-1]["balance_after"]) if activity else Decimal("0.00")


def _wait_for(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """callcredit serve + SIPp carrier + Kamailio, with funded test accounts."""
    missing = harness.missing_tools()
    support.require(not missing, f"missing {', '.join(missing)}: {PACKAGES}")
    problem = harness.config_problem()
    support.require(problem is None, f"{problem}: {PACKAGES}")
    work = tmp_path_factory.mktemp("sip")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCREDIT_")}
    env.update(
        CALLCREDIT_DATABASE_URL=f"sqlite:///{work / 'callcredit.db'}",
        CALLCREDIT_PAYMENT_GATEWAY="simulated",
        CALLCREDIT_DEFAULT_QUOTA_SECONDS=str(QUOTA_SECONDS),
    )
    (work / "plan.toml").write_text(PLAN)
    (work / "deck.csv").write_text(DECK)
    setup = World(env, work, "", "", None, work / "kamailio.log")
    setup.cli("init")
    setup.cli("plans", "import", str(work / "plan.toml"))
    setup.cli("rates", "import", str(work / "deck.csv"), "--deck", "sip", "--currency", "EUR")

    def open_account(account: str) -> None:
        setup.cli("accounts", "create", account, "--name", account, "--country", "FR",
                  "--currency", "EUR", "--plan", "sip-office")  # fmt: skip
        setup.cli("extensions", "add", account, EXTENSION, "--name", "Reception")
        funds = ACCOUNTS[account]
        if funds:
            setup.cli("cards", "set", account, *CARD)
            setup.cli("funds", "add", account, funds)

    with ThreadPoolExecutor(max_workers=len(ACCOUNTS)) as pool:
        list(pool.map(open_account, ACCOUNTS))
    out = setup.cli("tokens", "create", "--role", "pbx").stdout
    token = re.search(r"cc_pbx_\S+", out)
    assert token, f"no token printed: {out!r}"

    http_port = harness.free_port(socket.SOCK_STREAM)
    url = f"http://{harness.LOCALHOST}:{http_port}"
    proxy = harness.Proxy(url, token.group(0), quota_seconds=QUOTA_SECONDS,
                          reauth_before=REAUTH_BEFORE)  # fmt: skip
    with ExitStack() as stack:
        stack.enter_context(harness.callcredit_serve(http_port, work / "serve.log", env,
                                                     _callcredit()))  # fmt: skip
        stack.enter_context(harness.callee(proxy.carrier_port, work / "callee.log"))
        stack.enter_context(harness.kamailio(proxy, work / "kamailio.log"))
        yield World(env, work, url, token.group(0), proxy, work / "kamailio.log")


def _only(calls: Any) -> tuple[str, str]:
    assert calls.returncode == 0, f"sipp failed, see {calls.log}"
    outcomes = calls.first()
    assert len(outcomes) == 1, outcomes
    return next(iter(outcomes.items()))


def test_paid_call_is_charged_exactly_the_contract_cost(world: World) -> None:
    """A 3-second paid call completes, costs connect fee + 3 s at the rate,
    and the Prepaid Activity shows who called which number."""
    call_id, outcome = _only(world.call(UK_LANDLINE, "sip-paid", 3000))
    assert outcome == "hangup caller"
    assert _wait_for(lambda: world.ended()[call_id] == 1)

    activity = world.activity("sip-paid")
    [entry] = _calls(activity, call_id)
    assert entry["extension"] == EXTENSION
    assert entry["destination"] == UK_LANDLINE
    assert entry["answered_seconds"] == 3
    cost = contract_cost(3, "0.6000", "0.0500", 1, 1)
    assert cost == Decimal("0.08")
    assert Decimal(entry["amount"]) == -cost
    assert _balance(activity) == Decimal(FUNDS) - sum(
        -Decimal(e["amount"]) for e in _calls(activity)
    )


def test_included_call_completes_and_costs_nothing(world: World) -> None:
    """A call the plan includes goes through with an empty balance, for free."""
    call_id, outcome = _only(world.call(FR_LANDLINE, "sip-broke", 1000))
    assert outcome == "hangup caller"
    assert _wait_for(lambda: world.ended()[call_id] == 1)
    activity = world.activity("sip-broke")
    assert all(Decimal(e["amount"]) == 0 for e in _calls(activity, call_id))
    assert _balance(activity) == Decimal("0.00")


def test_emergency_call_with_zero_balance_completes(world: World) -> None:
    """112 is always allowed and free, even with nothing on the balance."""
    call_id, outcome = _only(world.call(EMERGENCY, "sip-broke", 1000))
    assert outcome == "hangup caller"
    assert _wait_for(lambda: world.ended()[call_id] == 1)
    activity = world.activity("sip-broke")
    assert all(Decimal(e["amount"]) == 0 for e in _calls(activity, call_id))
    assert _balance(activity) == Decimal("0.00")


def test_insufficient_funds_is_refused_with_402_and_moves_no_money(world: World) -> None:
    """A paid call on an empty balance gets 402 Payment Required; nothing is
    reserved, so nothing is ended and no money moves."""
    call_id, outcome = _only(world.call(UK_LANDLINE, "sip-broke", 1000))
    assert outcome == "rejected 402 insufficient_funds"
    assert world.ended()[call_id] == 0
    activity = world.activity("sip-broke")
    assert not _calls(activity, call_id)
    assert _balance(activity) == Decimal("0.00")


def test_unanswered_call_is_ended_with_zero_seconds_and_releases_its_money(
    world: World, tmp_path: Path
) -> None:
    """A busy carrier: the caller hears 486, Kamailio ends the call once with
    0 answered seconds, nothing is charged and nothing stays reserved."""
    proxy = harness.Proxy(world.url, world.token, quota_seconds=QUOTA_SECONDS,
                          reauth_before=REAUTH_BEFORE, children=2)  # fmt: skip
    log = tmp_path / "kamailio.log"
    with (
        harness.callee(proxy.carrier_port, tmp_path / "busy.log", harness.BUSY_CALLEE_XML),
        harness.kamailio(proxy, log),
    ):
        calls = harness.place_calls(proxy.sip_port, UK_LANDLINE, account="sip-paid",
                                    extension=EXTENSION, call_ms=500, work=tmp_path)  # fmt: skip
        call_id, outcome = _only(calls)
        assert _wait_for(lambda: f"ended {call_id} answered=0 " in log.read_text())
    assert outcome == "rejected 486"
    assert log.read_text().count(f"callcredit: ended {call_id} ") == 1
    assert not _calls(world.activity("sip-paid"), call_id)
    balance = json.loads(world.cli("balance", "sip-paid", "--json").stdout)
    assert Decimal(balance["reserved"]) == 0


@pytest.mark.parametrize(
    ("account", "extension", "destination", "expected"),
    [
        ("sip-broke", EXTENSION, "abc", "rejected 404 invalid_number"),
        ("sip-broke", EXTENSION, "12", "rejected 484 invalid_number"),
        ("sip-paid", EXTENSION, "0061212345678", "rejected 403 destination_blocked"),
        ("sip-paid", "999", UK_LANDLINE, "rejected 403 unknown_extension"),
        ("sip-nobody", EXTENSION, UK_LANDLINE, "rejected 403 unknown_account"),
    ],
)
def test_refusals_become_meaningful_sip_statuses(
    world: World, account: str, extension: str, destination: str, expected: str
) -> None:
    """Each deny reason reaches the caller as the SIP status the README documents."""
    _, outcome = _only(world.call(destination, account, 1000, extension=extension))
    assert outcome == expected


@pytest.mark.slow
def test_call_outliving_its_funds_is_cut_when_the_granted_time_runs_out(world: World) -> None:
    """A 30-second call on 10 EUR at 1 EUR a second is re-authorized in short
    quotas and ended by Kamailio (BYE to both sides) once the money is
    gone; it is charged what it was allowed, and the balance stays >= 0."""
    started = time.monotonic()
    call_id, outcome = _only(world.call(UK_MOBILE, "sip-outlive", 30_000))
    assert outcome == "hangup proxy"
    assert time.monotonic() - started < 20
    assert _wait_for(lambda: world.ended()[call_id] == 1)
    assert world.kamailio_lines(rf"reauthorized {re.escape(call_id)} ")
    assert world.kamailio_lines(rf"no more funds for {re.escape(call_id)} ")

    activity = world.activity("sip-outlive")
    [entry] = _calls(activity, call_id)
    allowed = 10  # seconds that 10.00 EUR pay for
    assert allowed - 1 <= entry["answered_seconds"] <= allowed
    cost = contract_cost(entry["answered_seconds"], "60.0000", "0", 1, 1)
    assert Decimal(entry["amount"]) == -cost
    assert not entry["overrun"]
    assert _balance(activity) == Decimal(FUNDS) - cost
    assert _balance(activity) >= 0
    world.cli("verify")


@pytest.mark.slow
def test_fifty_concurrent_calls_never_overdraw_and_each_ends_once(world: World) -> None:
    """50 simultaneous 3-second calls on a balance that pays for a few: the
    others get 402, the balance never goes below zero, the ledger verifies,
    and every allowed call is ended exactly once."""
    calls = world.call(UK_MOBILE, "sip-crowd", 3000, calls=50, concurrent=50, rate=200)
    assert calls.returncode == 0, f"sipp failed, see {calls.log}"
    outcomes = calls.first()
    assert len(outcomes) == 50
    allowed = {cid for cid, o in outcomes.items() if o.startswith("hangup")}
    denied = {cid: o for cid, o in outcomes.items() if o.startswith("rejected")}
    assert 1 <= len(allowed) <= 10
    assert set(denied.values()) == {"rejected 402 insufficient_funds"}
    assert len(allowed) + len(denied) == 50

    assert _wait_for(lambda: all(world.ended()[cid] == 1 for cid in allowed))
    ended = world.ended()
    assert all(ended[cid] == 1 for cid in allowed)
    assert all(ended[cid] == 0 for cid in denied)

    entries = _calls(world.activity("sip-crowd"))
    references = Counter(e["reference"] for e in entries)
    assert set(references) <= allowed
    assert all(n == 1 for n in references.values())
    assert not any(e["overrun"] for e in entries)
    spent = -sum(Decimal(e["amount"]) for e in entries)
    balance = json.loads(world.cli("balance", "sip-crowd", "--json").stdout)
    assert Decimal(balance["reserved"]) == 0
    assert Decimal(balance["available"]) == Decimal(FUNDS) - spent
    assert Decimal(balance["available"]) >= 0
    world.cli("verify")


def test_unreachable_callcredit_gives_503_and_emergency_can_fail_open(
    world: World, tmp_path: Path
) -> None:
    """With callcredit down, paid calls get 503; with the fail-open define,
    emergency calls still go through."""
    dead = f"http://{harness.LOCALHOST}:{harness.free_port(socket.SOCK_STREAM)}"
    proxy = harness.Proxy(dead, "nobody", carrier_port=world.proxy.carrier_port,
                          extra_defines=("CALLCREDIT_FAIL_OPEN_EMERGENCY",),
                          children=2)  # fmt: skip
    with harness.kamailio(proxy, tmp_path / "kamailio.log"):
        paid = harness.place_calls(proxy.sip_port, UK_LANDLINE, account="sip-paid",
                                   extension=EXTENSION, call_ms=500, work=tmp_path)  # fmt: skip
        urgent = harness.place_calls(proxy.sip_port, EMERGENCY, account="sip-paid",
                                     extension=EXTENSION, call_ms=500, work=tmp_path)  # fmt: skip
    assert _only(paid)[1] == "rejected 503 unavailable"
    assert _only(urgent)[1] == "hangup caller"
