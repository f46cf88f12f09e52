"""The full card number and the security code never reach the database or a
log line, whatever path the card takes (accepted, declined, mistyped)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import String, Text, select

from callcredit.adapters import tables as t
from callcredit.domain.errors import CallcreditError
from callcredit.services import funds, outbox, topoff
from callcredit.services import settings as low_balance
from callcredit.services.cards import set_card
from tests.billing import (
    DECLINED,
    INSUFFICIENT,
    VISA,
    auto_topoff,
    billing_app,
    buy,
    office,
    spend,
)

CVC = "7391"
NUMBERS = (VISA, DECLINED, INSUFFICIENT, "4242424242424241")  # the last fails the Luhn check
# The CVC standing alone: not inside a longer run of hexadecimal digits
# (identifiers and hashes legitimately contain any four digits).
LONE_CVC = re.compile(rb"(?<![0-9a-f])" + CVC.encode() + rb"(?![0-9a-f])")


def database_bytes(url: str) -> bytes:
    path = Path(url.removeprefix("sqlite:///"))
    return b"".join(
        Path(f"{path}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(f"{path}{suffix}").exists()
    )


def test_card_details_leave_no_trace_in_database_or_logs(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """After saving, declining, mistyping and charging cards, neither the
    numbers nor the CVC appear in the SQLite file bytes or in any log line
    (SQL statements and their parameters included)."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    app = billing_app(sqlite_url)
    failures: list[str] = []
    try:
        office(app)
        for number in NUMBERS[1:]:
            try:
                set_card(app, "atelier", number=number, exp="12/30", cvc=CVC, holder="C. Martin")
            except CallcreditError as exc:
                failures.append(str(exc))
        for exp in ("01/20", "13/30"):
            with pytest.raises(CallcreditError) as caught:
                set_card(app, "atelier", number=VISA, exp=exp, cvc=CVC, holder="C. Martin")
            failures.append(str(caught.value))
        set_card(app, "atelier", number=VISA, exp="12/30", cvc=CVC, holder="C. Martin")
        buy(app, "25")
        auto_topoff(app, below="10", amount="10")
        spend(app, 1600)
        topoff.run_round(app)
        funds.reconcile_round(app)
        low_balance.warn_round(app)
        outbox.deliver_round(app)
        with app.uow(readonly=True) as uow:
            values = [
                str(value)
                for table in t.metadata.sorted_tables
                for row in uow.conn.execute(select(table)).all()
                for column, value in zip(table.columns, row, strict=True)
                if isinstance(column.type, String | Text) and value is not None
            ]
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
        app.close()
    assert len(failures) == 4  # declined, Luhn, expired, bad month
    assert any("[generated in" in r.getMessage() or "[cached since" in r.getMessage()
               for r in caplog.records), "SQL parameters were logged"  # fmt: skip
    logs = "\n".join(r.getMessage() for r in caplog.records).encode()
    stored = database_bytes(sqlite_url)
    for number in NUMBERS:
        assert number.encode() not in stored
        assert number.encode() not in logs
        assert all(number not in text for text in failures)
    assert not LONE_CVC.search(stored)
    assert not LONE_CVC.search(logs)
    assert CVC not in values
    assert "4242" in values  # the last four digits are kept, as they should be


def test_cli_card_command_prints_and_stores_only_the_last_four(sqlite_url: str) -> None:
    """`callcredit cards set` answers with brand and last four; the file has
    no trace of the number or the CVC."""
    env = {**os.environ, "CALLCREDIT_DATABASE_URL": sqlite_url}
    app = billing_app(sqlite_url)
    office(app)
    app.close()
    done = subprocess.run(
        [sys.executable, "-c", "from callcredit.entrypoints.cli.main import run; run()",
         "cards", "set", "atelier", "--number", "4242 4242 4242 4242", "--exp", "12/30",
         "--cvc", CVC, "--name", "Camille Martin", "--city", "Paris", "--country", "fr"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Visa •••• 4242, expires 12/2030" in done.stdout
    assert VISA not in done.stdout + done.stderr
    assert VISA.encode() not in database_bytes(sqlite_url)
    assert not LONE_CVC.search(database_bytes(sqlite_url))
