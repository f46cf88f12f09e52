"""PBX and admin tokens as each server process remembers them: a new token
works at once, an unknown one is never remembered, a remembered one is
looked up again after the time-to-live."""

from __future__ import annotations

from sqlalchemy import delete

from callcredit.adapters import tables as t
from callcredit.bootstrap import App
from callcredit.services import tokens
from callcredit.services.tokens import TokenCache, check_token, create_token, token_cache


def _database(app: App) -> object:
    return app.engine.url


def test_new_token_works_at_once_and_unknown_tokens_are_not_remembered(app: App) -> None:
    """A token that was unknown a moment ago works as soon as it is created."""
    token_cache.clear()
    with app.uow() as uow:
        secret = create_token(uow, "pbx")
    assert token_cache.get(_database(app), secret) is None
    with app.uow(readonly=True) as uow:
        assert check_token(uow, secret + "x") is None
        owner = check_token(uow, secret)
    assert owner is not None
    assert owner.role == "pbx"
    assert token_cache.get(_database(app), secret) == owner
    assert token_cache.get(_database(app), secret + "x") is None


def test_removed_token_is_forgotten_after_the_time_to_live(app: App) -> None:
    """A token removed from the database is answered from memory at most
    for the time-to-live, then refused."""
    cache = TokenCache(ttl=0.0)
    with app.uow() as uow:
        secret = create_token(uow, "pbx")
    with app.uow(readonly=True) as uow:
        owner = check_token(uow, secret)
    assert owner is not None
    cache.put(_database(app), tokens.digest(secret), owner)
    with app.uow() as uow:
        uow.conn.execute(delete(t.api_tokens))
    assert cache.get(_database(app), secret) is None  # ttl 0: always looked up again
    with app.uow(readonly=True) as uow:
        assert check_token(uow, secret) is None
    assert tokens.TOKEN_TTL_SECONDS <= 5


def test_cache_keeps_a_bounded_number_of_tokens() -> None:
    """The oldest entries make room for new ones."""
    cache = TokenCache(ttl=60, size=2)
    owner = tokens.TokenOwner("pbx", None)
    for n in range(3):
        cache.put("db", tokens.digest(f"token-{n}"), owner)
    assert cache.get("db", "token-0") is None
    assert cache.get("db", "token-2") == owner
