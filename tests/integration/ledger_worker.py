"""A separate process that hammers one balance; used by the concurrency and
crash tests. Prints one line per acknowledged (committed) operation."""

from __future__ import annotations

import sys
from datetime import timedelta

from callcredit.bootstrap import bootstrap
from callcredit.config import Settings
from callcredit.domain import ledger as L
from callcredit.domain.errors import InsufficientFunds


def main() -> None:
    url, account, mode, count, tag = sys.argv[1:6]
    app = bootstrap(Settings(database_url=url), pool_size=1)
    for i in range(int(count)):
        key = f"{tag}-{i}"
        try:
            with app.uow() as uow:
                if mode == "reserve":
                    res = uow.ledger.reserve(
                        account,
                        key=key,
                        amount=7,
                        expires_at=app.clock.now() + timedelta(minutes=10),
                    )
                    uow.ledger.settle(account, res.reservation_id, key=f"{key}-s", amount=5)
                else:
                    uow.ledger.transfer(
                        account,
                        key=key,
                        debit=L.CARD,
                        credit=L.PREPAID,
                        amount=3,
                        kind=L.KIND_FUNDS_ADDED,
                    )
        except InsufficientFunds:
            print(f"refused {key}", flush=True)
            continue
        print(f"ack {key}", flush=True)
    app.close()


if __name__ == "__main__":
    main()
