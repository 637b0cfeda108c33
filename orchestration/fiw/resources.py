"""The one place Dagster resources are configured: the warehouse settings, the run guard and the
dbt CLI; and the dbt project, whose manifest is prepared here when missing or stale (the assets are
built from it, so `dagster dev`, the daemon and `fiw run` all load on a fresh clone)."""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cached_property
from pathlib import Path

from dagster import ConfigurableResource, EnvVar
from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from fiw.run.guard import RunGuard
from fiw.settings import DBT_PROJECT_DIR, Settings, dbt_executable


class WarehouseResource(ConfigurableResource):
    """Where the home folder and the exports are; everything else derives from them."""

    home: str
    exports: str

    @property
    def settings(self) -> Settings:
        return Settings.resolve(home=self.home, exports=self.exports)


def _dbt_sources_mtime() -> float:
    paths = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        paths.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    paths.extend((DBT_PROJECT_DIR.parent / "seeds").rglob("*"))
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def ensure_dbt_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than any project file (what
    dagster-dbt's ``prepare_if_dev`` does, but outside ``dagster dev`` too).

    Several processes can find it stale at once (test workers, the daemon and the webserver after
    an edit of a model or seed): one parses, under a lock, into a folder of its own, and the
    manifest is swapped in by a rename, so no process ever reads a half-written one."""
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"

    def stale() -> bool:
        return not manifest.exists() or manifest.stat().st_mtime < _dbt_sources_mtime()

    if not stale():
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with (manifest.parent / ".parse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stale():  # another process may have parsed while this one waited
            scratch = Path(tempfile.mkdtemp(prefix=".parse-", dir=manifest.parent))
            cache = manifest.parent / "partial_parse.msgpack"  # dbt re-parses changed files only
            if cache.exists():
                shutil.copyfile(cache, scratch / cache.name)
            try:
                subprocess.run(
                    [dbt_executable(), "parse", "--quiet", "--target-path", str(scratch)],
                    cwd=DBT_PROJECT_DIR,
                    check=True,
                    env={**os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)},
                )
                if (scratch / cache.name).exists():
                    os.replace(scratch / cache.name, cache)
                os.replace(scratch / "manifest.json", manifest)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    return manifest


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
ensure_dbt_manifest()


class FiwDbtCliResource(DbtCliResource):
    """``DbtCliResource`` without the in-process dbt adapter that dagster-dbt builds before every
    invocation (loading the profile and the adapter in the Dagster process: about a second). It
    only serves ``fetch_column_metadata`` / ``fetch_row_counts``, which fiw does not call;
    dagster-dbt runs without one for dbt Fusion already (``adapter=None``)."""

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001, ANN202 - dagster-dbt's hook
        return None

    @cached_property
    def _cli_version(self) -> Version:
        """dagster-dbt asks ``dbt --version`` in a subprocess (a second and a half) on every run;
        for this environment's own dbt the installed dbt-core says the same."""
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return Version(importlib.metadata.version("dbt-core"))
        return super()._cli_version


def build_resources() -> dict:
    """Resources from the environment (``FIW_HOME``, ``FIW_EXPORTS``), as ``fiw run`` and
    ``dagster dev`` both set it; dbt writes to the warehouse named by ``FIW_WAREHOUSE_PATH``."""
    settings = Settings.resolve()
    os.environ.setdefault("FIW_HOME", str(settings.home))
    os.environ.setdefault("FIW_EXPORTS", settings.exports)
    os.environ["FIW_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    return {
        "warehouse": WarehouseResource(home=EnvVar("FIW_HOME"), exports=EnvVar("FIW_EXPORTS")),
        "run_guard": RunGuard(home=EnvVar("FIW_HOME"), exports=EnvVar("FIW_EXPORTS")),
        "dbt": FiwDbtCliResource(
            project_dir=dbt_project,
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=dbt_executable(),
        ),
    }
