"""Everything a running gateway holds, built once per process from its settings: the composition
root. Every domain service is built here, so resolvers and commands use the one instance and never
construct a service, or reach the database or the vault, themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.audit.checkpointer import Checkpointer, CheckpointSchedule
from gateway.audit.checkpoints import CheckpointPolicy
from gateway.audit.current_key import CurrentKey
from gateway.audit.grants import GrantProofs
from gateway.audit.usage import usage_key
from gateway.audit.witnessing import WitnessFeeder
from gateway.audit.writer import AuditWriter, writer_engine
from gateway.config import Settings
from gateway.errors import OperatorError
from gateway.keys.keyring import GatewayKeys, load_gateway_keys
from gateway.keys.vault import Vault
from gateway.lifecycle.notices import Notices
from gateway.lifecycle.preservation import Preservations
from gateway.lifecycle.preserved import PreservedCopies, PreservingSource
from gateway.notifications.delivery import WebhookWorker
from gateway.notifications.schedule import RetryPolicy
from gateway.observability.metrics import GatewayMetrics
from gateway.orders.lapses import sweep_lapses
from gateway.orders.service import Orders
from gateway.principals.registry import PrincipalRegistry
from gateway.principals.replay import ReplayStore
from gateway.principals.rotation import KeyRotations
from gateway.store.engine import Database
from gateway.subjects.source import SubjectSource
from gateway.subjects.sql_source import SqlSource
from gateway.subjects.store import SubjectStore

__all__ = ["Services", "sql_source", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def sql_source(settings: Settings) -> SqlSource | None:
    """The platform's database when ``GATEWAY_SUBJECT_SOURCE`` is ``sql`` (``None`` for the embedded
    store), its mapping checked statement by statement: ``OperatorError``, one line, if any is wrong."""
    if settings.subject_source == "embedded":
        return None
    if settings.subject_source_url is None or settings.subject_source_mapping is None:  # the settings refuse it
        raise OperatorError("GATEWAY_SUBJECT_SOURCE=sql needs GATEWAY_SUBJECT_SOURCE_URL and "
                            "GATEWAY_SUBJECT_SOURCE_MAPPING")
    source = SqlSource.open(settings.subject_source_url.get_secret_value(), settings.subject_source_mapping,
                            timeout_s=settings.subject_source_timeout_s,
                            pool_size=max(5, settings.worker_threads))  # a request holds one (endpoint)
    try:
        source.check()
    except OperatorError:
        source.dispose()
        raise
    return source


@dataclass
class Services:
    settings: Settings
    db: Database
    current_key: CurrentKey
    registry: PrincipalRegistry
    replay: ReplayStore
    audit: AuditWriter
    vault: Vault
    subjects: SubjectStore  # the embedded store: imports, retention, preserved copies
    source: SubjectSource  # where every read of a subject goes (GATEWAY_SUBJECT_SOURCE)
    orders: Orders
    preservations: Preservations
    notices: Notices
    checkpointer: Checkpointer
    witnesses: list[WitnessFeeder]
    notifier: WebhookWorker
    rotations: KeyRotations
    clock: Callable[[], datetime] = field(default=utc_now)
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)

    @classmethod
    def build(cls, settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> Services:
        """Load keys and open the database; raise ``OperatorError`` when `gateway init` is missing."""
        keys = load_gateway_keys(settings)
        if keys.blind_index_next is not None:
            raise OperatorError("a blind-index key rotation is under way (blind-index.key.next exists); finish it "
                                "with `gateway keys rotate blind-index` before starting the gateway")
        # Checked before anything else is opened, so a bad mapping leaves nothing running.
        external = sql_source(settings)
        # A connection for every worker thread, so no request waits on the pool (gateway/api/http/endpoint.py).
        db = Database(settings.sqlalchemy_url, pool_size=max(5, settings.worker_threads))
        counter_key = usage_key(keys.at_rest_key)
        # Shared by all that sign, so a rotation by any process is taken by all of them at once.
        current_key = CurrentKey(keys, origin=settings.origin, reload=lambda: load_gateway_keys(settings))
        # The writer signs no checkpoints on its own schedule: the checkpointer does, off the
        # request path (the writer still signs the tail of the log when it closes).
        audit = AuditWriter(settings.sqlalchemy_url, checkpoint_key=current_key, origin=settings.origin,
                            policy=CheckpointPolicy(every_entries=2**62, every_seconds=3600.0),
                            group_commit=settings.audit_group_commit, usage_key=counter_key)
        signer_engine = writer_engine(settings.sqlalchemy_url)
        witnesses = [WitnessFeeder(w, signer_engine, timeout=settings.witness_timeout_s)
                     for w in settings.witness_list]
        checkpointer = Checkpointer(
            signer_engine, key=current_key, origin=settings.origin, listeners=witnesses, reader=db.engine,
            schedule=CheckpointSchedule.for_interval(settings.checkpoint_every_seconds,
                                                     settings.checkpoint_every_entries))
        vault = Vault.from_keys(keys)
        subjects = SubjectStore(db, vault)
        source: SubjectSource = subjects
        preservations = Preservations(db, subjects, vault)
        preserving: PreservingSource | None = None
        if external is not None:
            # Holds resolve through the platform and keep copies; everything else reads a held
            # subject's held window from its copy (gateway/lifecycle/preserved.py).
            preservations = Preservations(db, external, vault, PreservedCopies(db, external, subjects))
            preserving = PreservingSource(external, subjects, preservations.held_since, clock)
            source = preserving
        orders = Orders(db, source, vault, approvals_required=settings.approvals_required, usage_key=counter_key,
                        emergency_approvals_required=settings.emergency_approvals_required,
                        emergency_order_hours=settings.emergency_order_hours)
        # A key a principal set itself counts only when the audit entry that recorded it says so.
        registry = PrincipalRegistry(db, proves=GrantProofs().proves)
        rotations = KeyRotations(db, gateway_id=settings.id, overlap_s=settings.key_overlap_hours * 3600,
                                 window_s=settings.max_token_lifetime_s + settings.token_leeway_s)
        services = cls(settings=settings, db=db, current_key=current_key, registry=registry, rotations=rotations,
                       replay=ReplayStore(db, retention_s=settings.jti_retention_s), audit=audit, vault=vault,
                       subjects=subjects, source=source, orders=orders,
                       preservations=preservations,
                       notices=Notices(db, orders, audit), checkpointer=checkpointer, witnesses=witnesses,
                       notifier=WebhookWorker(
                           db.engine, signing_key=lambda: current_key.keys.signing_key, clock=clock,
                           policy=RetryPolicy(base=settings.webhook_retry_base_s, cap=settings.webhook_retry_cap_s,
                                              max_attempts=settings.webhook_max_attempts),
                           timeout=settings.webhook_timeout_s, poll=settings.webhook_poll_seconds,
                           sweeps=[lambda now: sweep_lapses(orders, now=now)],
                           sweep_every=settings.lapse_sweep_seconds),
                       clock=clock)
        # The worker reads the clock the services hold, which tests replace after building.
        services.notifier.clock = lambda: services.clock()
        if preserving is not None:
            preserving.clock = lambda: services.clock()  # the clock a test moves replaces services.clock
        services.metrics.watch(db.engine.connect, services.order_statuses, clock, [w.name for w in witnesses])
        audit.observer = services.metrics.audit_commit
        return services

    @property
    def keys(self) -> GatewayKeys:
        """The keys as this process holds them now: the signing key follows a rotation."""
        return self.current_key.keys

    @contextmanager
    def request_reads(self) -> Iterator[None]:
        """One request's reads: one connection to the gateway's database and, with the sql source,
        one to the platform's (:meth:`Database.request_reads`, :meth:`SqlSource.request_reads`)."""
        platform = self._platform()
        with self.db.request_reads(), (platform.request_reads() if platform is not None else nullcontext()):
            yield

    def _platform(self) -> SqlSource | None:
        """The platform's database when the subjects are read there (``self.source`` as it is now:
        tests replace it)."""
        source = self.source.platform if isinstance(self.source, PreservingSource) else self.source
        return source if isinstance(source, SqlSource) else None

    def order_statuses(self) -> list[str]:
        """Every order's status as computed now (for the ``gateway_orders`` gauge)."""
        now = self.clock()
        return [self.orders.load(order_id, now=now).status.value for order_id in self.orders.order_ids()]

    def start_background(self) -> None:
        """Start signing checkpoints, feeding witnesses and sending webhooks (the app's startup does)."""
        self.checkpointer.start()
        self.notifier.start()
        for witness in self.witnesses:
            witness.start()

    def close(self) -> None:
        self.notifier.close()
        self.checkpointer.close()
        for witness in self.witnesses:
            witness.close()
        self.audit.close()
        platform = self._platform()
        if platform is not None:
            platform.dispose()
        self.checkpointer.engine.dispose()
        self.db.dispose()
