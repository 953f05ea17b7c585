"""The app role's test of compose's progress lines for a change
(dallinger_app_compose_change_pattern, used where roles/dallinger_app/tasks/up.yml starts
the containers), against lines written here as compose v2 and v5 print them without a
terminal: pure, no compose."""

import re
from pathlib import Path

import pytest
import yaml

VARS = Path(__file__).resolve().parents[2] / "roles" / "dallinger_app" / "vars" / "main.yml"
PATTERN = yaml.safe_load(VARS.read_text())["dallinger_app_compose_change_pattern"]


def changed(lines: list[str]) -> bool:
    """As the task's changed_when: map('trim') | select('search', pattern)."""
    return any(re.search(PATTERN, line.strip()) for line in lines)


# Compose v2 (up to 2.40): the state last, after two spaces. v5: after one, then a space.
CHANGES = [
    " Container lab-web-1  Started",
    " Container lab-web-1  Recreated",
    " Container lab-web-1  Created",
    " Network lab_app  Created",
    ' Volume "lab_redis_data"  Created',
    " Container lab-old-1  Removed",
    " Container lab-web-1 Started ",
    " Container lab-web-1 Recreated ",
    " Network lab_app Created ",
]
NO_CHANGES = [
    " Container lab-redis-1  Running",
    " Container lab-redis-1  Waiting",
    " Container lab-redis-1  Healthy",
    " Container lab-web-1  Recreate",
    " Container lab-web-1  Starting",
    " Container lab-redis-1 Running ",
    " Container lab-redis-1 Healthy ",
    "Warning: Permanently added '127.0.0.1' (ED25519) to the list of known hosts.",
    "",
]


@pytest.mark.parametrize("line", CHANGES)
def test_a_line_that_ends_in_a_change_counts(line):
    assert changed([*NO_CHANGES, line])


def test_an_up_that_left_everything_running_changed_nothing():
    assert not changed(NO_CHANGES)
