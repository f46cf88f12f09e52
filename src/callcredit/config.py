"""Settings, read from ``CALLCREDIT_*`` environment variables. Nothing is
created at import time: call :func:`load_settings`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can configure; see the README's table."""

    model_config = SettingsConfigDict(env_prefix="CALLCREDIT_", extra="ignore")

    database_url: str = "sqlite:///callcredit.db"
    payment_gateway: Literal["simulated", "stripe"] = "simulated"
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    smtp_url: str | None = None
    mail_from: str = "callcredit <no-reply@callcredit.invalid>"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None

    # Charging.
    default_quota_seconds: int = Field(300, ge=1)
    max_call_seconds: int = Field(4 * 3600, ge=1)
    reservation_grace_seconds: int = Field(120, ge=0)
    sweep_interval_seconds: float = Field(5.0, gt=0)
    fraud_spend_per_hour: str = "200"  # major units of the account currency
    fraud_concurrent_calls: int = Field(20, ge=1)

    # Billing.
    preset_amounts: str = "10,25,50,100"
    topoff_daily_cap: int = Field(5, ge=1)
    topoff_max_failures: int = Field(3, ge=1)
    worker_interval_seconds: float = Field(2.0, gt=0)
    run_workers_in_serve: bool = True


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]
