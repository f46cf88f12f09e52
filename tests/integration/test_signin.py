"""Signing in: the password check and the failed-attempt limits, counted in
the database per e-mail and per client address."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.services import signin
from tests.clocks import FakeClock
from tests.officemanager import CLAIRE, PASSWORD, offices


@pytest.fixture
def cc(db_url: str) -> Iterator[App]:
    app = bootstrap(Settings(database_url=db_url), clock=FakeClock())
    offices(app)
    yield app
    app.close()


def _try(cc: App, email: str, password: str, address: str = "198.51.100.7") -> object:
    with cc.uow() as uow:
        return signin.authenticate(uow, email, password, address, per_email=3, per_address=4)


def test_right_password_signs_in_and_wrong_ones_do_not(cc: App) -> None:
    """The right password (e-mail in any case) gives the administrator; a wrong one gives None."""
    admin = _try(cc, CLAIRE.upper(), PASSWORD)
    assert isinstance(admin, signin.Admin)
    assert admin.account_id == "atelier"
    assert _try(cc, CLAIRE, "wrong password") is None
    assert _try(cc, "nobody@example.com", PASSWORD) is None


def test_one_address_trying_many_e_mails_is_locked_out(cc: App) -> None:
    """Failures from one address across different e-mails lock that address only."""
    for n in range(4):
        assert _try(cc, f"guess{n}@example.com", "x") is None
    with pytest.raises(signin.TooManyAttempts):
        _try(cc, CLAIRE, PASSWORD)
    assert isinstance(_try(cc, CLAIRE, PASSWORD, address="203.0.113.9"), signin.Admin)


def test_lockout_ends_and_success_clears_the_e_mail_count(cc: App) -> None:
    """The lockout lasts fifteen minutes; a success resets the e-mail's failures."""
    clock = cc.clock
    assert isinstance(clock, FakeClock)
    for _ in range(2):
        _try(cc, CLAIRE, "x")
    assert isinstance(_try(cc, CLAIRE, PASSWORD), signin.Admin)
    for _ in range(2):
        _try(cc, CLAIRE, "x", address="203.0.113.1")
    assert isinstance(_try(cc, CLAIRE, PASSWORD, address="203.0.113.1"), signin.Admin)
    for _ in range(3):
        _try(cc, CLAIRE, "x", address="203.0.113.2")
    with pytest.raises(signin.TooManyAttempts):
        _try(cc, CLAIRE, PASSWORD, address="203.0.113.3")
    clock.advance(15 * 60 + 1)
    assert isinstance(_try(cc, CLAIRE, PASSWORD, address="203.0.113.3"), signin.Admin)


def test_secret_key_is_generated_once_and_kept(cc: App) -> None:
    """Without CALLCREDIT_SECRET_KEY, one key is generated and then always read back."""
    with cc.uow() as uow:
        first = signin.secret_key(uow, None)
    with cc.uow() as uow:
        assert signin.secret_key(uow, None) == first
        assert signin.secret_key(uow, "configured") == "configured"
    assert len(first) >= 40
