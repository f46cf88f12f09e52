"""``callcredit demo`` builds a realistic, consistent office."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcredit.bootstrap import bootstrap
from callcredit.config import Settings
from callcredit.domain.errors import InvalidInput
from callcredit.entrypoints.cli import demo
from callcredit.services import activity, cards
from callcredit.services.extensions import list_extensions


@pytest.mark.slow
def test_demo_office_has_a_month_of_real_activity(tmp_path: Path) -> None:
    """Five extensions, a test card, funding, top-offs and calls; the ledger verifies."""
    stale = tmp_path / "demo.db"
    stale.write_text("not a database")
    url = demo.database_url(f"sqlite:///{stale}")
    built = demo.build(url, days=30)
    assert built.calls > 20
    app = bootstrap(Settings(database_url=url))
    with app.uow(readonly=True) as uow:
        assert uow.ledger.verify() == []
        assert len(list_extensions(uow, demo.ACCOUNT)) == 5
        card = cards.get_card(uow, demo.ACCOUNT)
        assert card is not None
        assert card.last4 == "4242"
        types = {e.type for e in activity.entries(uow, demo.ACCOUNT)}
        spenders = {e.extension for e in activity.entries(uow, demo.ACCOUNT) if e.extension}
    app.close()
    assert {"call", "funds_added", "auto_topoff"} <= types
    assert "105" not in spenders  # paid calls are blocked there


def test_demo_refuses_anything_but_a_sqlite_file() -> None:
    """The demo deletes its database, so it will not touch a PostgreSQL URL."""
    with pytest.raises(InvalidInput):
        demo.database_url("postgresql+psycopg://callcredit@db.example/callcredit")
