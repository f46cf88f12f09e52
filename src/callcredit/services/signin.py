"""Office administrators signing in: password check, failed-attempt limits
counted in the database (per e-mail and per client address), the remembered
language, and the per-database secret key that signs web sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from callcredit.adapters import tables as t
from callcredit.adapters.passwords import hash_password, verify_password
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain.clock import utc
from callcredit.domain.errors import BusinessRuleViolation, InvalidInput, NotFound

LANGUAGES = ("en", "fr")
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 30
_SECRET_KEY = "secret_key"  # noqa: S105 - the name of the meta row, not a secret
# Verified against when the e-mail is unknown, so both cases cost the same.
_DUMMY_HASH = hash_password("not a real password, only for timing")


class TooManyAttempts(BusinessRuleViolation):
    """Raised when too many sign-ins failed recently for this e-mail or this
    client address; nothing is checked until the lockout ends."""

    code = "too_many_attempts"


@dataclass(frozen=True, slots=True)
class Admin:
    """A signed-in office administrator."""

    account_id: str
    email: str
    locale: str
    # Changes whenever the password does, so old sessions stop working.
    fingerprint: str


def secret_key(uow: UnitOfWork, configured: str | None) -> str:
    """The key that signs sessions: the configured one, else the one kept in
    the database (generated on first use)."""
    if configured:
        return configured
    found = uow.conn.execute(
        select(t.meta.c.value).where(t.meta.c.key == _SECRET_KEY)
    ).scalar_one_or_none()
    if found is not None:
        return str(found)
    generated = secrets.token_urlsafe(48)
    uow.conn.execute(insert(t.meta).values(key=_SECRET_KEY, value=generated))
    return generated


def authenticate(
    uow: UnitOfWork,
    email: str,
    password: str,
    address: str,
    *,
    per_email: int = MAX_FAILURES_PER_EMAIL,
    per_address: int = MAX_FAILURES_PER_ADDRESS,
) -> Admin | None:
    """The administrator with these credentials, or None when they are wrong
    (the failure is counted in this transaction). Raises
    :class:`TooManyAttempts`, checking nothing, while the e-mail or the
    address is locked out."""
    email = email.strip().lower()
    now = uow.clock.now()
    scopes = {f"email:{email}": per_email, f"ip:{address}": per_address}
    for scope in scopes:
        if _locked(uow, scope, now):
            raise TooManyAttempts("too many failed sign-ins; try again in a few minutes")
    u = t.users.c
    row = uow.conn.execute(
        select(u.account_id, u.email, u.password_hash, u.locale).where(u.email == email)
    ).one_or_none()
    if row is None or not verify_password(row.password_hash, password):
        if row is None:
            verify_password(_DUMMY_HASH, password)
        for scope, limit in scopes.items():
            _count_failure(uow, scope, limit, now)
        return None
    uow.conn.execute(delete(t.login_failures).where(t.login_failures.c.scope == f"email:{email}"))
    return Admin(row.account_id, row.email, row.locale, _fingerprint(row.password_hash))


def find_admin(uow: UnitOfWork, account_id: str, email: str) -> Admin:
    """The administrator a session names, or :class:`NotFound`."""
    u = t.users.c
    row = uow.conn.execute(
        select(u.account_id, u.email, u.password_hash, u.locale).where(
            u.account_id == account_id, u.email == email
        )
    ).one_or_none()
    if row is None:
        raise NotFound("no such administrator")
    return Admin(row.account_id, row.email, row.locale, _fingerprint(row.password_hash))


def set_language(uow: UnitOfWork, account_id: str, email: str, language: str) -> None:
    """Remember the administrator's language."""
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    u = t.users.c
    uow.conn.execute(
        update(t.users).where(u.account_id == account_id, u.email == email).values(locale=language)
    )


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _locked(uow: UnitOfWork, scope: str, now: datetime) -> bool:
    until = uow.conn.execute(
        select(t.login_failures.c.locked_until).where(t.login_failures.c.scope == scope)
    ).scalar_one_or_none()
    return until is not None and utc(until) > now


def _count_failure(uow: UnitOfWork, scope: str, limit: int, now: datetime) -> None:
    f = t.login_failures.c
    query = select(f.failures, f.window_start).where(f.scope == scope)
    if uow.conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = uow.conn.execute(query).one_or_none()
    if row is None:
        _insert_first_failure(uow, scope, now)
        return
    failures = row.failures + 1
    start = utc(row.window_start)
    if now - start > WINDOW:
        failures, start = 1, now
    locked_until = now + LOCKOUT if failures >= limit else None
    uow.conn.execute(
        update(t.login_failures)
        .where(f.scope == scope)
        .values(failures=failures, window_start=start, locked_until=locked_until)
    )


def _insert_first_failure(uow: UnitOfWork, scope: str, now: datetime) -> None:
    values = {"scope": scope, "failures": 1, "window_start": now, "locked_until": None}
    if uow.conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(t.login_failures).values(values)
        uow.conn.execute(
            statement.on_conflict_do_update(
                index_elements=["scope"],
                set_={"failures": t.login_failures.c.failures + 1},
            )
        )
        return
    uow.conn.execute(insert(t.login_failures).values(values))
