"""The checks on a zip given to `deploy --archive`, on zips made here."""

import zipfile

import pytest

from dlgr_ansible import seed_archive
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.export import TABLES


def make_zip(path, members=None, skip=(), experiment="exp1"):
    with zipfile.ZipFile(path, "w") as archive:
        if experiment is not None:
            archive.writestr("experiment_id.md", experiment)
        for table in TABLES:
            if table not in skip:
                archive.writestr(f"data/{table}.csv", "id,creation_time,details\n1,2026,{}\n")
        for name, text in (members or {}).items():
            archive.writestr(name, text)
    return path


def test_an_export_gives_its_experiment_id(tmp_path):
    assert seed_archive.experiment_id(make_zip(tmp_path / "a.zip", experiment="exp1\n")) == "exp1"


def test_an_experiments_own_columns_may_be_mixed_case_or_not_ascii(tmp_path):
    path = make_zip(
        tmp_path / "a.zip", skip=["node"], members={"data/node.csv": "id,myScore,größe\n"}
    )
    assert seed_archive.experiment_id(path) == "exp1"


def test_an_empty_table_with_its_header_is_fine(tmp_path):
    path = make_zip(tmp_path / "a.zip", skip=["question"], members={"data/question.csv": "id,x\n"})
    assert seed_archive.experiment_id(path) == "exp1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"skip": ["participant"]}, "lacks data/participant.csv"),
        ({"experiment": None}, "lacks experiment_id.md"),
        (
            {"skip": ["node"], "members": {"data/node.csv": "1,2026-01-01,x\n"}},
            "data/node.csv in .* does not start with a header row",
        ),
        (
            {"skip": ["node"], "members": {"data/node.csv": ""}},
            "does not start with a header row",
        ),
        (
            {"skip": ["node"], "members": {"data/node.csv": "id,id\n"}},
            "does not start with a header row",
        ),
        ({"members": {"../../etc/cron.d/x": "id\n"}}, "'../../etc/cron.d/x', a path outside"),
        ({"members": {"/etc/passwd": ""}}, "a path outside"),
        ({"members": {"data\\..\\..\\x": ""}}, "a path outside"),
    ],
)
def test_what_is_not_an_export_is_refused_with_the_reason(tmp_path, kwargs, message):
    with pytest.raises(DlgrError, match=message):
        seed_archive.experiment_id(make_zip(tmp_path / "a.zip", **kwargs))


@pytest.mark.parametrize("content", [b"not a zip", b"", b"PK\x03\x04broken"])
def test_a_file_that_is_not_a_zip_is_refused(tmp_path, content):
    path = tmp_path / "a.zip"
    path.write_bytes(content)
    with pytest.raises(DlgrError, match="not a readable zip file"):
        seed_archive.experiment_id(path)


def test_a_zip_damaged_inside_is_refused(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("experiment_id.md", "exp1")
        for table in TABLES:
            archive.writestr(f"data/{table}.csv", "id,details\n" + "1,some text\n" * 500)
    data = bytearray(path.read_bytes())
    at = data.index(b"data/vector.csv") + 40  # inside the last member's compressed data
    data[at : at + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(DlgrError, match=r"damaged|not a readable zip"):
        seed_archive.experiment_id(path)
