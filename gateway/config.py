"""Settings, read once from ``GATEWAY_*`` environment variables (and an optional ``.env``).

Nothing else in the gateway reads ``os.environ``: the frozen :class:`Settings` object is built at
the edge (CLI or ``create_app``) and passed down.

Secret settings (those typed ``SecretStr``) may also come from files, so no password need sit in
an environment or a compose file: ``GATEWAY_<NAME>_FILE`` names a file holding the value, and
``GATEWAY_SECRETS_DIR`` names a directory (a Docker or Kubernetes secrets mount) where a file named
``gateway_<name>`` holds it. Precedence: keyword overrides, then ``GATEWAY_<NAME>``, then
``GATEWAY_<NAME>_FILE``, then ``.env``, then the secrets directory. Both ``GATEWAY_<NAME>`` and
``GATEWAY_<NAME>_FILE`` at once is refused as ambiguous.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from sqlalchemy.engine import make_url

from crypto.cosignature import parse_cosigner_key
from crypto.errors import CryptoError

__all__ = ["SECRETS_DIR_VARIABLE", "Settings", "SettingsError", "WitnessConfig", "configuration_error", "load_settings",
           "parse_witnesses", "undecodable_dotenv"]

SECRETS_DIR_VARIABLE: Final = "GATEWAY_SECRETS_DIR"
_MAX_SECRET_FILE_BYTES: Final = 64 * 1024


def _is_secret(field: FieldInfo) -> bool:
    return SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))


class _FileVariables(PydanticBaseSettingsSource):
    """``GATEWAY_<NAME>_FILE`` for every secret setting: the file's content, one trailing newline
    removed (what ``echo`` and most secret stores add)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"GATEWAY_{field_name.upper()}_FILE"
        name = os.environ.get(variable)
        if name is None or not _is_secret(field):
            return None, field_name, False
        if f"GATEWAY_{field_name.upper()}" in os.environ:
            raise SettingsError(f"both GATEWAY_{field_name.upper()} and {variable} are set; unset one")
        path = Path(name)
        try:
            with path.open("rb") as handle:
                raw = handle.read(_MAX_SECRET_FILE_BYTES + 1)
        except OSError as exc:
            raise SettingsError(f"{variable}: cannot read {path.resolve()}: {exc.strerror or exc}") from None
        if len(raw) > _MAX_SECRET_FILE_BYTES:
            raise SettingsError(f"{variable}: {path.resolve()} is too large to hold one secret")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SettingsError(f"{variable}: {path.resolve()} is not UTF-8 text") from None
        return text.removesuffix("\n").removesuffix("\r"), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


class _SecretsDirectory(SecretsSettingsSource):
    """``GATEWAY_SECRETS_DIR``, with a file that is not UTF-8 named rather than shown in a traceback."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        try:
            return super().get_field_value(field, field_name)
        except UnicodeDecodeError:
            raise SettingsError(f"{SECRETS_DIR_VARIABLE}: gateway_{field_name} is not UTF-8 text") from None

    def __call__(self) -> dict[str, Any]:
        try:
            return super().__call__()
        except SettingsError as exc:
            # pydantic-settings wraps what get_field_value raised in a message of its own.
            if isinstance(exc.__cause__, SettingsError):
                raise exc.__cause__ from None
            raise


def _utf8(value: str, what: str) -> str:
    """An environment variable's bytes that are not UTF-8 arrive as lone surrogates: refuse them
    here, where the message can name the setting, not when printing or connecting."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not UTF-8 text") from None
    return value


def undecodable_dotenv(path: Path = Path(".env")) -> str:
    """What to say of a ``.env`` that is not UTF-8: the variables on its undecodable lines, by name
    only (a name is shown only when it looks like one, so no value is ever quoted)."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        lines = []
    names: list[str] = []
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            name = line.split(b"=", 1)[0].strip().removeprefix(b"export ").strip()
            names.append(name.decode() if re.fullmatch(rb"[A-Za-z_][A-Za-z0-9_]{0,99}", name) else "a line")
    return f"{', '.join(names) or 'a line'} in {path} is not UTF-8 text"


def configuration_error(exc: ValidationError) -> str:
    """One line naming the setting that is wrong, and never its value.

    pydantic's own text (``str(exc)``) quotes each input, a secret one too, so only the location
    and the message are used; the validators' messages here never quote a secret."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    where = "_".join(str(part) for part in first.get("loc", ())).upper()
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (f"invalid configuration GATEWAY_{where}: {message}" if where
            else f"invalid configuration: {message}") + more


@dataclass(frozen=True)
class WitnessConfig:
    """One configured witness: where to submit (its submission prefix) and its cosigner vkey."""

    url: str
    vkey: str


def parse_witnesses(text: str) -> tuple[WitnessConfig, ...]:
    """``GATEWAY_WITNESSES``: comma-separated ``<URL> <cosigner vkey>`` pairs. Raise ``ValueError``
    for a pair that is not two words, a URL that is not http(s) or a name used twice."""
    witnesses: list[WitnessConfig] = []
    for item in text.split(","):
        if not item.strip():
            continue
        words = item.split()
        if len(words) != 2:
            raise ValueError("each witness is '<URL> <verifier key>', pairs separated by commas")
        url, vkey = words
        try:
            parse_cosigner_key(vkey)
        except CryptoError as exc:
            raise ValueError(f"witness key {vkey!r}: {exc.message}") from None
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ValueError(f"witness URL {url!r} must be an http(s) URL")
        witnesses.append(WitnessConfig(url.rstrip("/"), vkey))
    names = [w.vkey.split("+", 1)[0] for w in witnesses]
    if len(set(names)) != len(names):
        raise ValueError("two witnesses share a name")
    return tuple(witnesses)


class Settings(BaseSettings):
    """Everything the gateway can be configured with (docs/PROTOCOL.md §9)."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_file=".env", env_file_encoding="utf-8", frozen=True, extra="ignore"
    )

    data_dir: Path = Field(default=Path("./var"), description="SQLite database and the gateway's own keys")
    database_url: SecretStr | None = Field(default=None, description="overrides the SQLite default")
    database_password: SecretStr | None = Field(
        default=None, description="the password of GATEWAY_DATABASE_URL, kept out of the URL (e.g. from a file)")
    id: str = Field(default="disclosure-gateway.local", min_length=1, max_length=200,
                    description="the gateway id: the token audience")
    approvals_required: int = Field(default=2, ge=1, le=20)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_token_lifetime_s: int = Field(default=300, ge=1, le=300)
    token_leeway_s: int = Field(default=30, ge=0, le=300)
    jti_retention_s: int = Field(default=3600, ge=600,
                                 description="how long past its expiry a jti stays refused")
    checkpoint_origin: str | None = Field(default=None, description="default: '<id>/audit'")
    checkpoint_every_entries: int = Field(default=256, ge=1)
    checkpoint_every_seconds: float = Field(default=1.0, gt=0, le=3600,
                                            description="sign a checkpoint this often when the log grew")
    witnesses: str = Field(default="", description="comma-separated '<URL> <cosigner vkey>' pairs")
    witness_quorum: int | None = Field(default=None, ge=0,
                                       description="cosignatures a checkpoint needs to count as published "
                                                   "(default: every configured witness)")
    witness_timeout_s: float = Field(default=5.0, gt=0, le=60)
    rate_limit_per_minute: int = Field(default=600, ge=1,
                                       description="unauthenticated requests per client address")
    rate_limit_summary_interval_s: float = Field(
        default=1.0, ge=0, le=60, description="how long a 429 waits to share its summary entry with others")
    audit_group_commit: bool = Field(default=True, description="share one commit among concurrent requests")
    max_query_depth: int = Field(default=8, ge=2, le=50)
    max_aliases: int = Field(default=15, ge=1, le=1000)
    max_tokens: int = Field(default=2000, ge=10, le=100_000)
    worker_threads: int = Field(default=8, ge=1, le=256,
                                description="threads running requests' database and signature work, off the "
                                            "event loop; also the size of the database connection pool")
    console: bool = Field(default=True, description="serve the reviewers' browser console at /console/")
    metrics: bool = Field(default=False, description="serve GET /metrics (Prometheus text) on the main port")
    metrics_port: int | None = Field(default=None, ge=1, le=65535,
                                     description="serve /metrics on this port of its own instead")
    metrics_host: str = Field(default="127.0.0.1", description="the address of GATEWAY_METRICS_PORT")
    log_format: Literal["text", "json"] = Field(default="text", description="json: one JSON object a line")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        default="none", description="OpenTelemetry traces: console, or otlp (OTEL_EXPORTER_OTLP_* configure it)")
    otel_service_name: str = Field(default="disclosure-gateway", min_length=1, max_length=200)
    emergency_approvals_required: int = Field(default=1, ge=1, le=20,
                                              description="approvals an emergency order needs, the verifier's "
                                                          "not counted")
    emergency_order_hours: int = Field(default=48, ge=1, le=24 * 14,
                                       description="how long an emergency order lives without a court order")
    key_overlap_hours: int = Field(default=24, ge=0, le=24 * 30,
                                   description="how long a principal's token key still works after the "
                                               "principal rotated it")
    ip_retention_days: int = Field(default=30, ge=1, le=3660, description="IP events older than this are deleted")
    device_retention_days: int | None = Field(default=None, ge=1, le=3660,
                                              description="devices last seen before this are deleted; unset keeps")
    username_history_retention_days: int | None = Field(
        default=None, ge=1, le=3660, description="former usernames that ended before this are deleted; unset keeps")
    retention_every_seconds: float = Field(default=3600.0, gt=0,
                                           description="how often the serving process runs retention")
    webhook_poll_seconds: float = Field(default=2.0, gt=0, le=3600,
                                        description="how often the serving process publishes events and sends "
                                                    "the webhooks due")
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=60, description="one webhook delivery's time limit")
    webhook_retry_base_s: float = Field(default=5.0, gt=0, le=3600,
                                        description="the wait after a webhook's first failed attempt; it doubles "
                                                    "with each further failure")
    webhook_retry_cap_s: float = Field(default=6 * 3600.0, gt=0, le=7 * 86400,
                                       description="the longest wait between two attempts of one webhook")
    webhook_max_attempts: int = Field(default=15, ge=1, le=100,
                                      description="attempts of one webhook before the gateway gives up on it")
    lapse_sweep_seconds: float = Field(default=60.0, gt=0, le=3600,
                                       description="how often the serving process looks for orders lapsing "
                                                   "within 24 h or lapsed")
    subject_source: Literal["embedded", "sql"] = Field(
        default="embedded", description="where subjects are read: the embedded encrypted store, or the "
                                        "platform's own database through GATEWAY_SUBJECT_SOURCE_MAPPING")
    subject_source_url: SecretStr | None = Field(
        default=None, description="the SQLAlchemy URL of the platform's database (with its password; from a file)")
    subject_source_mapping: Path | None = Field(
        default=None, description="the TOML file of the sql source's statements, one per purpose")
    subject_source_timeout_s: float = Field(default=2.0, gt=0, le=60,
                                            description="the sql source's statement timeout")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets: PydanticBaseSettingsSource = file_secret_settings
        directory = os.environ.get(SECRETS_DIR_VARIABLE)
        if directory and getattr(file_secret_settings, "secrets_dir", None) is None:
            if not Path(directory).is_dir():
                raise SettingsError(f"{SECRETS_DIR_VARIABLE}: {Path(directory).resolve()} is not a directory")
            secrets = _SecretsDirectory(settings_cls, secrets_dir=directory)
        return init_settings, env_settings, _FileVariables(settings_cls), dotenv_settings, secrets

    @field_validator("database_url", "subject_source_url")
    @classmethod
    def _parse_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """A URL the database driver can take, checked here: SQLAlchemy's parse errors quote the
        part they choke on, which for an unescaped password is the password."""
        if value is None:
            return None
        text = _utf8(value.get_secret_value(), "the value")
        hint = "; a password holding @, :, / or % must be percent-encoded (%40, %3A, %2F, %25)" + (
            ", or set in GATEWAY_DATABASE_PASSWORD" if info.field_name == "database_url" else "")
        try:
            url = make_url(text)
        except Exception:  # ArgumentError, or ValueError for a port that is no number
            raise ValueError(f"not a database URL (dialect+driver://user:password@host:port/database){hint}") from None
        if "@" in (url.host or "") or (url.host and "@" in (url.database or "")) or any(c in text for c in "\r\n"):
            raise ValueError(f"not a database URL: it holds a second @ or a line break{hint}")
        return value

    @field_validator("database_password")
    @classmethod
    def _password_text(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _utf8(value.get_secret_value(), "the value")
        return value

    @model_validator(mode="after")
    def _password_needs_a_url(self) -> Settings:
        if self.database_password is not None:
            if self.database_url is None:
                raise ValueError("GATEWAY_DATABASE_PASSWORD needs GATEWAY_DATABASE_URL")
            if make_url(self.database_url.get_secret_value()).password is not None:
                raise ValueError("GATEWAY_DATABASE_URL has a password and GATEWAY_DATABASE_PASSWORD is set; keep one")
        return self

    @model_validator(mode="after")
    def _sql_source_needs_url_and_mapping(self) -> Settings:
        if self.subject_source == "sql" and (self.subject_source_url is None or self.subject_source_mapping is None):
            raise ValueError("GATEWAY_SUBJECT_SOURCE=sql needs GATEWAY_SUBJECT_SOURCE_URL (or its _FILE) and "
                             "GATEWAY_SUBJECT_SOURCE_MAPPING")
        return self

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _check_witnesses(self) -> Settings:
        witnesses = parse_witnesses(self.witnesses)
        if self.witness_quorum is not None and self.witness_quorum > len(witnesses):
            raise ValueError(f"GATEWAY_WITNESS_QUORUM {self.witness_quorum} is more than the "
                             f"{len(witnesses)} configured witnesses")
        return self

    @property
    def witness_list(self) -> tuple[WitnessConfig, ...]:
        return parse_witnesses(self.witnesses)

    @property
    def quorum(self) -> int:
        """Cosignatures needed before a checkpoint counts as published."""
        return len(self.witness_list) if self.witness_quorum is None else self.witness_quorum

    @property
    def origin(self) -> str:
        """The checkpoint origin line (C2SP tlog-checkpoint)."""
        return self.checkpoint_origin or f"{self.id}/audit"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL: ``GATEWAY_DATABASE_URL`` or the embedded SQLite file in the data dir."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            if self.database_password is None:
                return url
            # make_url quotes the password, so any character a secret file holds survives.
            return make_url(url).set(password=self.database_password.get_secret_value()).render_as_string(
                hide_password=False)
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with keyword overrides (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
