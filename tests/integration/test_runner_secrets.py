"""Variables (extra vars, and a host's own in host_vars) reach the server but never the
private data dir, env/ or the artifacts."""

import tempfile
from pathlib import Path

import pytest

from dlgr_ansible.hosts import Server
from dlgr_ansible.runner import PlaybookRun, run_playbook
from tests.testbed import targets

pytestmark = pytest.mark.integration

SECRET = "pr0be-S3cret-'\"$(id)`;\nline2"
HOST_SECRET = "h0st-S3cret-'\"$(id)`"
TEST_PLAYBOOKS = Path(__file__).parent.parent / "playbooks"


def _run(target, ssh_key, tmp_path, keep):
    server = Server(target.address, "dallinger")
    return run_playbook(
        PlaybookRun(
            playbook="secret_probe.yml",
            servers={server.host: server},
            key_file=ssh_key,
            limit=server.host,
            variables={"probe_secret": SECRET},
            host_variables={server.host: {"probe_host_secret": HOST_SECRET}},
            keep_artifacts=keep,
            known_hosts=tmp_path / "known_hosts",
            playbook_dir=TEST_PLAYBOOKS,
        )
    )


def _files_containing(root, needle: str):
    found = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            found.append(path)
    return found


def test_secret_arrives_but_no_artifact_holds_it(target, ssh_key, tmp_path, monkeypatch):
    monkeypatch.setenv("DLGR_PROBE_ENV_SECRET", SECRET)  # a secret in the caller's environment
    outcome = _run(target, ssh_key, tmp_path, keep=True)
    assert outcome.ok, outcome.explanations
    delivered = targets.exec_in(target, "cat", "/home/dallinger/probe-secret")
    assert delivered.stdout == SECRET
    delivered = targets.exec_in(target, "cat", "/home/dallinger/probe-host-secret")
    assert delivered.stdout == HOST_SECRET

    private_dir = outcome.artifacts_dir
    assert private_dir.stat().st_mode & 0o777 == 0o700
    assert list(private_dir.glob("env/*")) == []
    assert (private_dir / "artifacts").is_dir()
    assert list(private_dir.glob("artifacts/*/job_events/*.json"))  # events were kept
    assert not (private_dir / "inventory" / "host_vars").exists()
    for part in ("pr0be-S3cret", "line2", "h0st-S3cret"):
        assert _files_containing(private_dir, part) == []


def test_private_data_dir_removed_by_default(target, ssh_key, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    outcome = _run(target, ssh_key, tmp_path, keep=False)
    assert outcome.ok
    assert outcome.artifacts_dir is None
    assert list(scratch.iterdir()) == []
