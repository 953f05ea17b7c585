"""Reading what releases.yml hands back (pure: no server)."""

from dlgr_ansible.releases import parse_releases

RELEASE = (
    '{"id": "20261202T040000Z", "time": "2026-12-02T04:00:00Z", "image": "lab/exp:1", '
    '"image_id": "sha256:abc", "digests": ["lab/exp@sha256:def"], "note": ""}'
)


def test_each_line_becomes_a_row_and_the_running_one_is_marked():
    rows = parse_releases([f"false {RELEASE}", f"true {RELEASE.replace('exp:1', 'exp:2')}"])
    assert [row["image"] for row in rows] == ["lab/exp:1", "lab/exp:2"]
    assert [row["current"] for row in rows] == [False, True]
    assert rows[0]["digests"] == ["lab/exp@sha256:def"]
    assert set(rows[0]) == {"id", "time", "image", "image_id", "digests", "note", "current"}


def test_a_damaged_release_file_is_a_row_that_says_so():
    (row,) = parse_releases(["false {not json"])
    assert row["note"].startswith("unreadable release.json")
    assert (row["image"], row["digests"], row["current"]) == ("", [], False)
    (row,) = parse_releases(['true ["a list"]'])
    assert row["note"] == "unreadable release.json"
    assert row["current"] is True
