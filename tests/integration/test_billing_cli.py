"""The billing commands as an administrator types them: cards set, funds add,
settings set; exit 0 done, 1 refused, 2 bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.billing import DECLINED, FAILS_AFTER_SAVE, billing_app, office


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from callcredit.entrypoints.cli.main import run; run()", *args],
        env={**os.environ, "CALLCREDIT_DATABASE_URL": db_url}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def card(db_url: str, number: str) -> subprocess.CompletedProcess[str]:
    return cli(db_url, "cards", "set", "atelier", "--number", number, "--exp", "12/30",
               "--cvc", "123", "--name", "Camille Martin")  # fmt: skip


def test_billing_commands_from_card_to_top_off_settings(db_url: str) -> None:
    """A card, a preset purchase and the Settings, with refusals explained."""
    app = billing_app(db_url)
    office(app)
    app.close()
    missing = cli(db_url, "funds", "add", "atelier", "25")
    assert (missing.returncode, "no card on file" in missing.stderr) == (1, True)
    assert card(db_url, "4242424242424242").returncode == 0
    shown = cli(db_url, "cards", "show", "atelier")
    assert "Visa •••• 4242, expires 12/2030, Camille Martin" in shown.stdout
    bought = cli(db_url, "funds", "add", "atelier", "25", "--key", "cli-1")
    assert bought.returncode == 0, bought.stderr
    assert "added 25.00 EUR from Visa •••• 4242; balance 25.00 EUR" in bought.stdout
    assert cli(db_url, "funds", "add", "atelier", "25", "--key", "cli-1").returncode == 0
    not_preset = cli(db_url, "funds", "add", "atelier", "26")
    assert not_preset.returncode == 2
    assert "not one of the preset amounts: 10.00, 25.00, 50.00, 100.00" in not_preset.stderr
    chosen = cli(db_url, "settings", "set", "atelier", "--mode", "auto-topoff", "--below", "10",
                 "--amount", "10")  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr
    assert "top off 10.00 EUR when below 10.00 EUR" in chosen.stdout
    odd = cli(db_url, "settings", "set", "atelier", "--mode", "auto-topoff", "--below", "10",
              "--amount", "11")  # fmt: skip
    assert odd.returncode == 2
    assert cli(db_url, "settings", "set", "atelier", "--mode", "sometimes").returncode == 2
    stop = cli(db_url, "settings", "set", "atelier", "--mode", "stop-below", "--below", "5")
    assert "stop paid calls below 5.00 EUR" in stop.stdout
    declined = card(db_url, DECLINED)
    assert declined.returncode == 1
    assert "declined" in declined.stderr
    assert card(db_url, FAILS_AFTER_SAVE).returncode == 0
    refused = cli(db_url, "funds", "add", "atelier", "10")
    assert refused.returncode == 1
    assert "declined" in refused.stderr
    assert "Traceback" not in refused.stderr
    balance = json.loads(cli(db_url, "balance", "atelier", "--json").stdout)
    assert balance["available"] == "25.00"
    assert cli(db_url, "verify").returncode == 0


def test_bad_card_details_are_bad_input(db_url: str) -> None:
    """A mistyped number or a past expiry exits 2 with a reason."""
    app = billing_app(db_url)
    office(app)
    app.close()
    typo = card(db_url, "4242424242424241")
    assert typo.returncode == 2
    assert "not valid" in typo.stderr
    assert "4242424242424241" not in typo.stderr
    expired = cli(db_url, "cards", "set", "atelier", "--number", "4242424242424242", "--exp",
                  "01/21", "--cvc", "123", "--name", "Camille Martin")  # fmt: skip
    assert expired.returncode == 2
    assert "expired" in expired.stderr
