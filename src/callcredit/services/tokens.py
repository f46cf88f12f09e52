"""API tokens: printed once, stored as SHA-256 digests.

Tokens are 256-bit random secrets, so a fast digest is the right store (a
slow password hash would only slow every PBX request down).

Each process remembers the owners of tokens it has recently checked
(:class:`TokenCache`): a hit is trusted for :data:`TOKEN_TTL_SECONDS`, then
looked up again. Unknown tokens are never remembered, so a token created by
``callcredit tokens create`` works at once in every worker; a token row
removed from the database stops working in each worker at the latest
``TOKEN_TTL_SECONDS`` after that worker last looked it up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select

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


_BY_HASH = select(t.api_tokens.c.token_hash, t.api_tokens.c.role, t.api_tokens.c.account_id).where(
    t.api_tokens.c.token_hash == bindparam("token_hash")
)


def check_token(uow: UnitOfWork, token: str) -> TokenOwner | None:
    """The owner of ``token``, or None if it is unknown."""
    if not token or len(token) > 200:
        return None
    wanted = digest(token)
    row = uow.conn.execute(_BY_HASH, {"token_hash": wanted}).one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    owner = TokenOwner(row.role, row.account_id)
    token_cache.put(uow.engine.url, wanted, owner)
    return owner


TOKEN_TTL_SECONDS = 5.0


class TokenCache:
    """Owners of known tokens, by database (its URL) and digest, for a
    short time."""

    def __init__(self, ttl: float = TOKEN_TTL_SECONDS, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[tuple[object, str], tuple[float, TokenOwner]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, database: object, token: str) -> TokenOwner | None:
        """The owner if ``token`` was found within the last ``ttl`` seconds."""
        if not token or len(token) > 200:
            return None
        key = (database, digest(token))
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, database: object, token_hash: str, owner: TokenOwner) -> None:
        with self._lock:
            self._entries[(database, token_hash)] = (time.monotonic(), owner)
            self._entries.move_to_end((database, token_hash))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


token_cache = TokenCache()
