"""Plans and rate decks on SQL storage, and the shipped sample data.

A deck import is atomic and versioned: the rows are inserted under a new
version, ``rate_decks.version`` is flipped to it and the old version's rows
are deleted, all in the caller's transaction. A reader loads the rows of the
current version in one statement (a join on ``rate_decks``), so it sees
either the old deck or the new one, never a mixture or nothing.

Loaded decks are kept in memory (:class:`RateTableCache`) keyed by database,
deck and version; a later import bumps the version and the next lookup
reloads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib import resources

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.engine import URL

from callcredit.adapters import tables as t
from callcredit.adapters.prepared import Prepared
from callcredit.domain.errors import InvalidRateDeck, NotFound
from callcredit.domain.money import check_currency
from callcredit.domain.rating import Increment, Plan, Rate, RateTable, parse_deck, parse_plans
from callcredit.domain.rating.plan import check_id

INSERT_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class DeckInfo:
    """A deck's current version, as recorded in ``rate_decks``."""

    deck: str
    currency: str
    version: int
    row_count: int
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class LoadedDeck:
    """A deck in memory: its rates, currency and the version they come from."""

    table: RateTable
    currency: str
    version: int


# -- plans ----------------------------------------------------------------


def save_plans(conn: Connection, plans: Iterable[Plan], now: datetime) -> list[str]:
    """Insert or replace each plan; returns their ids."""
    saved = []
    for plan in plans:
        values = {
            "name": plan.name,
            "home_country": plan.home_country,
            "currency": plan.currency,
            "rate_deck": plan.rate_deck,
            "included": list(plan.included),
            "updated_at": now,
        }
        changed = conn.execute(
            update(t.plans).where(t.plans.c.plan_id == plan.id).values(**values)
        ).rowcount
        if not changed:
            conn.execute(insert(t.plans).values(plan_id=plan.id, **values))
        saved.append(plan.id)
    return saved


_p = t.plans.c
_PLAN = Prepared(
    select(_p.plan_id, _p.name, _p.home_country, _p.currency, _p.rate_deck, _p.included).where(
        _p.plan_id == bindparam("plan_id")
    )
)


def load_plan(conn: Connection, plan_id: str) -> Plan:
    """The plan, or :class:`NotFound`."""
    row = _PLAN.first(conn, {"plan_id": plan_id})
    if row is None:
        raise NotFound(f"unknown calling plan {plan_id!r}")
    return Plan(
        row.plan_id, row.name, row.home_country, row.currency, row.rate_deck, tuple(row.included)
    )


def load_plan_with_deck(conn: Connection, plan_id: str) -> tuple[Plan, DeckInfo | None]:
    """The plan (or :class:`NotFound`) and its deck's current version (None
    when the deck was never imported), in one read."""
    row = _PLAN_WITH_DECK.first(conn, {"plan_id": plan_id})
    if row is None:
        raise NotFound(f"unknown calling plan {plan_id!r}")
    plan = Plan(
        row.plan_id, row.name, row.home_country, row.currency, row.rate_deck, tuple(row.included)
    )
    if row.deck_version is None:
        return plan, None
    info = DeckInfo(
        row.rate_deck, row.deck_currency, row.deck_version, row.deck_rows, row.deck_imported_at
    )
    return plan, info


def plan_exists(conn: Connection, plan_id: str) -> bool:
    return (
        conn.execute(select(t.plans.c.plan_id).where(t.plans.c.plan_id == plan_id)).first()
        is not None
    )


# -- decks ----------------------------------------------------------------


_d = t.rate_decks.c
_DECK_INFO = Prepared(
    select(_d.deck, _d.currency, _d.version, _d.row_count, _d.imported_at).where(
        _d.deck == bindparam("deck")
    )
)


_PLAN_WITH_DECK = Prepared(
    select(
        _p.plan_id,
        _p.name,
        _p.home_country,
        _p.currency,
        _p.rate_deck,
        _p.included,
        _d.currency.label("deck_currency"),
        _d.version.label("deck_version"),
        _d.row_count.label("deck_rows"),
        _d.imported_at.label("deck_imported_at"),
    )
    .select_from(t.plans.outerjoin(t.rate_decks, _d.deck == _p.rate_deck))
    .where(_p.plan_id == bindparam("plan_id"))
)


def deck_info(conn: Connection, deck: str) -> DeckInfo | None:
    """The deck's current version, or None when it was never imported."""
    row = _DECK_INFO.first(conn, {"deck": deck})
    return None if row is None else DeckInfo(*row)


def save_deck(
    conn: Connection, deck: str, currency: str, rates: list[Rate], now: datetime
) -> DeckInfo:
    """Replace the deck's rates with ``rates`` as a new version (atomic
    within the caller's transaction)."""
    check_id(deck, "deck name")
    check_currency(currency)
    if not rates:
        raise InvalidRateDeck(f"deck {deck}: no rates to import")
    d = t.rate_decks.c
    current = conn.execute(
        select(d.version).where(d.deck == deck).with_for_update()
    ).scalar_one_or_none()
    version = (current or 0) + 1
    for start in range(0, len(rates), INSERT_BATCH):
        conn.execute(
            insert(t.rates),
            [
                {
                    "deck": deck,
                    "version": version,
                    "prefix": r.prefix,
                    "description": r.description,
                    "per_minute": str(r.per_minute),
                    "connect_fee": str(r.connect_fee),
                    "increment": str(r.increment),
                }
                for r in rates[start : start + INSERT_BATCH]
            ],
        )
    values = {"currency": currency, "version": version, "row_count": len(rates), "imported_at": now}
    if current is None:
        conn.execute(insert(t.rate_decks).values(deck=deck, **values))
    else:
        conn.execute(update(t.rate_decks).where(d.deck == deck).values(**values))
    conn.execute(delete(t.rates).where(t.rates.c.deck == deck, t.rates.c.version != version))
    return DeckInfo(deck, currency, version, len(rates), now)


def read_deck(conn: Connection, deck: str) -> LoadedDeck:
    """All rates of the deck's current version, read in one statement."""
    r, d = t.rates.c, t.rate_decks.c
    rows = conn.execute(
        select(
            d.version, d.currency, r.prefix, r.description, r.per_minute, r.connect_fee,
            r.increment,
        )
        .join_from(t.rates, t.rate_decks, (r.deck == d.deck) & (r.version == d.version))
        .where(d.deck == deck)
    ).all()  # fmt: skip
    if not rows:
        raise NotFound(f"rate deck {deck!r} is not loaded (use `callcredit rates import`)")
    increments: dict[str, Increment] = {}
    rates = []
    for row in rows:
        increment = increments.get(row.increment)
        if increment is None:
            increment = increments[row.increment] = Increment.parse(row.increment)
        rates.append(
            Rate(
                row.prefix,
                row.description,
                Decimal(row.per_minute),
                Decimal(row.connect_fee),
                increment,
            )
        )
    return LoadedDeck(RateTable(rates), rows[0].currency, rows[0].version)


class RateTableCache:
    """Decks in memory, one entry per (database, deck), refreshed when the
    deck's version (or import time) in ``rate_decks`` changes."""

    def __init__(self) -> None:
        self._decks: dict[tuple[URL, str], tuple[tuple[int, datetime], LoadedDeck]] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, deck: str) -> LoadedDeck:
        """The current version of ``deck``: one indexed read when cached."""
        info = deck_info(conn, deck)
        if info is None:
            raise NotFound(f"rate deck {deck!r} is not loaded (use `callcredit rates import`)")
        return self.current(conn, info)

    def current(self, conn: Connection, info: DeckInfo) -> LoadedDeck:
        """The deck at ``info``'s version (just read in this transaction)."""
        deck = info.deck
        key = (conn.engine.url, deck)
        stamp = (info.version, info.imported_at)
        cached = self._decks.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with self._lock:
            cached = self._decks.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            loaded = read_deck(conn, deck)
            if loaded.version == info.version:
                self._decks[key] = (stamp, loaded)
            return loaded

    def clear(self) -> None:
        with self._lock:
            self._decks.clear()


rate_tables = RateTableCache()


# -- shipped data ---------------------------------------------------------


def shipped_plans() -> list[Plan]:
    """The plans shipped in ``callcredit/data/plans/*.toml``."""
    folder = resources.files("callcredit").joinpath("data", "plans")
    plans: list[Plan] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            plans.extend(parse_plans(entry.read_text(encoding="utf-8")))
    return plans


def shipped_deck(deck: str) -> list[Rate]:
    """The rates of ``callcredit/data/decks/<deck>.csv``."""
    path = resources.files("callcredit").joinpath("data", "decks", f"{deck}.csv")
    return parse_deck(path.read_text(encoding="utf-8").splitlines(keepends=True))


def install_shipped_data(conn: Connection, now: datetime) -> list[str]:
    """Load each shipped plan, and the deck it names, when absent; never
    replaces what an operator imported. Returns what was loaded."""
    loaded = []
    for plan in shipped_plans():
        if not plan_exists(conn, plan.id):
            save_plans(conn, [plan], now)
            loaded.append(f"plan {plan.id}")
        if deck_info(conn, plan.rate_deck) is None:
            info = save_deck(conn, plan.rate_deck, plan.currency, shipped_deck(plan.rate_deck), now)
            loaded.append(f"rate deck {info.deck} ({info.row_count} rates, {info.currency})")
    return loaded
