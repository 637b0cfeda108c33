"""The one place Dagster resources are configured: the warehouse settings and the dbt CLI."""

from __future__ import annotations

import os

from dagster import ConfigurableResource, EnvVar
from dagster_dbt import DbtCliResource, DbtProject

from fiw.settings import DBT_PROJECT_DIR, Settings, dbt_executable


class WarehouseResource(ConfigurableResource):
    """Where the home folder and the exports are; everything else derives from them."""

    home: str
    exports: str

    @property
    def settings(self) -> Settings:
        return Settings.resolve(home=self.home, exports=self.exports)


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def build_resources() -> dict:
    """Resources from the environment (``FIW_HOME``, ``FIW_EXPORTS``), as ``fiw run`` and
    ``dagster dev`` both set it; dbt writes to the warehouse named by ``FIW_WAREHOUSE_PATH``."""
    settings = Settings.resolve()
    os.environ.setdefault("FIW_HOME", str(settings.home))
    os.environ.setdefault("FIW_EXPORTS", settings.exports)
    os.environ["FIW_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    return {
        "warehouse": WarehouseResource(home=EnvVar("FIW_HOME"), exports=EnvVar("FIW_EXPORTS")),
        "dbt": DbtCliResource(
            project_dir=dbt_project,
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=dbt_executable(),
        ),
    }
