"""Run one playbook through ansible-runner without leaving secrets on disk.

ansible-runner by default dumps extravars to env/extravars, or with
suppress_env_files puts them on the command line, which it records in
artifacts/<ident>/command together with the whole environment. Instead, every
variable goes into one 0600 file in a fresh 0700 private data dir, handed to
Ansible as `-e @file` (variables that differ per server go into 0600 files of the
inventory's host_vars directory, where Ansible looks for them); these files are deleted
after the run, the recorded environment is scrubbed, and the whole dir is removed unless
the caller keeps it.
A run killed outright (SIGKILL, a closed laptop's lost session) cannot clean up: its dir,
with the variables file and the saved images, is removed by the next run
(dlgr_ansible.abandoned).
"""

import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

from dlgr_ansible import abandoned, diagnose, presave
from dlgr_ansible.connections import own_connections
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.events import RunState
from dlgr_ansible.hosts import Server
from dlgr_ansible.inventory import default_known_hosts, inventory_name, render_inventory
from dlgr_ansible.resources import playbooks_dir, roles_dir

EventCallback = Callable[[dict, RunState], None]

PRIVATE_PREFIX = "dlgr-ansible-"
FORKS = 20
# The extra var naming the file a run's deferred variables arrive in (deploy.yml), and
# the suffix of the file that says they will not.
DEFERRED_VARIABLE = "dlgr_deferred_vars"
FAILED_SUFFIX = ".failed"


@dataclass(frozen=True)
class Deferred:
    """What work done here during a run hands the playbook: `variables`, which it loads
    where it waits for them (deploy.yml: `dlgr_deferred_vars`, a 0600 file in the private
    data dir), and images to save for it as `presave` does."""

    variables: dict
    presave: tuple[str, ...] = ()


@dataclass
class PlaybookRun:
    playbook: str
    servers: dict[str, Server]
    key_file: Path
    limit: str | None = None
    variables: dict = field(default_factory=dict)
    # Per saved server: its own values, when one run works on several servers.
    host_variables: dict[str, dict] = field(default_factory=dict)
    verbosity: int = 0
    keep_artifacts: bool = False
    known_hosts: Path | None = None
    playbook_dir: Path | None = None  # defaults to the shipped playbooks
    # Images sent from this machine, saved in the background while the playbook starts
    # (dlgr_ansible.presave).
    presave: tuple[str, ...] = ()
    # Work done here while the playbook starts (a build of the image it deploys), which
    # hands back variables the playbook waits for (see Deferred).
    deferred: Callable[[], Deferred] | None = None


@dataclass
class RunOutcome:
    state: RunState
    status: str
    rc: int
    artifacts_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0 and self.state.succeeded()

    def explanations(self, run: PlaybookRun) -> list[str]:
        if self.status == "canceled":
            return ["Interrupted. Running the same command again finishes the job."]
        messages = []
        listed = {inventory_name(name): server for name, server in run.servers.items()}
        for failure in self.state.final_failures():
            server = listed.get(failure.host)
            messages.append(diagnose.explain(failure, server, str(run.key_file)))
        if not messages and not self.ok:
            messages.append(
                f"Ansible stopped with status {self.status} (exit code {self.rc}). "
                "Run again with -vvv to see Ansible's own output."
            )
        return messages


def run_playbook(run: PlaybookRun, on_event: EventCallback | None = None) -> RunOutcome:
    project_dir = run.playbook_dir or playbooks_dir()
    playbook = project_dir / run.playbook
    if not playbook.is_file():
        raise DlgrError(f"Playbook {playbook} is missing; reinstall dlgr-ansible.")
    known_hosts = run.known_hosts or default_known_hosts()
    known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    abandoned.remove(Path(tempfile.gettempdir()), PRIVATE_PREFIX)
    private_dir = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX))  # mode 0700
    abandoned.mark(private_dir)
    state = RunState(playbook=run.playbook, progress_file=private_dir / "progress.json")
    vars_file = private_dir / "vars.json"
    deferred_file = private_dir / "deferred.json"
    try:
        inventory = private_dir / "inventory" / "hosts.yml"
        inventory.parent.mkdir(mode=0o700)
        inventory.write_text(render_inventory(run.servers, run.key_file, known_hosts))
        host_vars = inventory.parent / "host_vars"
        if run.host_variables:
            host_vars.mkdir(mode=0o700)
        for name, values in run.host_variables.items():
            _write_private_json(host_vars / f"{inventory_name(name)}.json", values)
        variables = dict(run.variables)
        variables["docker_images_progress_file"] = str(state.progress_file)
        saved_dir = private_dir / "saved"
        if run.presave or run.deferred:
            saved_dir.mkdir(mode=0o700)
            variables["docker_images_saved_dir"] = str(saved_dir)
        if run.deferred:
            variables[DEFERRED_VARIABLE] = str(deferred_file)
        _write_private_json(vars_file, variables)

        def handle(event: dict) -> bool:
            state.handle(event)
            if on_event is not None:
                on_event(event, state)
            return run.keep_artifacts  # whether ansible-runner writes it to job_events/

        with own_connections() as control_dir:
            abandoned.note_connections(private_dir, control_dir)
            arguments = {
                "private_data_dir": str(private_dir),
                "project_dir": str(project_dir),
                "playbook": run.playbook,
                "inventory": str(inventory),
                "cmdline": f"-e @{shlex.quote(str(vars_file))}",
                "limit": run.limit,
                "verbosity": run.verbosity or None,
                "envvars": _environment(private_dir, control_dir),
                "suppress_env_files": True,
                "quiet": True,
                "event_handler": handle,
            }
            if run.deferred:
                result = _run_beside(run.deferred, arguments, deferred_file, saved_dir)
            else:
                with presave.saving(list(run.presave), saved_dir):
                    result = ansible_runner.run(**arguments)
        return RunOutcome(
            state=state,
            status=result.status,
            rc=result.rc,
            artifacts_dir=private_dir if run.keep_artifacts else None,
        )
    finally:
        vars_file.unlink(missing_ok=True)
        for deferred in (deferred_file, deferred_file.with_name(deferred_file.name + ".part")):
            deferred.unlink(missing_ok=True)
        shutil.rmtree(private_dir / "inventory" / "host_vars", ignore_errors=True)
        if run.keep_artifacts:
            _scrub_recorded_environment(private_dir)
            # What was kept is for reading: the saved images (hundreds of MB) are not.
            for scratch in ("saved", "tmp"):
                shutil.rmtree(private_dir / scratch, ignore_errors=True)
            abandoned.unmark(private_dir)
        else:
            with contextlib.suppress(OSError):  # what is left goes with the next run
                abandoned.remove_dir(private_dir)


def _run_beside(
    work: Callable[[], Deferred], arguments: dict, deferred_file: Path, saved_dir: Path
):
    """The playbook in ansible-runner's thread while `work` runs here. What it hands back
    goes into `deferred_file`; when it fails (or is interrupted), an empty
    `<deferred_file>.failed` tells the playbook to stop where it waits, and its error is
    raised here once the playbook has ended."""
    thread, runner = ansible_runner.run_async(**arguments)
    try:
        done = work()
        # Whole or not at all: the playbook reads it as soon as it is there.
        part = deferred_file.with_name(deferred_file.name + ".part")
        _write_private_json(part, done.variables)
        part.replace(deferred_file)
    except BaseException:
        deferred_file.with_name(deferred_file.name + FAILED_SUFFIX).touch()
        thread.join()
        raise
    with presave.saving(list(done.presave), saved_dir):
        thread.join()
    return runner


def _environment(private_dir: Path, control_dir: Path) -> dict[str, str]:
    # The ansible-playbook next to this Python, even when its venv is not activated.
    bin_dir = str(Path(sys.executable).parent)
    # Temporary files of tasks run on this machine (image exports) go into the private
    # data dir, so they go with it even when a run is interrupted.
    scratch = private_dir / "tmp"
    scratch.mkdir(mode=0o700, exist_ok=True)
    return {
        "TMPDIR": str(scratch),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_ROLES_PATH": str(roles_dir()),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        # One SSH round trip per task instead of four (upload, chmod, run, clean-up).
        "ANSIBLE_PIPELINING": "True",
        # SSH connections of this run's own (dlgr_ansible.connections).
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        # Servers in parallel (dlgr_ansible.fleet): Ansible's default of 5 would queue a
        # lab's sixth server behind the first five.
        "ANSIBLE_FORKS": str(FORKS),
        # The plugin that reads inventory/host_vars (PlaybookRun.host_variables), whatever
        # the user's own ansible.cfg enables.
        "ANSIBLE_VARS_ENABLED": "host_group_vars",
    }


def _write_private_json(path: Path, data: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def _scrub_recorded_environment(private_dir: Path) -> None:
    """ansible-runner records the caller's whole environment; keep only the names."""
    for command_file in private_dir.glob("artifacts/*/command"):
        try:
            recorded = json.loads(command_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            command_file.unlink(missing_ok=True)
            continue
        recorded["env"] = dict.fromkeys(recorded.get("env") or {}, "<not recorded>")
        command_file.write_text(json.dumps(recorded), encoding="utf-8")
