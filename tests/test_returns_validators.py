"""fiw's verdicts on the public fake returns (tests/test_returns_external.py) against Data to
Insight's validators of the same files (``csc-validator-be-903`` and ``csc-validator-be-cin``).

The validators pin old pandas and numpy, so they live in an environment of their own, made by
tests/validators/setup.sh (``make validators``; idempotent) and run as a subprocess
(tests/validators/run_validators.py writes what they flag as JSON). Without that environment the
tests skip on a developer's machine and fail under CI.

What is compared, where it matters: fiw quarantines a record only for the contract's row rules;
each reason it gives corresponds to DfE rule codes (``CORRESPONDING``). For every file, the records
fiw quarantines for a reason are exactly the records the validators flag with its rules, so fiw
lets through nothing those rules catch and quarantines nothing they pass. Both read the same
number of records. The validators' many other rules (codes fiw passes on as sent, completeness,
rules across records and years) are reported side by side, not compared: a warehouse keeps such a
record and shows it; correcting it is the return's business (docs/returns.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from fiw.extract import load_new_snapshots

from tests.fixtures.extract_helpers import query, settings_for
from tests.test_returns_external import (
    AUTH_BEFORE_START,
    CEASED_REASON_ALONE,
    DAY,
    SNAPSHOTS,
    YEAR_903,
    reason_kind,
)

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent / "validators"
SETUP = HERE / "setup.sh"
RUNNER = HERE / "run_validators.py"

# fiw's quarantine reason (object, kind) -> the validators' table and the DfE rule codes that
# catch the same records. A reason fiw gives on these files and not listed here fails the test.
CORRESPONDING = {
    # 903 rule 148: "Date episode ceased and reason episode ceased must both be coded, or both
    # left blank." fiw's contract has the same present-together rule.
    ("ssd_cla_episodes", CEASED_REASON_ALONE): ("Episodes", {"148"}),
    # CIN rule 8608: "Assessment Start Date cannot be later than its End Date" (authorisation).
    ("ssd_cin_assessments", AUTH_BEFORE_START): ("Assessments", {"8608"}),
}
# The DfE rules that correspond to fiw's other row rules on the returns' objects (end before
# start, close date and reason together, not a date, codes, a duplicated child). fiw quarantines
# nothing for them in these files, so the validators must flag nothing under them either.
OTHER_CORRESPONDING = {
    "903": {"356", "141", "147", "102", "101", "103", "143", "145", "149", "INT32"},
    "cin": {"8630", "4011", "8925", "8805", "8810", "8650", "8866", "8640", "8905", "8910"}
    | {"8568", "8510"},
}
# The validators' table that holds the records of each SSD object fiw loads from the returns.
TABLES = {
    "903": {"ssd_person": "Header", "ssd_cla_episodes": "Episodes"},
    "cin": {
        "ssd_person": "ChildIdentifiers",
        "ssd_cin_episodes": "CINdetails",
        "ssd_cin_assessments": "Assessments",
        "ssd_cin_plans": "CINplanDates",
        "ssd_cp_plans": "ChildProtectionPlans",
    },
}


def kind_of(name: str) -> str:
    return "cin" if SNAPSHOTS[name][0][0].parent.name == "cin-census-fake" else "903"


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def validators_python() -> str:
    """The validators' environment's python, made by tests/validators/setup.sh if need be."""
    if shutil.which("bash") is None:
        cannot("bash is not installed")
    made = subprocess.run(
        ["bash", str(SETUP)], capture_output=True, text=True, timeout=900, check=False
    )
    if made.returncode != 0:
        cannot(f"tests/validators/setup.sh failed ({made.returncode}):\n{made.stderr[-3000:]}")
    return made.stdout.strip().splitlines()[-1]


def cannot(reason: str) -> None:
    reason = f"the DfE validators' environment cannot be made (make validators): {reason}"
    if under_ci():
        pytest.fail(f"{reason}\n(CI is set: the comparison with the DfE validators must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def validators(validators_python, tmp_path_factory) -> dict[str, dict]:
    """What the validators flag in each snapshot of tests/test_returns_external.py."""
    folder = tmp_path_factory.mktemp("validators")
    spec = {
        name: {
            "return": kind_of(name),
            "year": YEAR_903,
            "files": [str(path) for path, _ in files],
        }
        for name, files in SNAPSHOTS.items()
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    ran = subprocess.run(
        [validators_python, str(RUNNER), str(folder / "spec.json"), str(folder / "out.json")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads((folder / "out.json").read_text())


@pytest.fixture(scope="module")
def fiw(tmp_path_factory) -> dict[str, dict]:
    """Each snapshot loaded by fiw: rows per object and its quarantined records."""
    results = {}
    for name, files in SNAPSHOTS.items():
        tmp = tmp_path_factory.mktemp("fiw")
        for source, place in files:
            target = tmp / "exports" / DAY / place
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        settings = settings_for(tmp)
        (outcome,) = load_new_snapshots(settings).outcomes
        quarantined = query(settings, "select object, record_id, reasons from audit.quarantine")
        results[name] = {
            "status": outcome.status,
            "rows": {o: c.rows for o, c in outcome.objects.items() if c.rows},
            "quarantined": [
                (obj, record, reason_kind(reason))
                for obj, record, reasons in quarantined
                for reason in reasons.split("; ")
            ],
        }
    return results


def test_the_validators_run_from_their_own_environment(validators_python, validators):
    assert Path(validators_python).parent.parent != Path(sys.prefix)
    theirs = subprocess.run(
        [
            validators_python,
            "-c",
            "import numpy, pandas; print(pandas.__version__, numpy.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [int(v.split(".")[0]) for v in theirs] == [1, 1]  # pandas 1, numpy 1: not the project's
    pins = dict(
        line.split("==")
        for line in (HERE / "requirements.txt").read_text().splitlines()
        if "==" in line
    )
    assert validators["versions"] == pins
    assert set(validators["snapshots"]) == set(SNAPSHOTS)
    for name, result in validators["snapshots"].items():
        assert not result["failed_rules"], f"{name}: rules that raised {result['failed_rules']}"


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_fiw_and_the_validators_read_the_same_records(validators, fiw, name):
    theirs = validators["snapshots"][name]["rows"]
    for obj, rows in fiw[name]["rows"].items():
        assert theirs[TABLES[kind_of(name)][obj]] == rows, obj


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_fiw_quarantines_what_the_corresponding_rules_flag(validators, fiw, name):
    theirs = validators["snapshots"][name]
    ours = fiw[name]
    print(f"\n{name} ({theirs['ruleset']}): fiw {ours['status']}")
    for (obj, kind), (table, codes) in CORRESPONDING.items():
        quarantined = {record for o, record, k in ours["quarantined"] if (o, k) == (obj, kind)}
        flagged = {
            f["id"] for f in theirs["flagged"] if f["table"] == table and codes & set(f["codes"])
        }
        if quarantined or flagged:
            print(f"  {len(quarantined):5d} fiw {obj}: {kind}")
            print(f"  {len(flagged):5d} DfE {'/'.join(sorted(codes))} on {table}")
        assert quarantined - flagged == set(), f"{obj}: quarantined by fiw only ({kind})"
        assert flagged - quarantined == set(), f"{table}: flagged by {codes} only"
    assert not OTHER_CORRESPONDING[kind_of(name)] & set(theirs["rules"])
    unexplained = Counter((o, k) for o, _, k in ours["quarantined"] if (o, k) not in CORRESPONDING)
    assert not unexplained, f"fiw reasons with no corresponding DfE rule: {unexplained}"


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_validators_flag_more_than_fiw_quarantines(validators, fiw, name):
    """The side-by-side counts (``pytest -s``): records each rule flags, per table fiw loads."""
    theirs = validators["snapshots"][name]
    loaded = set(TABLES[kind_of(name)].values())
    in_loaded = Counter()
    for f in theirs["flagged"]:
        if f["table"] in loaded:
            in_loaded[f["table"]] += 1
    print(f"\n{name}: records flagged by the validators, by table (of those fiw loads)")
    for table in sorted(loaded & set(theirs["rows"])):
        print(f"  {in_loaded[table]:5d} of {theirs['rows'][table]:5d} {table}")
    print(f"  rules broken: {len(theirs['rules'])}; return-level: {theirs['return_level']}")
    quarantined = {record for _, record, _ in fiw[name]["quarantined"]}
    assert len(quarantined) <= sum(in_loaded.values())
