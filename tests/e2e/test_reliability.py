"""The reliability suite's seeded subset (tests/testbed/reliability.py): each command
killed at a random moment (Ctrl-C or SIGKILL, in turn) converges on one plain re-run;
PostgreSQL stopped, the SSH connection cut, a site Caddy rejects and a full disk each end
in success or a message naming the cause, and one re-run repairs them; participants under
load on one app and on three at once get no failed request.

`python -m benchmarks.reliability` runs the full counts (10 rounds, 50 participants per
app for 60 s) and prints them in one table. DLGR_RELIABILITY_SEED replays a run.
"""

import os
import random
import sys

import pytest

from tests.testbed import experiment_image, service_images
from tests.testbed.reliability import (
    UPDATED,
    Load,
    Suite,
    converged,
    run_faults,
    started_bed,
)

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

SEED = int(os.environ.get("DLGR_RELIABILITY_SEED", "2026"))
ROUNDS = 1  # each command killed once; the signals alternate between commands
DB_CONNECTION_LIMIT = 40  # dallinger_app_db_connection_limit's default


@pytest.fixture(scope="module")
def bed(testbed, tmp_path_factory):
    service_images.build_service_images()
    images = experiment_image.build_experiment_images()
    with started_bed(tmp_path_factory.mktemp("rl"), images, "dlgr-e2e-reliability", ROUNDS) as bed:
        yield bed


@pytest.fixture(scope="module")
def suite(bed):
    """The updated app, with participants and a data file, and each command's time."""
    suite = Suite(bed, SEED)
    suite.calibrate()
    return suite


def test_runs_killed_at_random_moments_converge_on_one_rerun(suite):
    rounds = suite.run(ROUNDS)
    print(f"seed {SEED}: converged {converged(rounds)}", file=sys.stderr)
    assert [(r.command, r.signal, r.after, r.problem) for r in rounds if r.problem] == []
    assert any(r.interrupted for r in rounds), "every run ended before its kill moment"


def test_dependency_faults_are_named_and_one_rerun_repairs_them(suite):
    faults = run_faults(suite.bed, suite.durations, random.Random(SEED))  # noqa: S311
    for fault in faults:
        print(f"{fault.name}: {fault.problem or 'handled'} ({fault.outcome})", file=sys.stderr)
    assert [(f.name, f.problem) for f in faults if f.problem] == []


@pytest.mark.parametrize("count", [1, 3])
def test_participants_under_load_get_no_failed_request(bed, count):
    apps = (UPDATED, *(f"rl-load-{n}" for n in range(1, count)))
    for app in apps:
        if not bed.serves(app):
            rc, report, err = bed.cli("deploy", "--app", app, "--dns-host", bed.domain,
                                      "--image", bed.images[0])  # fmt: skip
            assert rc == 0, (report.get("errors"), err)
    load = Load(bed, apps, clients=10, seconds=15).run()
    print(load.summary(), file=sys.stderr)
    assert load.failures == [], load.failures[:10]
    assert load.made >= 10 * count, "too few participants were made"
    assert load.peak, "PostgreSQL's connections were never sampled"
    assert all(peak <= DB_CONNECTION_LIMIT for peak in load.peak.values()), load.peak
