"""E-mails to administrators received by a real SMTP server (aiosmtpd on
127.0.0.1), in English and French; kept and retried while SMTP is down."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from callcredit.adapters import tables as t
from callcredit.bootstrap import App
from callcredit.services import outbox, topoff
from callcredit.services import settings as low_balance
from callcredit.services.accounts import add_admin
from tests.billing import (
    INSUFFICIENT,
    auto_topoff,
    billing_app,
    buy,
    count,
    eur,
    office,
    put_card,
    rows,
    spend,
)
from tests.clocks import FakeClock
from tests.factories import credit


class Inbox:
    """Collects what the SMTP server receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def to(self, recipient: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == recipient]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)

    def __enter__(self) -> Inbox:
        self.controller.start()
        return self.inbox

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def app(db_url: str, clock: FakeClock, port: int) -> Iterator[App]:
    """An office with an English and a French administrator, mailing to ``port``."""
    built = billing_app(db_url, clock, smtp_url=f"smtp://127.0.0.1:{port}")
    office(built)
    with built.uow() as uow:
        add_admin(uow, "atelier", "gerante@atelier.test", "cheval correct", locale="fr")
    yield built
    built.close()


def deliver(app: App) -> int:
    total = 0
    while sent := outbox.deliver_round(app):
        total += sent
    return total


def test_receipts_arrive_in_each_administrators_language(app: App, port: int) -> None:
    """A purchase and a top-off each send a receipt in English and one in French."""
    put_card(app)
    buy(app, "25")
    auto_topoff(app, below="10", amount="10")
    spend(app, 1600)
    topoff.run_round(app)
    with SmtpServer(port) as inbox:
        assert deliver(app) == 4
    english = inbox.to("admin@atelier.test")
    french = inbox.to("gerante@atelier.test")
    assert [m["Subject"] for m in english] == [
        "Receipt: €25.00 added to your Prepaid Account",
        "Receipt: automatic top-off of €10.00",
    ]
    assert [m["Subject"].replace("\u202f", " ").replace("\xa0", " ") for m in french] == [
        "Reçu : 25,00 € ajoutés à votre Compte Prépayé",
        "Reçu : recharge automatique de 10,00 €",
    ]
    body = french[1].get_content()
    assert "nous avons donc débité" in body
    assert "Visa •••• 4242" in body
    assert "Payment reference: ch_sim_" in english[0].get_content()
    ids = {m["Message-ID"] for m in inbox.messages}
    assert ids == {f"<{r.message_id}@callcredit>" for r in rows(app, t.outbox)}
    assert count(app, t.outbox, state="sent") == 4


def test_low_balance_warning_is_sent_once_per_dip(app: App, port: int) -> None:
    """Under "stop paid calls below 10.00" the warning goes out once per dip."""
    credit(app, "atelier", 2000)
    with app.uow() as uow:
        low_balance.set_low_balance(uow, "atelier", "stop-below", below=eur("10"))
    spend(app, 1500, key="s1")
    assert low_balance.warn_round(app) == 1
    spend(app, 100, key="s2")
    assert low_balance.warn_round(app) == 0  # same dip
    credit(app, "atelier", 2000, key="second")
    assert low_balance.warn_round(app) == 1  # back above: re-armed, nothing sent
    spend(app, 2000, key="s3")
    assert low_balance.warn_round(app) == 1
    with SmtpServer(port) as inbox:
        assert deliver(app) == 4
    english = [m["Subject"] for m in inbox.to("admin@atelier.test")]
    assert english == [
        "Low prepaid balance: €5.00 available",
        "Low prepaid balance: €4.00 available",
    ]
    french = inbox.to("gerante@atelier.test")
    assert french[0]["Subject"].startswith("Solde prépayé bas : 5,00")
    assert "Les appels payants sont refusés" in french[0].get_content()


def test_suspended_top_off_alert_reaches_the_administrators(app: App, clock: FakeClock,
                                                            port: int) -> None:  # fmt: skip
    """Declined top-offs are reported, then the suspension, in both languages."""
    put_card(app)
    buy(app, "25")
    put_card(app, INSUFFICIENT)
    auto_topoff(app, below="10", amount="10")
    spend(app, 1600)
    for wait in (0, 600, 3600):
        clock.advance(wait)
        topoff.run_round(app)
    with SmtpServer(port) as inbox:
        deliver(app)
    english = [m["Subject"] for m in inbox.to("admin@atelier.test")]
    assert english[1:] == [
        "Automatic top-off failed", "Automatic top-off failed", "Automatic top-off suspended",
    ]  # fmt: skip
    french = inbox.to("gerante@atelier.test")
    assert french[-1]["Subject"] == "Recharge automatique suspendue"
    text = french[-1].get_content()
    assert "les fonds de la carte sont insuffisants" in text
    assert "Échecs consécutifs : 3" in text
    assert "We will try again after" in inbox.to("admin@atelier.test")[1].get_content()


def test_smtp_down_then_up_loses_nothing(app: App, clock: FakeClock, port: int) -> None:
    """While SMTP is down messages stay in the outbox; once it is up each is
    delivered exactly once."""
    put_card(app)
    buy(app, "10")
    buy(app, "25")
    for _ in range(4):  # nobody listens on the port: one failed try per round
        assert outbox.deliver_round(app) == 0
    pending = rows(app, t.outbox, state="pending")
    assert [r.attempts for r in pending] == [1, 1, 1, 1]
    assert all("ConnectionRefused" in r.last_error for r in pending)
    with SmtpServer(port) as inbox:
        assert deliver(app) == 0  # each waits for its back-off
        clock.advance(31)
        assert deliver(app) == 4
    assert len(inbox.messages) == 4
    assert len({m["Message-ID"] for m in inbox.messages}) == 4
    assert count(app, t.outbox, state="sent") == 4


def test_without_smtp_messages_stay_in_the_outbox_and_are_logged(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No CALLCREDIT_SMTP_URL: each message is logged once and kept."""
    app = billing_app(db_url)
    try:
        office(app)
        put_card(app)
        caplog.set_level(logging.INFO, logger="callcredit.outbox")
        buy(app, "25")
        assert outbox.deliver_round(app) == 1
        assert outbox.deliver_round(app) == 0
        logged = [r.getMessage() for r in caplog.records if r.name == "callcredit.outbox"]
        assert len(logged) == 1
        assert "Receipt: €25.00 added to your Prepaid Account" in logged[0]
        assert count(app, t.outbox, state="pending") == 1
    finally:
        app.close()
