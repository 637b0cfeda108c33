"""docs/audiences.md's three tiers, proved with real operating-system users.

The tests run as root and create (once, idempotently) a group ``fiwtest_analysts`` and three users:
``fiwtest_service`` (the service account that owns the home, a member of the group, as a
deployment's would be), ``fiwtest_analyst`` (a member) and ``fiwtest_outsider`` (not a member).
:func:`apply_permissions` runs in a child process as the service account, and every access is
checked with a system binary run as the user in question (``runuser -u USER -- head -c 1 FILE``
reads, ``runuser -u USER -- ls DIR`` lists): the venv's Python lives under /root, which the test
users cannot reach.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import duckdb
import pytest
from fiw.errors import FiwError
from fiw.publish.tiers import apply_permissions
from fiw.settings import Settings

GROUP = "fiwtest_analysts"
SERVICE, ANALYST, OUTSIDER = "fiwtest_service", "fiwtest_analyst", "fiwtest_outsider"
TOOLS = ("useradd", "groupadd", "usermod", "gpasswd", "runuser")


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def _groups_of(user: str) -> set[str]:
    pw = pwd.getpwnam(user)
    return {grp.getgrgid(g).gr_name for g in os.getgrouplist(user, pw.pw_gid)}


def _ensure_user(user: str, member: bool) -> None:
    try:
        pwd.getpwnam(user)
    except KeyError:
        extra = ["-G", GROUP] if member else []
        _run("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", *extra, user)
    if member and GROUP not in _groups_of(user):
        _run("usermod", "-aG", GROUP, user)
    if not member and GROUP in _groups_of(user):
        _run("gpasswd", "-d", user, GROUP)
    assert (GROUP in _groups_of(user)) is member


@pytest.fixture(scope="session")
def os_users() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the tiers are proved with real operating-system users")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to create the test users")
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        _run("groupadd", GROUP)
    _ensure_user(SERVICE, member=True)
    _ensure_user(ANALYST, member=True)
    _ensure_user(OUTSIDER, member=False)


def reads(user: str, path: Path) -> bool:
    """Whether ``user`` can read (a byte of) ``path``."""
    done = subprocess.run(["runuser", "-u", user, "--", "head", "-c", "1", str(path)], **_QUIET)
    return done.returncode == 0


def lists(user: str, path: Path) -> bool:
    """Whether ``user`` can list the folder ``path``."""
    done = subprocess.run(["runuser", "-u", user, "--", "ls", str(path)], **_QUIET)
    return done.returncode == 0


_QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def as_user(user: str, action) -> tuple[int, str]:
    """Run ``action()`` in a child process as ``user`` (its groups, umask 077): its exit code (0
    done, 3 FiwError, 4 anything else) and the error's text."""
    pw = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code, text = 4, ""
        try:
            os.close(read_end)
            os.setgroups(os.getgrouplist(user, pw.pw_gid))
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            os.umask(0o077)
            action()
            code = 0
        except FiwError as e:
            code, text = 3, str(e)
        except BaseException as e:  # noqa: BLE001 - reported through the exit code
            code, text = 4, repr(e)
        finally:
            os.write(write_end, text.encode())
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        text = f.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), text


def settings_for(home: Path, group: str | None = GROUP) -> Settings:
    return Settings(home=home, exports=str(home.parent / "exports"), analyst_group=group)


def apply_as_service(home: Path, group: str | None = GROUP) -> None:
    assert as_user(SERVICE, lambda: apply_permissions(settings_for(home, group))) == (0, "")


@pytest.fixture
def home(os_users) -> Path:
    """A synthetic home owned by the service account, everything created under umask 077, in a
    parent folder other users may pass through (tmp_path's /tmp/pytest-of-root is 0700)."""
    parent = Path(tempfile.mkdtemp(prefix="fiwtest-", dir="/tmp"))
    os.chmod(parent, 0o711)
    home = parent / "home"
    old = os.umask(0o077)
    try:
        _build_home(home)
    finally:
        os.umask(old)
    service = pwd.getpwnam(SERVICE)
    for root, dirs, files in os.walk(home):
        for name in [*dirs, *files]:
            os.chown(Path(root, name), service.pw_uid, service.pw_gid, follow_symlinks=False)
    os.chown(home, service.pw_uid, service.pw_gid)
    yield home
    shutil.rmtree(parent)


def _build_home(home: Path) -> None:
    home.mkdir()
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute("pragma disable_checkpoint_on_shutdown")
    con.execute("set wal_autocheckpoint = '1GB'")
    con.execute("create table raw_children as select 'Jane Doe' as name")
    con.close()
    assert (home / "warehouse.duckdb.wal").exists()
    (home / "warehouse.duckdb.tmp").mkdir()
    (home / "warehouse.duckdb.tmp" / "spill.block").write_bytes(b"spilled")
    (home / "pseudonymisation.key").write_text("0" * 64)
    (home / "run.lock").write_text("pid 1\n")
    for folder, name, text in [
        ("logs", "run.log", "a traceback with a value"),
        ("dagster", "runs.db", "run history"),
        ("gx", "x.json", "{}"),
        ("data_docs", "index.html", "<html>failed rows</html>"),
        ("dbt_target/r1", "manifest.json", "{}"),
    ]:
        (home / folder).mkdir(parents=True)
        (home / folder / name).write_text(text)
    con = duckdb.connect(str(home / "published.duckdb"))
    con.execute("create table outcome_metrics as select 'all' as segment, 3 as numerator")
    con.close()
    (home / ".catalog-r1" / "assets").mkdir(parents=True)
    (home / ".catalog-r1" / "index.html").write_text("<html>catalog</html>")
    (home / ".catalog-r1" / "assets" / "site.js").write_text("//")
    os.symlink(".catalog-r1", home / "catalog")
    (home / ".release-r1").mkdir()
    (home / ".release-r1" / "outcome_metrics.csv").write_text("as_of_date,window_name\n")
    (home / ".release-r1" / "outcome_metrics.meta.csv").write_text("name,type\n")
    os.symlink(".release-r1", home / "release")


WAREHOUSE_FILES = [
    "warehouse.duckdb",
    "warehouse.duckdb.wal",
    "warehouse.duckdb.tmp/spill.block",
    "pseudonymisation.key",
    "run.lock",
    "logs/run.log",
    "dagster/runs.db",
    "gx/x.json",
    "data_docs/index.html",
    "dbt_target/r1/manifest.json",
]
WAREHOUSE_FOLDERS = [
    "warehouse.duckdb.tmp",
    "logs",
    "dagster",
    "gx",
    "data_docs",
    "dbt_target",
    "dbt_target/r1",
]
ANALYST_FILES = ["published.duckdb", "catalog/index.html", "catalog/assets/site.js"]
RELEASE_FILES = ["release/outcome_metrics.csv", "release/outcome_metrics.meta.csv"]


def test_the_member_reads_the_analysts_tier_and_release_but_not_the_warehouse(home):
    apply_as_service(home)
    for name in ANALYST_FILES + RELEASE_FILES:
        assert reads(ANALYST, home / name), name
    assert lists(ANALYST, home / "catalog")
    assert lists(ANALYST, home / "release")
    for name in WAREHOUSE_FILES:
        assert not reads(ANALYST, home / name), name
    for name in WAREHOUSE_FOLDERS:
        assert not lists(ANALYST, home / name), name


def test_the_outsider_reads_the_release_only(home):
    apply_as_service(home)
    for name in RELEASE_FILES:
        assert reads(OUTSIDER, home / name), name
    assert lists(OUTSIDER, home / "release")
    for name in ANALYST_FILES + WAREHOUSE_FILES:
        assert not reads(OUTSIDER, home / name), name
    assert not lists(OUTSIDER, home / "catalog")
    for name in WAREHOUSE_FOLDERS:
        assert not lists(OUTSIDER, home / name), name


def test_nobody_but_the_owner_lists_the_home_and_the_owner_reads_everything(home):
    apply_as_service(home)
    assert lists(SERVICE, home)
    assert not lists(ANALYST, home)
    assert not lists(OUTSIDER, home)
    for name in WAREHOUSE_FILES + ANALYST_FILES + RELEASE_FILES:
        assert reads(SERVICE, home / name), name


def test_without_an_analyst_group_only_the_owner_reads_the_analysts_tier(home):
    apply_as_service(home, group=None)
    for name in ANALYST_FILES:
        assert reads(SERVICE, home / name), name
        assert not reads(ANALYST, home / name), name
        assert not reads(OUTSIDER, home / name), name
    assert not lists(ANALYST, home / "catalog")
    for name in RELEASE_FILES:  # the release tier does not depend on the group
        assert reads(ANALYST, home / name), name
        assert reads(OUTSIDER, home / name), name


def test_unsetting_the_group_takes_the_analysts_access_away(home):
    apply_as_service(home)
    assert reads(ANALYST, home / "published.duckdb")
    apply_as_service(home, group=None)
    assert not reads(ANALYST, home / "published.duckdb")
    assert not reads(ANALYST, home / "catalog" / "index.html")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def expected_modes(group: str | None) -> dict[str, int]:
    analyst_file, analyst_dir = (0o640, 0o750) if group else (0o600, 0o700)
    modes = {".": 0o711}
    modes |= {name: 0o600 for name in WAREHOUSE_FILES}
    modes |= {name: 0o700 for name in WAREHOUSE_FOLDERS}
    modes |= {"published.duckdb": analyst_file, ".catalog-r1/index.html": analyst_file}
    modes |= {".catalog-r1/assets/site.js": analyst_file}
    modes |= {".catalog-r1": analyst_dir, ".catalog-r1/assets": analyst_dir}
    modes |= {".release-r1": 0o755}
    modes |= {
        f".release-r1/{n}": 0o644 for n in ("outcome_metrics.csv", "outcome_metrics.meta.csv")
    }
    return modes


@pytest.mark.parametrize("group", [GROUP, None], ids=["group", "no-group"])
def test_the_modes_are_exactly_the_contracts_and_a_second_apply_changes_nothing(home, group):
    (home / "notes.txt").write_text("left alone")
    os.chmod(home / "notes.txt", 0o640)
    (home / "published.duckdb.tmp-r2").write_text("an unfinished publication")
    os.chmod(home / "published.duckdb.tmp-r2", 0o600)
    before_gid = os.lstat(home / "published.duckdb").st_gid
    for _ in range(2):
        apply_as_service(home, group)
        actual = {name: _mode(home / name) for name in expected_modes(group)}
        assert actual == expected_modes(group)
        analyst_gid = grp.getgrnam(GROUP).gr_gid if group else before_gid
        for name in ("published.duckdb", ".catalog-r1", ".catalog-r1/assets/site.js"):
            assert os.lstat(home / name).st_gid == analyst_gid, name
        for name in ("warehouse.duckdb", ".release-r1/outcome_metrics.csv"):
            assert os.lstat(home / name).st_gid == pwd.getpwnam(SERVICE).pw_gid, name
        assert os.readlink(home / "catalog") == ".catalog-r1"  # the links are not replaced
        assert os.readlink(home / "release") == ".release-r1"
        assert _mode(home / "notes.txt") == 0o640  # anything else stays as it is
        assert _mode(home / "published.duckdb.tmp-r2") == 0o600


def test_a_file_created_with_umask_077_in_the_home_is_owner_only(home):
    apply_as_service(home)
    new = home / "dbt.log"
    command = f"umask 077; echo values > {new}"
    _run("runuser", "-u", SERVICE, "--", "sh", "-c", command)
    assert _mode(new) == 0o600
    assert reads(SERVICE, new)
    assert not reads(ANALYST, new)
    assert not reads(OUTSIDER, new)


def test_ensure_home_makes_a_home_others_pass_through_but_do_not_list(home):
    fresh = home / "nested" / "fresh"  # created by the service account, under umask 077
    assert as_user(SERVICE, lambda: settings_for(fresh).ensure_home()) == (0, "")
    assert _mode(fresh) == 0o711
    for folder in (home, fresh.parent):  # the test's own folders above it: pass-through too
        os.chmod(folder, 0o711)
    (fresh / "shared.csv").write_text("x")
    os.chmod(fresh / "shared.csv", 0o644)
    assert reads(OUTSIDER, fresh / "shared.csv")  # passes through
    assert not lists(OUTSIDER, fresh)  # but does not list
    assert lists(SERVICE, fresh)


def test_links_inside_a_tier_and_links_out_of_the_home_are_not_followed(home):
    os.symlink("../pseudonymisation.key", home / ".release-r1" / "key.csv")
    outside = home.parent / "elsewhere"
    outside.mkdir(mode=0o700)
    (outside / "secret.csv").write_text("x")
    os.chmod(outside / "secret.csv", 0o600)
    os.unlink(home / "catalog")
    os.symlink(str(outside), home / "catalog")
    apply_as_service(home)
    assert _mode(home / "pseudonymisation.key") == 0o600
    assert not reads(OUTSIDER, home / "release" / "key.csv")
    assert _mode(outside) == 0o700
    assert _mode(outside / "secret.csv") == 0o600


def test_a_service_account_outside_the_group_is_told_what_to_do(home):
    outsider = pwd.getpwnam(OUTSIDER)
    for root, dirs, files in os.walk(home):
        for name in [*dirs, *files]:
            os.chown(Path(root, name), outsider.pw_uid, outsider.pw_gid, follow_symlinks=False)
    os.chown(home, outsider.pw_uid, outsider.pw_gid)
    code, text = as_user(OUTSIDER, lambda: apply_permissions(settings_for(home)))
    assert code == 3
    assert "not a member of it" in text and f"usermod -aG {GROUP}" in text
    assert _mode(home / "published.duckdb") == 0o600  # not opened to the owner's own group
    assert not reads(ANALYST, home / "published.duckdb")


# --------------------------------------------------------------------------- a real night


@pytest.mark.slow
def test_a_real_run_gives_each_tier_its_readers(os_users, tmp_path_factory):
    """`fiw run` itself (not apply_permissions alone) leaves every tier readable by exactly its
    audience: the analyst reads published.duckdb, catalog/ and release/ and nothing of the
    warehouse; the outsider reads release/ only; without FIW_ANALYST_GROUP only the owner reads
    the analysts' tier."""
    from tests.fixtures.pipeline import DAY1, DAY2, add_snapshot, fiw, source

    src = source(tmp_path_factory)
    parent = Path(tempfile.mkdtemp(prefix="fiwtest-run-", dir="/tmp"))
    try:
        os.chmod(parent, 0o711)
        exports, home = parent / "exports", parent / "home"
        exports.mkdir()
        add_snapshot(src, exports, DAY1)
        result = fiw("run", "--exports", str(exports), "--home", str(home), FIW_ANALYST_GROUP=GROUP)
        assert result.returncode == 0, result.stdout + result.stderr
        analysts = [home / "published.duckdb", home / "catalog" / "index.html"]
        release = [
            home / "release" / "outcome_metrics.csv",
            home / "release" / "caseload_monthly.csv",
        ]
        warehouse = [home / "warehouse.duckdb", home / "run.lock"]  # the key comes from the env
        warehouse += [next((home / "logs").iterdir()), home / "dagster" / "dagster.yaml"]
        for path in analysts + release + warehouse:
            assert path.exists(), path
        assert all(reads(ANALYST, p) for p in analysts + release)
        assert not any(reads(ANALYST, p) for p in warehouse)
        assert all(reads(OUTSIDER, p) for p in release)
        assert not any(reads(OUTSIDER, p) for p in analysts + warehouse)
        assert not lists(OUTSIDER, home) and not lists(ANALYST, home)

        add_snapshot(src, exports, DAY2)  # the next night, with the group unset
        result = fiw("run", "--exports", str(exports), "--home", str(home))
        assert result.returncode == 0, result.stdout + result.stderr
        assert not any(reads(ANALYST, p) for p in analysts)
        assert all(reads(OUTSIDER, p) for p in release)
    finally:
        shutil.rmtree(parent)
