"""API tokens: printed once, stored as SHA-256 digests.

Tokens are 256-bit random secrets, so a fast digest is the right store (a
slow password hash would only slow every PBX request down)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain.errors import InvalidInput, NotFound

ROLES = ("pbx", "admin")


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Who a presented token belongs to."""

    role: str
    account_id: str | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    uow: UnitOfWork, role: str, *, account_id: str | None = None, label: str = ""
) -> str:
    """Create a token; returns the secret, which is never stored."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if role == "admin" and not account_id:
        raise InvalidInput("an admin token belongs to one account: give --account")
    if account_id is not None:
        exists = uow.conn.execute(
            select(t.accounts.c.account_id).where(t.accounts.c.account_id == account_id)
        ).first()
        if not exists:
            raise NotFound(f"unknown account {account_id!r}")
    secret = f"cc_{role}_{secrets.token_urlsafe(32)}"
    uow.conn.execute(
        insert(t.api_tokens).values(
            token_hash=digest(secret),
            role=role,
            account_id=account_id,
            label=label,
            created_at=uow.clock.now(),
        )
    )
    return secret


def check_token(uow: UnitOfWork, token: str) -> TokenOwner | None:
    """The owner of ``token``, or None if it is unknown."""
    if not token or len(token) > 200:
        return None
    wanted = digest(token)
    row = uow.conn.execute(
        select(t.api_tokens.c.token_hash, t.api_tokens.c.role, t.api_tokens.c.account_id).where(
            t.api_tokens.c.token_hash == wanted
        )
    ).one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    return TokenOwner(row.role, row.account_id)
