"""Run the installed `dlgr-ansible` as a researcher would: a real process, its own HOME."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dlgr_ansible import server_settings

BIN_DIR = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
DALLINGER = Path(os.environ.get("DLGR_TEST_DALLINGER", REPO / ".venv-dallinger/bin/dallinger"))


@dataclass
class Researcher:
    home: Path
    tmp: Path
    env: dict

    def run(
        self, *args: str, timeout: int = 300, cwd: Path | None = None, bin_dir: Path = BIN_DIR
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(bin_dir / "dlgr-ansible"), *args],
            env=self.env,
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_json(self, *args: str, **options) -> tuple[subprocess.CompletedProcess, dict]:
        result = self.run(*args, "--json", **options)
        # An error before any playbook ran prints no document, only the message.
        assert result.stdout.lstrip().startswith("{"), result.stdout + result.stderr[-3000:]
        return result, json.loads(result.stdout)

    def use_key(self, key: Path) -> None:
        self.configure(server_pem=str(key))

    def configure(self, **settings: str) -> None:
        """Set keys, keeping the others: Dallinger's in ~/.dallingerconfig, server settings
        (defaults for every server) in this tool's own config file, as the README says."""
        ours = {key: value for key, value in settings.items() if key in server_settings.KEYS}
        theirs = {key: value for key, value in settings.items() if key not in ours}
        for path, values in ((self.home / ".dallingerconfig", theirs), (self.own_config(), ours)):
            if not values:
                continue
            lines = path.read_text().splitlines()[1:] if path.exists() else []
            values = dict(line.split(" = ", 1) for line in lines if " = " in line) | values
            body = "".join(f"{key} = {value}\n" for key, value in values.items())
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("[Parameters]\n" + body)

    def configured(self, key: str) -> str | None:
        """A key's value in ~/.dallingerconfig."""
        for line in (self.home / ".dallingerconfig").read_text().splitlines():
            if line.startswith(f"{key} = "):
                return line.split(" = ", 1)[1]
        return None

    def own_config(self) -> Path:
        return self.home / server_settings.OWN_CONFIG

    def dallinger(self, *args: str) -> subprocess.CompletedProcess:
        """Dallinger's own CLI, same HOME: proof that both tools share one store."""
        assert DALLINGER.is_file(), f"{DALLINGER} is missing; run `make deps`"
        return subprocess.run(
            [str(DALLINGER), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def hosts_dir(self) -> Path:
        return self.home / ".dallinger" / "docker-ssh" / "hosts"


def new_researcher(root: Path, ssh_key: Path, **settings: str) -> Researcher:
    """A researcher with a fresh HOME and TMPDIR under `root` and `settings` configured."""
    home, tmp = root / "home", root / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ANSIBLE_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp), PATH=f"{BIN_DIR}{os.pathsep}{env['PATH']}")
    person = Researcher(home=home, tmp=tmp, env=env)
    # Docker's own apt repository is unreachable here: targets get Debian's packages.
    person.configure(server_pem=str(ssh_key), docker_engine_source="distribution", **settings)
    return person


@pytest.fixture
def researcher(tmp_path_factory, ssh_key) -> Researcher:
    # A short HOME, as a real one is: SSH's control sockets live under it and a socket's
    # path has at most 107 bytes (tmp_path is long: the test's name, xdist's worker).
    return new_researcher(tmp_path_factory.mktemp("r"), ssh_key)


def assert_clean_failure(result: subprocess.CompletedProcess, *phrases: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    for phrase in phrases:
        assert phrase in output, output
