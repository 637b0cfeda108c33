"""Where things live and the few knobs a deployment sets, resolved in one place.

``--home`` / ``$FIW_HOME`` (default ``./warehouse``) holds every file the warehouse writes;
``--exports`` / ``$FIW_EXPORTS`` (default ``./exports``) is the folder of nightly snapshot folders,
or a SQLAlchemy URL (anything containing ``://``) for an SSD database.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from fiw.contract import REPO_ROOT

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"

KEY_ENV = "FIW_PSEUDONYMISATION_KEY"
HMAC_BLOCK = 64  # SHA-256 block size in bytes


@dataclass(frozen=True)
class Settings:
    home: Path
    exports: str
    quarantine_threshold: float = 0.05  # share of an object's rows; above it the load fails
    retention_days: int = 400  # raw snapshots older than this (by extract date) are pruned

    @classmethod
    def resolve(cls, home: str | os.PathLike | None = None, exports: str | None = None) -> Settings:
        home_path = Path(home or os.environ.get("FIW_HOME") or "warehouse").resolve()
        exports_val = exports or os.environ.get("FIW_EXPORTS") or "exports"
        if "://" not in exports_val:
            exports_val = str(Path(exports_val).resolve())
        return cls(
            home=home_path,
            exports=exports_val,
            quarantine_threshold=float(os.environ.get("FIW_QUARANTINE_THRESHOLD", "0.05")),
            retention_days=int(os.environ.get("FIW_RETENTION_DAYS", "400")),
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
        """Create the home folder owner-only: it will hold personal data."""
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)

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
