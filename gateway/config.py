"""Settings, read once from ``GATEWAY_*`` environment variables (and an optional ``.env``).

Nothing else in the gateway reads ``os.environ``: the frozen :class:`Settings` object is built at
the edge (CLI or ``create_app``) and passed down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Everything the gateway can be configured with (docs/PROTOCOL.md §9)."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_file=".env", env_file_encoding="utf-8", frozen=True, extra="ignore"
    )

    data_dir: Path = Field(default=Path("./var"), description="SQLite database and the gateway's own keys")
    database_url: SecretStr | None = Field(default=None, description="overrides the SQLite default")
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
    checkpoint_every_seconds: float = Field(default=60.0, gt=0)
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

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

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
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with keyword overrides (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
