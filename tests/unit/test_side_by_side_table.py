"""The side-by-side benchmark's figures: medians, the table, phases, container changes."""

from benchmarks.side_by_side import (
    Run,
    container_changes,
    format_changes,
    format_phases,
    format_table,
    median,
)


def test_median_of_odd_and_even_counts():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5


def test_table_has_ratio_ours_over_dallingers():
    table = format_table([("fresh", [20.0], [30.0]), ("nothing", [40.0, 44.0, 42.0], [21.0] * 3)])
    lines = table.splitlines()
    assert lines[0] == "| step | Dallinger 12.4 docker-ssh | dlgr-ansible | ratio |"
    assert lines[2] == "| fresh | 20.0 s | 30.0 s | 1.50 |"
    assert lines[3] == "| nothing | 42.0 s (40.0-44.0) | 21.0 s (21.0-21.0) | 0.50 |"


def test_phases_as_seconds_and_shares_of_the_wall_time():
    runs = [
        Run(10.0, [{"name": "build", "seconds": 4.0}, {"name": "app", "seconds": 5.0}]),
        Run(12.0, [{"name": "build", "seconds": 6.0}, {"name": "app", "seconds": 5.0}]),
    ]
    assert format_phases("fresh", runs) == (
        "fresh (11.0 s): build 5.0 s (45%), app 5.0 s (45%), other 1.0 s (9%)"
    )


def test_phases_absent_are_said_so():
    assert format_phases("fresh", [Run(10.0)]) == "fresh: phases: not reported by this version"


def test_recreated_and_restarted_containers():
    before = {"/a": ("1", "t0"), "/b": ("2", "t0"), "/c": ("3", "t0")}
    after = {"/a": ("1", "t0"), "/b": ("9", "t1"), "/c": ("3", "t1"), "/d": ("4", "t1")}
    assert container_changes(before, after) == (["/b", "/d"], ["/c"])
    assert container_changes(before, before) == ([], [])


def test_changes_summary():
    assert format_changes("ours", [Run(1.0)]) == (
        "ours: no container recreated or restarted (1 run(s))"
    )
    run = Run(1.0, recreated=["/x-web-1"])
    assert "recreated /x-web-1; restarted none" in format_changes("ours", [run])
