"""Where things live and the few knobs a deployment sets, resolved in one place.

``--home`` / ``$FIW_HOME`` (default ``./warehouse``) holds every file the warehouse writes;
``--exports`` / ``$FIW_EXPORTS`` (default ``./exports``) is the folder of nightly snapshot folders,
or a SQLAlchemy URL (anything containing ``://``) for an SSD database.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from fiw.contract import REPO_ROOT
from fiw.errors import FiwError, SettingError

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"

KEY_ENV = "FIW_PSEUDONYMISATION_KEY"
HMAC_BLOCK = 64  # SHA-256 block size in bytes


SHARE = "a share between 0 and 1, such as 0.05 (not a percentage)"


def _share(name: str, default: str) -> float:
    text = os.environ.get(name, default).strip()
    try:
        value = float(text)
    except ValueError:
        raise SettingError(name, text, SHARE) from None
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise SettingError(name, text, SHARE)
    return value


def _number(name: str, default: str, minimum: float, kind: type = float) -> float:
    text = os.environ.get(name, default).strip()
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(text)
    except ValueError:
        raise SettingError(name, text, f"{what} of at least {minimum:g}") from None
    if value < minimum:
        raise SettingError(name, text, f"{what} of at least {minimum:g}")
    return value


def _group(name: str) -> str | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        grp.getgrnam(text)
    except KeyError:
        raise SettingError(name, text, "the name of an existing operating-system group") from None
    return text


def _alert_urls(name: str) -> tuple[str, ...]:
    text = os.environ.get(name, "").strip()
    urls = tuple(u.strip() for u in text.split(",") if u.strip())
    for url in urls:
        scheme, sep, rest = url.partition("://")
        if not sep or not rest or not scheme.replace("+", "").replace("-", "").isalnum():
            raise SettingError(
                name, url, "notification URLs in Apprise's syntax (scheme://...), comma-separated"
            )
    return urls


PUBLISH_URL = (
    "a SQLAlchemy URL of a PostgreSQL database, such as "
    "postgresql+psycopg://fiw_loader:PASSWORD@db.example:5432/fiw"
)


def _publish_url(name: str) -> str | None:
    """``FIW_PUBLISH_URL``: unset or empty for no PostgreSQL publication, else a PostgreSQL URL
    naming a database (the password never appears in the error)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        url = make_url(text)
        backend, driver = url.get_backend_name(), url.get_driver_name()
    except (SQLAlchemyError, ValueError):
        scheme = text.split("://", 1)[0] + "://..." if "://" in text else "..."  # no password
        raise SettingError(name, scheme, PUBLISH_URL) from None
    shown = url.render_as_string(hide_password=True)
    if backend != "postgresql" or not url.database:
        raise SettingError(name, shown, PUBLISH_URL)
    if driver not in ("psycopg", "psycopg2"):
        raise SettingError(name, shown, PUBLISH_URL + " (fiw connects with psycopg)")
    return text


def _exports(value: str) -> str:
    if "://" in value:
        return value
    return str(Path(value).resolve())


@dataclass(frozen=True)
class Settings:
    """Every setting of interface.md ("Settings"), checked once: a value that makes no sense
    raises :class:`SettingError` naming the variable, before anything is touched."""

    home: Path
    exports: str
    quarantine_threshold: float = 0.05  # share of an object's rows; above it the load fails
    volume_drop: float = 0.5  # share of an object's rows lost since the last accepted snapshot
    retention_days: int = 400  # raw snapshots older than this (by extract date) are pruned
    stale_hours: float = 36.0
    analyst_group: str | None = None
    alert_urls: tuple[str, ...] = ()
    warehouse_wait_seconds: float = 300.0
    publish_url: str | None = None  # FIW_PUBLISH_URL: also publish to this PostgreSQL database

    @classmethod
    def resolve(cls, home: str | os.PathLike | None = None, exports: str | None = None) -> Settings:
        home_path = Path(home or os.environ.get("FIW_HOME") or "warehouse").resolve()
        return cls(
            home=home_path,
            exports=_exports(exports or os.environ.get("FIW_EXPORTS") or "exports"),
            quarantine_threshold=_share("FIW_QUARANTINE_THRESHOLD", "0.05"),
            volume_drop=_share("FIW_VOLUME_DROP", "0.5"),
            retention_days=int(_number("FIW_RETENTION_DAYS", "400", 1, int)),
            stale_hours=_number("FIW_STALE_HOURS", "36", 1),
            analyst_group=_group("FIW_ANALYST_GROUP"),
            alert_urls=_alert_urls("FIW_ALERT_URLS"),
            warehouse_wait_seconds=_number("FIW_WAREHOUSE_WAIT_SECONDS", "300", 0),
            publish_url=_publish_url("FIW_PUBLISH_URL"),
        )

    @property
    def safe_exports(self) -> str:
        """The exports as they may be printed: a database URL with its password masked."""
        if not self.exports_is_database:
            return self.exports
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.exports).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - an unparsable URL is reported where it is used
            return self.exports.split("://", 1)[0] + "://..."

    def check_home_writable(self) -> None:
        """Raise FiwError unless this user can create and write the home folder."""
        probe = self.home
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise FiwError(
                f"home {self.home} cannot be created: {probe} is not a folder.",
                "Point --home or FIW_HOME at a folder this user owns.",
            )
        if not os.access(probe, os.W_OK | os.X_OK) or (
            self.home.exists() and not os.access(self.home, os.R_OK)
        ):
            raise FiwError(
                f"home {self.home} is not writable by this user ({_user()}): "
                f"{probe} does not let it write.",
                "Run as the service account that owns the home, or fix its permissions "
                "(chown/chmod), then run again.",
            )

    @property
    def exports_is_database(self) -> bool:
        return "://" in self.exports

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def published_path(self) -> Path:
        return self.home / "published.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def data_docs_dir(self) -> Path:
        return self.home / "data_docs"

    @property
    def key_file(self) -> Path:
        return self.home / "pseudonymisation.key"

    @property
    def lock_file(self) -> Path:
        return self.home / "run.lock"

    def ensure_home(self) -> None:
        """Create the home folder 0711 (docs/audiences.md): others may pass through to
        ``release/`` but not list it; what it holds is owner-only (umask 077) unless shared."""
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o711)

    def pseudonymisation_key(self) -> bytes:
        """The HMAC key: ``$FIW_PSEUDONYMISATION_KEY``, else a key file made on first use (0600)."""
        env = os.environ.get(KEY_ENV)
        if env:
            return env.encode("utf-8")
        self.ensure_home()
        if not self.key_file.exists():
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return self.key_file.read_text().strip().encode("utf-8")


def suppression_threshold() -> int:
    """The dbt var ``suppression_threshold`` of dbt_project.yml (docs/audiences.md; default 5)."""
    import yaml

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return int((project.get("vars") or {}).get("suppression_threshold", 5))


def dbt_executable() -> str:
    """The ``dbt`` of this Python environment (dagster-dbt runs it as a subprocess)."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer HMAC-SHA256 pads of ``key`` (RFC 2104), so SQL can compute
    ``sha256(opad || sha256(ipad || message))`` without ever seeing the key itself."""
    if len(key) > HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"
