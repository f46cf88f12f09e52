"""The schema, in SQLAlchemy Core. Migrations under ``migrations/`` are
generated from and checked against this module.

Every tenant-owned table leads its primary key with ``account_id`` and no
foreign key crosses accounts, so the schema can be distributed by account.
Money columns are integers in minor units; rates are Decimal text.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Money = BigInteger  # minor units
TS = DateTime(timezone=True)

# Settings kept per database (e.g. the generated secret key).
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("plan", String(64), nullable=False),
    Column("locale", String(8), nullable=False, server_default="en"),
    # The Settings drop-down: off | stop-below | auto-topoff.
    Column("low_balance_mode", String(16), nullable=False, server_default="off"),
    Column("low_balance_below", Money, nullable=False, server_default="0"),
    Column("topoff_amount", Money, nullable=False, server_default="0"),
    # One top-off request per dip: cleared when a request is emitted, set
    # again once the available balance is back at or above the threshold.
    Column("topoff_armed", Boolean, nullable=False, server_default="1"),
    Column("topoff_suspended", Boolean, nullable=False, server_default="0"),
    Column("topoff_failures", Integer, nullable=False, server_default="0"),
    Column("low_balance_warned", Boolean, nullable=False, server_default="0"),
    # Fraud guard; NULL means the server default applies.
    Column("fraud_spend_per_hour", Money, nullable=True),
    Column("fraud_concurrent_calls", Integer, nullable=True),
    Column("created_at", TS, nullable=False),
    CheckConstraint(
        "low_balance_mode IN ('off', 'stop-below', 'auto-topoff')", name="low_balance_mode"
    ),
    CheckConstraint("low_balance_below >= 0", name="below_nonneg"),
    CheckConstraint("topoff_amount >= 0", name="topoff_amount_nonneg"),
)

# One row per ledger account of a customer: prepaid, card, revenue, adjustment.
# Counters are updated in the same transaction as the transfers they sum.
ledger_balances = Table(
    "ledger_balances",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("ledger", String(16), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("debits_posted", Money, nullable=False, server_default="0"),
    Column("credits_posted", Money, nullable=False, server_default="0"),
    Column("debits_pending", Money, nullable=False, server_default="0"),
    Column("credits_pending", Money, nullable=False, server_default="0"),
    # Lowest allowed available (credit-normal) balance; NULL: no floor.
    Column("floor", Money, nullable=True),
    # Number of transfers of the customer so far (kept on the prepaid row,
    # which every transfer touches and every operation locks).
    Column("transfer_seq", BigInteger, nullable=False, server_default="0"),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    CheckConstraint("debits_posted >= 0", name="debits_posted_nonneg"),
    CheckConstraint("credits_posted >= 0", name="credits_posted_nonneg"),
    CheckConstraint("debits_pending >= 0", name="debits_pending_nonneg"),
    CheckConstraint("credits_pending >= 0", name="credits_pending_nonneg"),
)

# Immutable, positive transfers between two ledger accounts of one customer.
transfers = Table(
    "transfers",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("transfer_id", String(40), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("debit_ledger", String(16), nullable=False),
    Column("credit_ledger", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("reservation_id", String(40), nullable=True),
    Column("reference", String(200), nullable=True),
    Column("overrun", Boolean, nullable=False, server_default="0"),
    # The customer's prepaid balance (posted) right after this transfer.
    Column("balance_after", Money, nullable=False),
    Column("created_at", TS, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("debit_ledger <> credit_ledger", name="distinct_ledgers"),
    Index("ix_transfers_account_seq", "account_id", "seq", unique=True),
    Index("ix_transfers_account_created", "account_id", "created_at"),
)

# Two-phase holds: pending until settled, voided or expired (exactly once).
reservations = Table(
    "reservations",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("reservation_id", String(40), primary_key=True),
    Column("debit_ledger", String(16), nullable=False),
    Column("credit_ledger", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", String(10), nullable=False),
    Column("settled_amount", Money, nullable=True),
    Column("settle_transfer_id", String(40), nullable=True),
    Column("overrun", Boolean, nullable=False, server_default="0"),
    Column("reference", String(200), nullable=True),
    Column("expires_at", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("resolved_at", TS, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    CheckConstraint("amount >= 0", name="amount_nonneg"),
    CheckConstraint("settled_amount IS NULL OR settled_amount >= 0", name="settled_nonneg"),
    CheckConstraint("state IN ('pending', 'settled', 'voided', 'expired')", name="state_known"),
    Index("ix_reservations_state_expires", "state", "expires_at"),
)

# Client idempotency keys of money-moving operations and their first answer.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("operation", String(40), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
)

extensions = Table(
    "extensions",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("extension", String(32), primary_key=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("paid_allowed", Boolean, nullable=False, server_default="1"),
    Column("premium_allowed", Boolean, nullable=False, server_default="1"),
    Column("monthly_cap", Money, nullable=True),
    Column("created_at", TS, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    CheckConstraint("monthly_cap IS NULL OR monthly_cap >= 0", name="cap_nonneg"),
)

plans = Table(
    "plans",
    metadata,
    Column("plan_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("home_country", String(2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("rate_deck", String(64), nullable=False),
    Column("included", JSON, nullable=False),
    Column("updated_at", TS, nullable=False),
)

rate_decks = Table(
    "rate_decks",
    metadata,
    Column("deck", String(64), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("version", Integer, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("imported_at", TS, nullable=False),
)

rates = Table(
    "rates",
    metadata,
    Column("deck", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("prefix", String(24), primary_key=True),
    Column("description", String(200), nullable=False),
    Column("per_minute", String(24), nullable=False),
    Column("connect_fee", String(24), nullable=False),
    Column("increment", String(16), nullable=False),
)

# Global directory of PBX call ids: the PBX API addresses calls by call_id
# alone, so the id is claimed here once, then everything lives in `calls`.
call_routes = Table(
    "call_routes",
    metadata,
    Column("call_id", String(128), primary_key=True),
    Column("account_id", String(64), nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("call_id", String(128), primary_key=True),
    Column("extension", String(32), nullable=False),
    Column("dialled", String(64), nullable=False),
    Column("e164", String(32), nullable=True),
    Column("country", String(3), nullable=True),
    Column("kind", String(24), nullable=True),
    Column("allow", Boolean, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("matched", String(64), nullable=True),
    Column("per_minute", String(24), nullable=True),
    Column("connect_fee", String(24), nullable=True),
    Column("increment", String(16), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("reservation_id", String(40), nullable=True),
    Column("reserved", Money, nullable=False, server_default="0"),
    Column("granted_seconds", Integer, nullable=True),
    # The quota the PBX asked for (or the default), reused by reauthorize.
    Column("quota_seconds", Integer, nullable=True),
    # authorized | ended | expired | denied
    Column("state", String(12), nullable=False),
    Column("answered_seconds", Integer, nullable=True),
    Column("billed_seconds", Integer, nullable=True),
    Column("cost", Money, nullable=True),
    Column("balance_after", Money, nullable=True),
    Column("hangup_cause", String(64), nullable=True),
    Column("overrun", Boolean, nullable=False, server_default="0"),
    Column("source", String(8), nullable=False, server_default="api"),
    Column("authorize_response", JSON, nullable=True),
    # The answers to reauthorize requests, by used_seconds, for replays.
    Column("reauthorize_responses", JSON, nullable=True),
    Column("end_response", JSON, nullable=True),
    Column("started_at", TS, nullable=False),
    Column("ended_at", TS, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    CheckConstraint("reserved >= 0", name="reserved_nonneg"),
    CheckConstraint("answered_seconds IS NULL OR answered_seconds >= 0", name="answered_nonneg"),
    CheckConstraint("cost IS NULL OR cost >= 0", name="cost_nonneg"),
    Index("ix_calls_account_started", "account_id", "started_at"),
    Index("ix_calls_state", "state"),
    # The fraud guard counts an account's running paid calls on every
    # authorize: without this it walks every running call of every account.
    Index("ix_calls_account_state", "account_id", "state"),
)

# Paid-call spend per account and UTC minute (minutes since the epoch):
# what the calls started in that minute hold or cost, kept up to date as
# they are authorized, reauthorized and ended. The fraud guard sums at most
# the last hour's 61 rows instead of every call of the last hour; the
# sweeper deletes rows older than two hours.
spend_minutes = Table(
    "spend_minutes",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("minute", Integer, primary_key=True, autoincrement=False),
    Column("amount", Money, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
)

# Durable top-off requests emitted by the ledger when the available balance
# dips below the threshold; consumed by the top-off worker.
topoff_requests = Table(
    "topoff_requests",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("request_id", String(40), primary_key=True),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    # pending | charging | succeeded | failed | skipped
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", TS, nullable=False),
    Column("charge_key", String(160), nullable=False),
    Column("charge_reference", String(80), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("resolved_at", TS, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index("ix_topoff_requests_state_next", "state", "next_attempt_at"),
)

# The card on file: a gateway token and what may be shown, never the number.
cards = Table(
    "cards",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("gateway", String(16), nullable=False),
    Column("token", String(120), nullable=False),
    Column("brand", String(24), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("holder", String(200), nullable=False),
    Column("address_line1", String(200), nullable=False, server_default=""),
    Column("address_line2", String(200), nullable=False, server_default=""),
    Column("postal_code", String(20), nullable=False, server_default=""),
    Column("city", String(100), nullable=False, server_default=""),
    Column("address_country", String(2), nullable=False, server_default=""),
    Column("updated_at", TS, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
)

# Alerts for the administrator (fraud guard, suspended top-off, ...).
alerts = Table(
    "alerts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("alert_id", String(40), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
)

# API tokens, stored as SHA-256 of a high-entropy secret.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("account_id", String(64), nullable=True),
    Column("label", String(200), nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    CheckConstraint("role IN ('pbx', 'admin')", name="role_known"),
)

users = Table(
    "users",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("email", String(254), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("locale", String(8), nullable=False, server_default="en"),
    Column("created_at", TS, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    Index("ix_users_email", "email", unique=True),
)

# Failed sign-in attempts per e-mail and per client address, counted in the
# database so the limit holds across server processes.
login_failures = Table(
    "login_failures",
    metadata,
    Column("scope", String(300), primary_key=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("window_start", TS, nullable=False),
    Column("locked_until", TS, nullable=True),
)

# Add Funds purchases: the intent is written before the card is charged, so
# an answer lost between the gateway and us is looked up and credited once.
purchases = Table(
    "purchases",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("purchase_key", String(80), primary_key=True),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    # charging | succeeded | failed
    Column("state", String(12), nullable=False),
    Column("charge_key", String(160), nullable=False),
    Column("card_token", String(120), nullable=False),
    Column("card_label", String(60), nullable=False),
    Column("charge_reference", String(80), nullable=True),
    Column("decline_code", String(40), nullable=True),
    Column("message", Text, nullable=True),
    Column("transfer_id", String(40), nullable=True),
    Column("balance_after", Money, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_check_at", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("resolved_at", TS, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("state IN ('charging', 'succeeded', 'failed')", name="state_known"),
    Index("ix_purchases_state_next", "state", "next_check_at"),
)

# E-mails to administrators, written in the same transaction as what they
# report and delivered (with retries) by the outbox loop.
outbox = Table(
    "outbox",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("message_id", String(40), primary_key=True),
    # What the message reports, once per recipient (a purchase, a dip ...).
    Column("dedupe_key", String(200), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("language", String(8), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    # pending | sent | failed
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", TS, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("logged_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    CheckConstraint("state IN ('pending', 'sent', 'failed')", name="state_known"),
    Index("ix_outbox_account_dedupe", "account_id", "dedupe_key", "recipient", unique=True),
    Index("ix_outbox_state_next", "state", "next_attempt_at"),
)

# The simulated payment gateway's own state (it stands for an outside
# system, so it is not tenant-owned): saved cards by token (their test
# behaviour, brand and last four digits, never the number), charges and
# refunds by idempotency key, and faults injected by tests.
gateway_cards = Table(
    "gateway_cards",
    metadata,
    Column("token", String(120), primary_key=True),
    Column("behaviour", String(24), nullable=False),
    Column("brand", String(24), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
)

gateway_charges = Table(
    "gateway_charges",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    # charge | refund
    Column("kind", String(8), nullable=False),
    Column("token", String(120), nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(12), nullable=False),
    Column("reference", String(80), nullable=False),
    Column("charge_reference", String(80), nullable=True),
    Column("decline_code", String(40), nullable=True),
    Column("message", Text, nullable=True),
    Column("created_at", TS, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index("ix_gateway_charges_reference", "reference", unique=True),
)

gateway_faults = Table(
    "gateway_faults",
    metadata,
    Column("gateway", String(16), primary_key=True),
    # down | timeout | slow
    Column("mode", String(12), nullable=False),
    # How many more calls it affects; NULL: until cleared.
    Column("remaining", Integer, nullable=True),
    Column("delay_ms", Integer, nullable=False, server_default="0"),
)
