"""The e-mail outbox: messages are written in the same transaction as what
they report (a purchase, a top-off, a low balance) and delivered by a
background loop, retried with back-off while the mail server is down.

Without ``CALLCREDIT_SMTP_URL`` messages stay in the outbox and are logged
once; they go out when a mail server is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain.clock import new_id
from callcredit.domain.errors import MailUnavailable
from callcredit.entrypoints.background import Loop, register
from callcredit.i18n import LANGUAGES
from callcredit.services.emails import Letter, Writer
from callcredit.services.ports import Mail

if TYPE_CHECKING:
    from callcredit.bootstrap import App

log = logging.getLogger("callcredit.outbox")

LEASE = timedelta(seconds=120)  # a message being sent is not picked up again before this
MAX_ATTEMPTS = 30  # with back-off capped at an hour: about a day of trying
BATCH = 50


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts`` (30 s, 1 min, 2 min … 1 h)."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def administrators(uow: UnitOfWork, account_id: str) -> list[tuple[str, str]]:
    """(e-mail, language) of each administrator of the account."""
    u, a = t.users.c, t.accounts.c
    rows = uow.conn.execute(
        select(u.email, u.locale, a.locale.label("account_locale"))
        .join(t.accounts, a.account_id == u.account_id)
        .where(u.account_id == account_id)
        .order_by(u.email)
    ).all()
    return [
        (row.email, row.locale if row.locale in LANGUAGES else row.account_locale) for row in rows
    ]


def notify(
    uow: UnitOfWork,
    account_id: str,
    *,
    kind: str,
    dedupe_key: str,
    write: Callable[[Writer], Letter],
    public_url: str,
) -> int:
    """Write one e-mail per administrator, each in their language, inside
    the caller's transaction; at most once per ``dedupe_key`` and recipient.
    Returns how many were written."""
    name = uow.conn.execute(
        select(t.accounts.c.name).where(t.accounts.c.account_id == account_id)
    ).scalar_one()
    o = t.outbox.c
    now = uow.clock.now()
    written = 0
    recipients = administrators(uow, account_id)
    for recipient, language in recipients:
        exists = uow.conn.execute(
            select(o.message_id).where(
                o.account_id == account_id, o.dedupe_key == dedupe_key, o.recipient == recipient
            )
        ).first()
        if exists:
            continue
        letter = write(Writer(language, name, public_url))
        uow.conn.execute(
            insert(t.outbox).values(
                account_id=account_id, message_id=new_id(), dedupe_key=dedupe_key, kind=kind,
                recipient=recipient, language=language, subject=letter.subject,
                body=letter.body, state="pending", attempts=0, next_attempt_at=now,
                created_at=now,
            )
        )  # fmt: skip
        written += 1
    if not recipients:
        log.info("account %s has no administrator to e-mail about %s", account_id, kind)
    return written


def deliver_round(app: App) -> int:
    """Send what is due; stop at the first failure (the server is down)."""
    if app.mailer is None:
        return _log_held(app)
    sent = 0
    for _ in range(BATCH):
        claimed = _claim(app)
        if claimed is None:
            break
        account_id, attempts, mail = claimed
        try:
            app.mailer.send(mail)
        except MailUnavailable as exc:
            _failed(app, account_id, mail.message_id, attempts, str(exc))
            break
        _sent(app, account_id, mail.message_id)
        sent += 1
    return sent


def _claim(app: App) -> tuple[str, int, Mail] | None:
    o = t.outbox.c
    with app.uow() as uow:
        now = uow.clock.now()
        stmt = (
            select(o.account_id, o.message_id, o.recipient, o.subject, o.body, o.attempts)
            .where(o.state == "pending", o.next_attempt_at <= now)
            .order_by(o.next_attempt_at)
            .limit(1)
        )
        if uow.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        row = uow.conn.execute(stmt).one_or_none()
        if row is None:
            return None
        uow.conn.execute(
            update(t.outbox)
            .where(o.account_id == row.account_id, o.message_id == row.message_id)
            .values(attempts=row.attempts + 1, next_attempt_at=now + LEASE)
        )
    mail = Mail(row.message_id, row.recipient, row.subject, row.body)
    return row.account_id, row.attempts + 1, mail


def _sent(app: App, account_id: str, message_id: str) -> None:
    o = t.outbox.c
    with app.uow() as uow:
        uow.conn.execute(
            update(t.outbox)
            .where(o.account_id == account_id, o.message_id == message_id)
            .values(state="sent", sent_at=uow.clock.now(), last_error=None)
        )


def _failed(app: App, account_id: str, message_id: str, attempts: int, error: str) -> None:
    o = t.outbox.c
    give_up = attempts >= MAX_ATTEMPTS
    with app.uow() as uow:
        uow.conn.execute(
            update(t.outbox)
            .where(o.account_id == account_id, o.message_id == message_id)
            .values(
                state="failed" if give_up else "pending",
                next_attempt_at=uow.clock.now() + backoff(attempts),
                last_error=error,
            )
        )
    if give_up:
        log.error("e-mail %s given up after %d attempts: %s", message_id, attempts, error)
    else:
        log.warning("e-mail %s not sent (attempt %d), will retry: %s", message_id, attempts, error)


def _log_held(app: App) -> int:
    o = t.outbox.c
    with app.uow() as uow:
        rows = uow.conn.execute(
            select(o.account_id, o.message_id, o.recipient, o.subject, o.body)
            .where(o.state == "pending", o.logged_at.is_(None))
            .order_by(o.created_at)
            .limit(BATCH)
        ).all()
        for row in rows:
            log.warning(
                "e-mail kept in the outbox (no CALLCREDIT_SMTP_URL) to %s: %s\n%s",
                row.recipient, row.subject, row.body,
            )  # fmt: skip
            uow.conn.execute(
                update(t.outbox)
                .where(o.account_id == row.account_id, o.message_id == row.message_id)
                .values(logged_at=uow.clock.now())
            )
    return len(rows)


register(Loop("outbox", deliver_round, lambda app: app.settings.worker_interval_seconds))
