"""How fast one serving process drains a backlog of webhooks to a loopback receiver.

    .venv/bin/python bench/bench_webhooks.py [--events 1000] [--postgres URL]

A fresh gateway database (``gateway init`` in a temporary directory, SQLite unless ``--postgres``),
one authority whose webhook is a receiver on 127.0.0.1 (uvicorn, answering 204 after checking each
v1a signature with the discovery key), ``--events`` events recorded as changes record them, then
``WebhookWorker.tick`` rounds, as the serving process runs them, until every event is delivered.
Prints events/s (publication, signing, the POST and recording its outcome) beside the target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from crypto.keys import encode_public_key
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.maintenance.initialize import initialize
from gateway.notifications.delivery import WebhookWorker
from gateway.notifications.events import record_event
from gateway.notifications.kinds import EventKind
from gateway.notifications.registration import set_webhook
from gateway.notifications.schedule import RetryPolicy
from gateway.principals.registry import PrincipalRegistry, Role
from gateway.store.engine import Database
from gateway.store.tables import EventRow
from tests.support.webhooks import receiving

TARGET_PER_S = 100.0  # a day's worth of events for a busy authority drains in seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--postgres", help="a PostgreSQL URL to use instead of a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        overrides = {"database_url": args.postgres} if args.postgres else {}
        settings = Settings(data_dir=Path(workdir) / "var", id="gateway.bench", _env_file=None,  # type: ignore[call-arg]
                            **overrides)
        initialize(settings)
        db = Database(settings.sqlalchemy_url)
        key = load_gateway_keys(settings).signing_key
        PrincipalRegistry(db).add(role=Role.AUTHORITY, principal_id="bka-de", name="BKA", country="DE",
                                  signing_key=encode_public_key(SigningKey.generate().verify_key),
                                  sealing_key=encode_public_key(PrivateKey.generate().public_key),
                                  now=int(time.time()))
        with receiving([key.verify_key]) as receiver:
            set_webhook(db, "bka-de", receiver.url)
            now = datetime.now(UTC)
            with db.session() as session:
                for n in range(args.events):
                    record_event(session, authority_id="bka-de", kind=EventKind.ORDER_ACTIVATED,
                                 request_id=f"lrq_{n:020x}", order_id=f"ord_{n:020x}", state="ACTIVE", now=now)
            worker = WebhookWorker(db.engine, signing_key=lambda: key, clock=lambda: now, policy=RetryPolicy(),
                                   timeout=5)
            started = time.perf_counter()
            delivered = 0
            while delivered < args.events:
                delivered += worker.tick(now).get("delivered", 0)
                if time.perf_counter() - started > 300:
                    raise SystemExit(f"only {delivered} of {args.events} delivered in 300 s")
            elapsed = time.perf_counter() - started
            worker.close()
            if receiver.unverified or len(receiver.events) != args.events:
                raise SystemExit(f"{len(receiver.unverified)} deliveries did not verify; "
                                 f"{len(receiver.events)} arrived")
        with db.engine.connect() as connection:
            left = connection.execute(select(func.count()).select_from(EventRow.__table__)  # type: ignore[attr-defined]
                                      .where(EventRow.__table__.c.delivery != "delivered")).scalar_one()  # type: ignore[attr-defined]
        db.dispose()
    rate = args.events / elapsed
    print(f"{args.events} webhooks delivered in {elapsed:.2f} s: {rate:.0f} events/s "
          f"(target >= {TARGET_PER_S:.0f}/s: {'met' if rate >= TARGET_PER_S else 'NOT met'}); undelivered: {left}")


if __name__ == "__main__":
    main()
