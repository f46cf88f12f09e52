"""The double-entry ledger on SQL storage (SQLite or PostgreSQL).

Every operation runs inside the caller's transaction (see
:mod:`callcredit.adapters.uow`) and starts by locking the customer's prepaid
row, so operations on one customer are serialised: on PostgreSQL with
``SELECT … FOR UPDATE``, on SQLite by the database-wide write lock that
``BEGIN IMMEDIATE`` already holds. Idempotency keys are checked after the
lock, so a concurrent retry sees the first attempt's result.

The statements of the hot path are built once, with bound parameters
(building a statement costs more than running it), and each operation
updates each ledger row it touches with one UPDATE.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, func, insert, select, update

from callcredit.adapters import tables as t
from callcredit.adapters.bulk import BulkInsert
from callcredit.adapters.prepared import Prepared
from callcredit.domain import ledger as L
from callcredit.domain.clock import Clock, new_id, utc
from callcredit.domain.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    NotFound,
    OverrunNotAllowed,
    ReservationResolved,
)

R = TypeVar("R", L.TransferResult, L.ReservationResult)

_lb, _acc, _keys, _res = (
    t.ledger_balances.c,
    t.accounts.c,
    t.idempotency_keys.c,
    t.reservations.c,
)
_PREPAID = select(
    _lb.currency,
    _lb.credits_posted,
    _lb.debits_posted,
    _lb.debits_pending,
    _lb.floor,
    _lb.transfer_seq,
).where(_lb.account_id == bindparam("account_id"), _lb.ledger == L.PREPAID)
_PREPAID_FOR_UPDATE = _PREPAID.with_for_update()
_ACCOUNT = select(t.accounts).where(_acc.account_id == bindparam("account_id"))
_KEY = select(_keys.request_hash, _keys.response).where(
    _keys.account_id == bindparam("account_id"), _keys.key == bindparam("key")
)
_INSERT_KEY = insert(t.idempotency_keys)
_INSERT_TRANSFERS = insert(t.transfers)
_INSERT_RESERVATION = insert(t.reservations)
_RESERVATION = select(t.reservations).where(
    _res.account_id == bindparam("account_id"),
    _res.reservation_id == bindparam("reservation_id"),
)
_COUNTERS = {
    name: _lb[name] + bindparam(f"delta_{name}")
    for name in ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
}
_WHERE_LEDGER = (_lb.account_id == bindparam("row_account"), _lb.ledger == bindparam("row_ledger"))
_UPDATE_COUNTERS = update(t.ledger_balances).where(*_WHERE_LEDGER).values(**_COUNTERS)
_WHERE_RESERVATION = (
    _res.account_id == bindparam("res_account"),
    _res.reservation_id == bindparam("res_id"),
)
_RESOLVE = (
    update(t.reservations)
    .where(*_WHERE_RESERVATION)
    .values(
        state=bindparam("new_state", type_=_res.state.type),
        resolved_at=bindparam("resolved", type_=_res.resolved_at.type),
        settled_amount=bindparam("settled", type_=_res.settled_amount.type),
        overrun=bindparam("flag_overrun", type_=_res.overrun.type),
        settle_transfer_id=bindparam("settle_id", type_=_res.settle_transfer_id.type),
    )
)
_GROW = (
    update(t.reservations)
    .where(*_WHERE_RESERVATION)
    .values(
        amount=bindparam("new_amount", type_=_res.amount.type),
        expires_at=bindparam("new_expiry", type_=_res.expires_at.type),
    )
)
_UPDATE_COUNTERS_SEQ = (
    update(t.ledger_balances)
    .where(*_WHERE_LEDGER)
    .values(transfer_seq=bindparam("new_seq", type_=_lb.transfer_seq.type), **_COUNTERS)
)
# The same statements run on the driver directly (see adapters.prepared).
_P_PREPAID = Prepared(_PREPAID)
_P_PREPAID_FOR_UPDATE = Prepared(_PREPAID_FOR_UPDATE)
_P_ACCOUNT = Prepared(_ACCOUNT)
_P_KEY = Prepared(_KEY)
_P_INSERT_KEY = Prepared(_INSERT_KEY)
_P_INSERT_TRANSFERS = Prepared(_INSERT_TRANSFERS)
_P_INSERT_RESERVATION = Prepared(_INSERT_RESERVATION)
_P_RESERVATION = Prepared(_RESERVATION)
_P_UPDATE_COUNTERS = Prepared(_UPDATE_COUNTERS)
_P_UPDATE_COUNTERS_SEQ = Prepared(_UPDATE_COUNTERS_SEQ)
_P_RESOLVE = Prepared(_RESOLVE)
_P_GROW = Prepared(_GROW)


class _Deltas:
    """Counter changes of one operation, written with one UPDATE per
    ledger row touched (and the prepaid row's transfer number)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, int]] = {}

    def add(self, ledger: str, column: str, amount: int) -> None:
        if amount:
            row = self.rows.setdefault(ledger, dict.fromkeys(_COUNTERS, 0))
            row[column] += amount


@dataclasses.dataclass(slots=True)
class _Locked:
    """The locked prepaid row and the account settings read with it
    (``account``: the whole ``accounts`` row, read after the lock)."""

    currency: str
    posted: int
    reserved: int
    floor: int | None
    seq: int
    mode: str
    below: int
    topoff_amount: int
    armed: bool
    suspended: bool
    account: Any = None

    @property
    def available(self) -> int:
        return self.posted - self.reserved


class SqlLedger:
    """Ledger operations for all customers, bound to one transaction."""

    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock
        self._pg = conn.dialect.name == "postgresql"

    # -- accounts -------------------------------------------------------
    def open(self, account_id: str, currency: str, floor: int = 0) -> None:
        """Create the four ledger accounts of a new customer."""
        self.conn.execute(
            insert(t.ledger_balances),
            [
                {
                    "account_id": account_id,
                    "ledger": ledger,
                    "currency": currency,
                    "floor": floor if ledger == L.PREPAID else None,
                }
                for ledger in L.LEDGERS
            ],
        )

    def balance(self, account_id: str) -> L.Balance:
        """The prepaid balance as it stands in this transaction."""
        row = self.conn.execute(_PREPAID, {"account_id": account_id}).one_or_none()
        if row is None:
            raise NotFound(f"unknown account {account_id!r}")
        return L.Balance(
            account_id,
            row.currency,
            row.credits_posted - row.debits_posted,
            row.debits_pending,
            row.floor or 0,
        )

    def lock(self, account_id: str) -> _Locked:
        """Lock the customer's prepaid row for the rest of the transaction."""
        row = (_P_PREPAID_FOR_UPDATE if self._pg else _P_PREPAID).first(
            self.conn, {"account_id": account_id}
        )
        if row is None:
            raise NotFound(f"unknown account {account_id!r}")
        # Read the settings once the lock is held, in a statement of their
        # own: under READ COMMITTED it sees what the previous holder of the
        # lock committed (e.g. ``topoff_armed`` cleared), whereas a join in
        # the locking statement re-reads only the locked row after a wait.
        settings = _P_ACCOUNT.one(self.conn, {"account_id": account_id})
        return _Locked(
            row.currency,
            row.credits_posted - row.debits_posted,
            row.debits_pending,
            row.floor,
            row.transfer_seq,
            settings.low_balance_mode,
            settings.low_balance_below,
            settings.topoff_amount,
            bool(settings.topoff_armed),
            bool(settings.topoff_suspended),
            settings,
        )

    # -- idempotency ----------------------------------------------------
    def _replay(
        self, account_id: str, key: str, operation: str, request: dict[str, Any], cls: type[R]
    ) -> R | None:
        row = _P_KEY.first(self.conn, {"account_id": account_id, "key": key})
        if row is None:
            return None
        if row.request_hash != L.request_hash(operation, request):
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for a different request"
            )
        return cls(**row.response)

    def _remember(
        self, account_id: str, key: str, operation: str, request: dict[str, Any], result: Any
    ) -> None:
        _P_INSERT_KEY.execute(
            self.conn,
            {
                "account_id": account_id,
                "key": key,
                "operation": operation,
                "request_hash": L.request_hash(operation, request),
                "response": dataclasses.asdict(result),
                "created_at": self.clock.now(),
            },
        )

    # -- counters -------------------------------------------------------
    def _apply(self, account_id: str, deltas: _Deltas, seq: int | None = None) -> None:
        """Write ``deltas``: one UPDATE per ledger row; ``seq`` is the
        prepaid row's new transfer number when transfers were posted."""
        if seq is not None:
            deltas.rows.setdefault(L.PREPAID, dict.fromkeys(_COUNTERS, 0))
        for ledger, values in deltas.rows.items():
            params: dict[str, Any] = {f"delta_{name}": d for name, d in values.items()}
            params["row_account"], params["row_ledger"] = account_id, ledger
            if ledger == L.PREPAID and seq is not None:
                params["new_seq"] = seq
                _P_UPDATE_COUNTERS_SEQ.execute(self.conn, params)
            else:
                _P_UPDATE_COUNTERS.execute(self.conn, params)

    def _post(
        self,
        account_id: str,
        state: _Locked,
        *,
        debit: str,
        credit: str,
        amount: int,
        kind: str,
        reference: str | None,
        reservation_id: str | None = None,
        overrun: bool = False,
        transfer_id: str | None = None,
        deltas: _Deltas | None = None,
    ) -> str:
        """Insert one transfer and update the counters (with ``deltas``,
        when given, in the same UPDATEs); ``state`` follows."""
        row = self._transfer_row(
            account_id, state, debit, credit, amount, kind, reference, reservation_id, overrun
        )
        if transfer_id is not None:
            row["transfer_id"] = transfer_id
        self._write(account_id, state, [row], deltas)
        return str(row["transfer_id"])

    def _transfer_row(
        self,
        account_id: str,
        state: _Locked,
        debit: str,
        credit: str,
        amount: int,
        kind: str,
        reference: str | None,
        reservation_id: str | None,
        overrun: bool,
    ) -> dict[str, Any]:
        """The row of the next transfer; moves ``state`` past it."""
        if debit == L.PREPAID:
            state.posted -= amount
        if credit == L.PREPAID:
            state.posted += amount
        state.seq += 1
        return {
            "account_id": account_id,
            "transfer_id": new_id(),
            "seq": state.seq,
            "debit_ledger": debit,
            "credit_ledger": credit,
            "amount": amount,
            "currency": state.currency,
            "kind": kind,
            "reservation_id": reservation_id,
            "reference": reference,
            "overrun": overrun,
            "balance_after": state.posted,
            "created_at": self.clock.now(),
        }

    def _write(
        self,
        account_id: str,
        state: _Locked,
        rows: list[dict[str, Any]],
        deltas: _Deltas | None = None,
    ) -> None:
        """Insert transfer rows and apply their sums (and ``deltas``) to the
        counters: one UPDATE per ledger account touched, however many rows."""
        if not rows:
            if deltas is not None:
                self._apply(account_id, deltas)
            return
        if len(rows) == 1:
            _P_INSERT_TRANSFERS.execute(self.conn, rows[0])
        else:
            _P_INSERT_TRANSFERS.executemany(self.conn, rows)
        deltas = deltas or _Deltas()
        for row in rows:
            deltas.add(row["debit_ledger"], "debits_posted", row["amount"])
            deltas.add(row["credit_ledger"], "credits_posted", row["amount"])
        self._apply(account_id, deltas, state.seq)

    def _check_floor(self, state: _Locked, amount: int) -> None:
        if state.floor is not None and state.available - amount < state.floor:
            raise InsufficientFunds(
                f"available balance {state.available} cannot cover {amount} (minor units)"
            )

    # -- low-balance watch ----------------------------------------------
    def _watch(self, account_id: str, state: _Locked) -> None:
        """Emit one durable top-off request per dip below the threshold."""
        if state.mode != "auto-topoff" or state.topoff_amount <= 0:
            return
        below = state.available < state.below
        if below and state.armed and not state.suspended:
            now = self.clock.now()
            request_id = new_id()
            self.conn.execute(
                insert(t.topoff_requests).values(
                    account_id=account_id,
                    request_id=request_id,
                    amount=state.topoff_amount,
                    currency=state.currency,
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    charge_key=f"topoff:{account_id}:{request_id}",
                    created_at=now,
                )
            )
            self._set_armed(account_id, False)
            state.armed = False
        elif not below and not state.armed:
            self._set_armed(account_id, True)
            state.armed = True

    def check_low_balance(self, account_id: str) -> None:
        """Apply the low-balance watch now, as after a balance change: used
        when the Settings change, so an account already below the new
        threshold gets its one top-off request at once."""
        self._watch(account_id, self.lock(account_id))

    def _set_armed(self, account_id: str, armed: bool) -> None:
        self.conn.execute(
            update(t.accounts)
            .where(t.accounts.c.account_id == account_id)
            .values(topoff_armed=armed)
        )

    # -- transfers ------------------------------------------------------
    def transfer(
        self,
        account_id: str,
        *,
        key: str,
        debit: str,
        credit: str,
        amount: int,
        kind: str,
        reference: str | None = None,
        allow_overrun: bool = False,
    ) -> L.TransferResult:
        """Post ``amount`` from ``debit`` to ``credit`` at once.

        A debit of the prepaid balance that would take the available
        balance below its floor is refused unless ``allow_overrun``, in which
        case it is posted and flagged."""
        posting = L.Posting(key, debit, credit, amount, kind, reference)
        return self.post_many(account_id, [posting], allow_overrun=allow_overrun)[0]

    def post_many(
        self, account_id: str, postings: list[L.Posting], *, allow_overrun: bool = False
    ) -> list[L.TransferResult]:
        """Post several transfers of one customer in order, with one lock,
        one read of the idempotency keys and one counter update per ledger
        account. Each posting is checked as :meth:`transfer` checks it; one
        refusal refuses them all (the caller's transaction rolls back)."""
        _check_postings(postings)
        locked = {account_id: self.lock(account_id)}
        batch = self.post_batch({account_id: postings}, locked, allow_overrun=allow_overrun)
        return batch[account_id]

    # -- several customers in one transaction (CDR import; post_many) ----
    # Built once like the statements above; ``ids`` expand to a batch's
    # accounts. Idempotency keys are found by joining a JSON array of
    # (account, key) pairs to the primary key: an IN of pairs would scan
    # the table on SQLite and plan one OR branch per pair on PostgreSQL.
    _MANY = 1000  # accounts per statement
    _PREPAID_MANY = (
        select(_lb.account_id, *_PREPAID.selected_columns)
        .where(_lb.account_id.in_(bindparam("ids", expanding=True)), _lb.ledger == L.PREPAID)
        .order_by(_lb.account_id)
    )
    _PREPAID_MANY_FOR_UPDATE = _PREPAID_MANY.with_for_update()
    _ACCOUNTS_MANY = select(t.accounts).where(_acc.account_id.in_(bindparam("ids", expanding=True)))
    _each = func.json_each(bindparam("pairs", type_=_keys.response.type)).table_valued("value")
    _KEYS_SQLITE = select(_keys.account_id, _keys.key, _keys.request_hash, _keys.response)
    _KEYS_SQLITE = _KEYS_SQLITE.join_from(
        _each,
        t.idempotency_keys,
        (_keys.account_id == func.json_extract(_each.c.value, "$[0]"))
        & (_keys.key == func.json_extract(_each.c.value, "$[1]")),
    )
    _elements = func.json_array_elements(
        bindparam("pairs", type_=_keys.response.type)
    ).table_valued("value")
    _KEYS_PG = select(_keys.account_id, _keys.key, _keys.request_hash, _keys.response)
    _KEYS_PG = _KEYS_PG.join_from(
        _elements,
        t.idempotency_keys,
        (_keys.account_id == _elements.c.value.op("->>")(0))
        & (_keys.key == _elements.c.value.op("->>")(1)),
    )
    del _each, _elements
    _RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(L.TransferResult))
    _BULK_TRANSFERS = BulkInsert(t.transfers, [c.name for c in t.transfers.columns])
    _BULK_KEYS = BulkInsert(t.idempotency_keys, [c.name for c in t.idempotency_keys.columns])

    def lock_many(self, account_ids: list[str]) -> dict[str, _Locked]:
        """:meth:`lock` for several customers in one transaction: their
        prepaid rows are locked in account order (so two such transactions
        cannot deadlock, and single-customer operations lock one prepaid row
        only), then their ``accounts`` rows are read. Customers without a
        ledger are not in the answer."""
        ids = sorted(set(account_ids))
        prepaid = self._PREPAID_MANY_FOR_UPDATE if self._pg else self._PREPAID_MANY
        rows: list[Any] = []
        settings: dict[str, Any] = {}
        for start in range(0, len(ids), self._MANY):
            rows.extend(self.conn.execute(prepaid, {"ids": ids[start : start + self._MANY]}))
        for start in range(0, len(ids), self._MANY):
            chunk = ids[start : start + self._MANY]
            for account in self.conn.execute(self._ACCOUNTS_MANY, {"ids": chunk}):
                settings[account.account_id] = account
        locked: dict[str, _Locked] = {}
        for row in rows:
            account = settings[row.account_id]
            locked[row.account_id] = _Locked(
                row.currency,
                row.credits_posted - row.debits_posted,
                row.debits_pending,
                row.floor,
                row.transfer_seq,
                account.low_balance_mode,
                account.low_balance_below,
                account.topoff_amount,
                bool(account.topoff_armed),
                bool(account.topoff_suspended),
                account,
            )
        return locked

    def _known_keys_many(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """(request hash, response) of the (account, key) pairs already used."""
        found: dict[tuple[str, str], Any] = {}
        statement = self._KEYS_PG if self._pg else self._KEYS_SQLITE
        for start in range(0, len(pairs), 5000):
            for row in self.conn.execute(statement, {"pairs": pairs[start : start + 5000]}):
                found[row.account_id, row.key] = (row.request_hash, row.response)
        return found

    def post_batch(
        self,
        postings: dict[str, list[L.Posting]],
        locked: dict[str, _Locked],
        *,
        allow_overrun: bool = False,
    ) -> dict[str, list[L.TransferResult]]:
        """:meth:`post_many` for several customers locked earlier in this
        transaction (``locked``: what :meth:`lock_many` returned, followed
        since): each customer's postings are checked, numbered and watched
        as :meth:`post_many` does it, but all customers share one read of
        the idempotency keys, one INSERT of transfers, one of keys and one
        executemany UPDATE of the counters per kind of ledger row."""
        for account_postings in postings.values():
            _check_postings(account_postings)
        accounts = sorted(postings)
        known = self._known_keys_many([(a, p.key) for a in accounts for p in postings[a]])
        results: dict[str, list[L.TransferResult]] = {}
        rows: list[dict[str, Any]] = []
        remembered: list[dict[str, Any]] = []
        counters: list[dict[str, Any]] = []
        counters_seq: list[dict[str, Any]] = []
        now = self.clock.now()
        for account_id in accounts:
            state = locked[account_id]
            out: list[L.TransferResult] = []
            results[account_id] = out
            deltas = _Deltas()
            new = 0
            for p in postings[account_id]:
                digest = L.request_hash("transfer", p.request())
                stored = known.get((account_id, p.key))
                if stored is not None:
                    if stored[0] != digest:
                        raise IdempotencyConflict(
                            f"idempotency key {p.key!r} was already used for a different request"
                        )
                    out.append(L.TransferResult(**stored[1]))
                    continue
                overrun = False
                if p.debit == L.PREPAID:
                    try:
                        self._check_floor(state, p.amount)
                    except InsufficientFunds:
                        if not allow_overrun:
                            raise
                        overrun = True
                row = self._transfer_row(
                    account_id,
                    state,
                    p.debit,
                    p.credit,
                    p.amount,
                    p.kind,
                    p.reference,
                    None,
                    overrun,
                )
                rows.append(row)
                new += 1
                deltas.add(p.debit, "debits_posted", p.amount)
                deltas.add(p.credit, "credits_posted", p.amount)
                result = L.TransferResult(
                    row["transfer_id"], p.amount, state.posted, state.available, overrun
                )
                out.append(result)
                response = {name: getattr(result, name) for name in self._RESULT_FIELDS}
                known[account_id, p.key] = (digest, response)
                remembered.append(
                    {
                        "account_id": account_id,
                        "key": p.key,
                        "operation": "transfer",
                        "request_hash": digest,
                        "response": response,
                        "created_at": now,
                    }
                )
            if new:
                deltas.rows.setdefault(L.PREPAID, dict.fromkeys(_COUNTERS, 0))
                for ledger, values in deltas.rows.items():
                    params: dict[str, Any] = {f"delta_{name}": d for name, d in values.items()}
                    params["row_account"], params["row_ledger"] = account_id, ledger
                    if ledger == L.PREPAID:
                        params["new_seq"] = state.seq
                        counters_seq.append(params)
                    else:
                        counters.append(params)
        self._BULK_TRANSFERS.run_mappings(self.conn, rows)
        _P_UPDATE_COUNTERS_SEQ.executemany(self.conn, counters_seq)
        _P_UPDATE_COUNTERS.executemany(self.conn, counters)
        self._BULK_KEYS.run_mappings(self.conn, remembered)
        for account_id in accounts:
            self._watch(account_id, locked[account_id])
        return results

    # -- reservations ---------------------------------------------------
    def reserve(
        self,
        account_id: str,
        *,
        key: str,
        amount: int,
        expires_at: datetime,
        reference: str | None = None,
        locked: _Locked | None = None,
        fresh: bool = False,
    ) -> L.ReservationResult:
        """Hold ``amount`` of the prepaid balance for revenue until settled,
        voided or expired. Refused if it would take available below floor.

        ``locked``: what :meth:`lock` returned earlier in this transaction,
        when nothing but this ledger changed the row since (saves reading
        it again); it follows the operation. ``fresh``: the caller checked,
        under the same lock, that ``key`` was never used (saves reading it;
        the key's unique index still refuses a reuse)."""
        if amount < 0:
            raise InvalidAmount("a reservation cannot be negative")
        request = {"amount": amount, "reference": reference}
        state = locked or self.lock(account_id)
        if not fresh:
            replay = self._replay(account_id, key, "reserve", request, L.ReservationResult)
            if replay is not None:
                return replay
        self._check_floor(state, amount)
        reservation_id = new_id()
        _P_INSERT_RESERVATION.execute(
            self.conn,
            {
                "account_id": account_id,
                "reservation_id": reservation_id,
                "debit_ledger": L.PREPAID,
                "credit_ledger": L.REVENUE,
                "amount": amount,
                "currency": state.currency,
                "state": L.PENDING,
                "reference": reference,
                "expires_at": expires_at,
                "created_at": self.clock.now(),
            },
        )
        deltas = _Deltas()
        deltas.add(L.PREPAID, "debits_pending", amount)
        deltas.add(L.REVENUE, "credits_pending", amount)
        self._apply(account_id, deltas)
        state.reserved += amount
        result = L.ReservationResult(reservation_id, L.PENDING, amount, None, state.available)
        self._remember(account_id, key, "reserve", request, result)
        self._watch(account_id, state)
        return result

    def _reservation(self, account_id: str, reservation_id: str) -> Any:
        row = _P_RESERVATION.first(
            self.conn, {"account_id": account_id, "reservation_id": reservation_id}
        )
        if row is None:
            raise NotFound(f"unknown reservation {reservation_id!r}")
        return row

    def _resolve(
        self,
        account_id: str,
        row: Any,
        state: _Locked,
        new_state: str,
        deltas: _Deltas,
        *,
        settled_amount: int | None = None,
        overrun: bool = False,
        settle_transfer_id: str | None = None,
    ) -> None:
        """Leave the pending (or expired) state: the hold's release goes
        into ``deltas``; the reservation row is updated once."""
        if row.state == L.PENDING and row.amount:
            deltas.add(row.debit_ledger, "debits_pending", -row.amount)
            deltas.add(row.credit_ledger, "credits_pending", -row.amount)
            state.reserved -= row.amount
        _P_RESOLVE.execute(
            self.conn,
            {
                "res_account": account_id,
                "res_id": row.reservation_id,
                "new_state": new_state,
                "resolved": self.clock.now(),
                "settled": settled_amount,
                "flag_overrun": overrun,
                "settle_id": settle_transfer_id,
            },
        )

    def grow(
        self,
        account_id: str,
        reservation_id: str,
        *,
        key: str,
        amount: int,
        expires_at: datetime,
        locked: _Locked | None = None,
    ) -> L.ReservationResult:
        """Raise a pending reservation to ``amount`` in total (never lowers
        it) and push its expiry. Refused if the extra would overdraw.
        ``locked`` as for :meth:`reserve`."""
        if amount < 0:
            raise InvalidAmount("a reservation cannot be negative")
        request = {"reservation_id": reservation_id, "amount": amount}
        state = locked or self.lock(account_id)
        replay = self._replay(account_id, key, "grow", request, L.ReservationResult)
        if replay is not None:
            return replay
        row = self._reservation(account_id, reservation_id)
        if row.state != L.PENDING:
            raise ReservationResolved(f"reservation {reservation_id} is {row.state}")
        extra = max(0, amount - row.amount)
        self._check_floor(state, extra)
        _P_GROW.execute(
            self.conn,
            {
                "res_account": account_id,
                "res_id": reservation_id,
                "new_amount": row.amount + extra,
                "new_expiry": expires_at,
            },
        )
        deltas = _Deltas()
        deltas.add(L.PREPAID, "debits_pending", extra)
        deltas.add(L.REVENUE, "credits_pending", extra)
        self._apply(account_id, deltas)
        state.reserved += extra
        result = L.ReservationResult(
            reservation_id, L.PENDING, row.amount + extra, None, state.available
        )
        self._remember(account_id, key, "grow", request, result)
        self._watch(account_id, state)
        return result

    def settle(
        self,
        account_id: str,
        reservation_id: str,
        *,
        key: str,
        amount: int,
        allow_overrun: bool = False,
        locked: _Locked | None = None,
        fresh: bool = False,
    ) -> L.ReservationResult:
        """Post ``amount`` for a reservation and release the rest, once.

        More than was held is posted only with ``allow_overrun`` and is then
        flagged (the balance may go below its floor by that overrun). An
        expired reservation can still be settled once (a late call end).
        ``locked`` and ``fresh`` as for :meth:`reserve`."""
        if amount < 0:
            raise InvalidAmount("a settlement cannot be negative")
        request = {"reservation_id": reservation_id, "amount": amount}
        state = locked or self.lock(account_id)
        if not fresh:
            replay = self._replay(account_id, key, "settle", request, L.ReservationResult)
            if replay is not None:
                return replay
        row = self._reservation(account_id, reservation_id)
        if row.state not in (L.PENDING, L.EXPIRED) or row.settle_transfer_id is not None:
            raise ReservationResolved(f"reservation {reservation_id} is already {row.state}")
        held = row.amount if row.state == L.PENDING else 0
        overrun = False
        if amount > held:
            try:
                self._check_floor(state, amount - held)
            except InsufficientFunds:
                if not allow_overrun:
                    raise OverrunNotAllowed(
                        f"settling {amount} exceeds the {held} held and the available balance"
                    ) from None
                overrun = True
        transfer_id = new_id() if amount else None
        deltas = _Deltas()
        self._resolve(
            account_id,
            row,
            state,
            L.SETTLED,
            deltas,
            settled_amount=amount,
            overrun=overrun,
            settle_transfer_id=transfer_id,
        )
        if amount:
            self._post(
                account_id,
                state,
                debit=row.debit_ledger,
                credit=row.credit_ledger,
                amount=amount,
                kind=L.KIND_SETTLE,
                reference=row.reference,
                reservation_id=reservation_id,
                overrun=overrun,
                transfer_id=transfer_id,
                deltas=deltas,
            )
        else:
            self._apply(account_id, deltas)
        result = L.ReservationResult(
            reservation_id, L.SETTLED, row.amount, amount, state.available, overrun, transfer_id
        )
        self._remember(account_id, key, "settle", request, result)
        self._watch(account_id, state)
        return result

    def void(self, account_id: str, reservation_id: str, *, key: str) -> L.ReservationResult:
        """Release a pending reservation without posting anything, once."""
        request = {"reservation_id": reservation_id}
        state = self.lock(account_id)
        replay = self._replay(account_id, key, "void", request, L.ReservationResult)
        if replay is not None:
            return replay
        row = self._reservation(account_id, reservation_id)
        if row.state != L.PENDING:
            raise ReservationResolved(f"reservation {reservation_id} is already {row.state}")
        deltas = _Deltas()
        self._resolve(account_id, row, state, L.VOIDED, deltas, settled_amount=0)
        self._apply(account_id, deltas)
        result = L.ReservationResult(reservation_id, L.VOIDED, row.amount, 0, state.available)
        self._remember(account_id, key, "void", request, result)
        self._watch(account_id, state)
        return result

    def expire(self, account_id: str, reservation_id: str) -> bool:
        """Release a pending reservation whose time is up; False if it was
        not pending or not yet due (a concurrent settle won)."""
        state = self.lock(account_id)
        row = self._reservation(account_id, reservation_id)
        if row.state != L.PENDING or utc(row.expires_at) > self.clock.now():
            return False
        deltas = _Deltas()
        self._resolve(account_id, row, state, L.EXPIRED, deltas)
        self._apply(account_id, deltas)
        self._watch(account_id, state)
        return True

    def due_reservations(self, now: datetime, limit: int = 500) -> list[tuple[str, str]]:
        """(account, reservation) pairs pending past their expiry."""
        r = t.reservations.c
        rows = self.conn.execute(
            select(r.account_id, r.reservation_id)
            .where(r.state == L.PENDING, r.expires_at <= now)
            .order_by(r.expires_at)
            .limit(limit)
        ).all()
        return [(row.account_id, row.reservation_id) for row in rows]

    # -- verification ---------------------------------------------------
    def verify(self) -> list[str]:
        """Every ledger invariant that does not hold, as readable lines."""
        return verify_ledger(self.conn)


def _check_postings(postings: list[L.Posting]) -> None:
    """Refuse a posting :meth:`SqlLedger.transfer` would refuse."""
    for p in postings:
        _positive(p.amount)
        if p.debit not in L.LEDGERS or p.credit not in L.LEDGERS or p.debit == p.credit:
            raise InvalidAmount(f"cannot transfer from {p.debit!r} to {p.credit!r}")
        if p.kind not in L.TRANSFER_KINDS:
            raise InvalidAmount(f"unknown transfer kind {p.kind!r}")


def _positive(amount: int) -> None:
    if type(amount) is not int or amount <= 0:
        raise InvalidAmount("a transfer amount must be a positive integer of minor units")


def verify_ledger(conn: Connection) -> list[str]:
    """Recompute balances from transfers and reservations and compare."""
    problems: list[str] = []
    tr, lb, rs = t.transfers.c, t.ledger_balances.c, t.reservations.c
    posted: dict[tuple[str, str], list[int]] = {}
    for row in conn.execute(
        select(tr.account_id, tr.debit_ledger, func.sum(tr.amount)).group_by(
            tr.account_id, tr.debit_ledger
        )
    ):
        posted.setdefault((row[0], row[1]), [0, 0])[0] = int(row[2])
    for row in conn.execute(
        select(tr.account_id, tr.credit_ledger, func.sum(tr.amount)).group_by(
            tr.account_id, tr.credit_ledger
        )
    ):
        posted.setdefault((row[0], row[1]), [0, 0])[1] = int(row[2])
    pending: dict[tuple[str, str], list[int]] = {}
    for hold in conn.execute(
        select(rs.account_id, rs.debit_ledger, rs.credit_ledger, func.sum(rs.amount))
        .where(rs.state == L.PENDING)
        .group_by(rs.account_id, rs.debit_ledger, rs.credit_ledger)
    ):
        pending.setdefault((hold[0], hold[1]), [0, 0])[0] += int(hold[3])
        pending.setdefault((hold[0], hold[2]), [0, 0])[1] += int(hold[3])
    overrun_accounts = {
        row[0] for row in conn.execute(select(tr.account_id).where(tr.overrun).distinct())
    }
    totals: dict[str, list[int]] = {}
    for row in conn.execute(select(t.ledger_balances).order_by(lb.account_id, lb.ledger)):
        key = (row.account_id, row.ledger)
        where = f"account {row.account_id} ledger {row.ledger}"
        d, c = posted.get(key, [0, 0])
        if (row.debits_posted, row.credits_posted) != (d, c):
            problems.append(
                f"{where}: posted counters {row.debits_posted}/{row.credits_posted} "
                f"but transfers sum to {d}/{c}"
            )
        pd, pc = pending.get(key, [0, 0])
        if (row.debits_pending, row.credits_pending) != (pd, pc):
            problems.append(
                f"{where}: pending counters {row.debits_pending}/{row.credits_pending} "
                f"but pending reservations sum to {pd}/{pc}"
            )
        total = totals.setdefault(row.account_id, [0, 0])
        total[0] += row.debits_posted
        total[1] += row.credits_posted
        if row.ledger == L.PREPAID and row.floor is not None:
            available = row.credits_posted - row.debits_posted - row.debits_pending
            if available < row.floor and row.account_id not in overrun_accounts:
                problems.append(
                    f"{where}: available {available} is below the floor {row.floor} "
                    "with no flagged overrun"
                )
    for account_id, (debits, credits) in totals.items():
        if debits != credits:
            problems.append(f"account {account_id}: debits {debits} != credits {credits}")
    for twice in conn.execute(
        select(tr.account_id, tr.reservation_id, func.count())
        .where(tr.reservation_id.is_not(None))
        .group_by(tr.account_id, tr.reservation_id)
        .having(func.count() > 1)
    ):
        problems.append(f"account {twice[0]}: reservation {twice[1]} was settled {twice[2]} times")
    for res in conn.execute(
        select(rs.account_id, rs.reservation_id, rs.state, rs.settle_transfer_id, rs.settled_amount)
    ):
        if res.state == L.SETTLED and (res.settled_amount or 0) > 0 and not res.settle_transfer_id:
            problems.append(
                f"account {res.account_id}: reservation {res.reservation_id} settled "
                "without a transfer"
            )
    problems.extend(_verify_sequence(conn))
    return problems


def _verify_sequence(conn: Connection) -> list[str]:
    """Transfers of each customer are numbered 1..n and ``balance_after``
    replays the prepaid balance."""
    problems: list[str] = []
    tr, lb = t.transfers.c, t.ledger_balances.c
    counters = {
        row.account_id: row.transfer_seq
        for row in conn.execute(
            select(lb.account_id, lb.transfer_seq).where(lb.ledger == L.PREPAID)
        )
    }
    counts = {
        row[0]: int(row[1])
        for row in conn.execute(select(tr.account_id, func.count()).group_by(tr.account_id))
    }
    for account_id, counter in counters.items():
        if counts.get(account_id, 0) != counter:
            problems.append(
                f"account {account_id}: transfer counter {counter} "
                f"but {counts.get(account_id, 0)} transfers"
            )
    current: str | None = None
    expected = running = 0
    broken: set[str] = set()
    rows = conn.execution_options(yield_per=5000).execute(
        select(
            tr.account_id, tr.seq, tr.debit_ledger, tr.credit_ledger, tr.amount, tr.balance_after
        ).order_by(tr.account_id, tr.seq)
    )
    for row in rows:
        if row.account_id != current:
            current, expected, running = row.account_id, 0, 0
        expected += 1
        running += row.amount * ((row.credit_ledger == L.PREPAID) - (row.debit_ledger == L.PREPAID))
        if row.account_id in broken:
            continue
        if row.seq != expected:
            problems.append(f"account {row.account_id}: transfer number {row.seq} out of order")
            broken.add(row.account_id)
        elif row.balance_after != running:
            problems.append(
                f"account {row.account_id}: transfer {row.seq} says balance {row.balance_after}"
                f" but replay gives {running}"
            )
            broken.add(row.account_id)
    return problems
