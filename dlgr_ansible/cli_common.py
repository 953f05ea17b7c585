"""What every command module shares: the App object, error handling and common options."""

import functools
import json
import sys
from dataclasses import dataclass, field

import click
from rich.console import Console

from dlgr_ansible.config import Config, load_config
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.hosts import HostsStore, Server, ServerChoiceNeeded
from dlgr_ansible.progress import print_summary, run_with_progress
from dlgr_ansible.runner import PlaybookRun, RunOutcome
from dlgr_ansible.validate import DOCKER_SOURCES


class Root(click.Group):
    """Turns the library's DlgrError into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DlgrError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # a file we were told to read or write
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from exc


@dataclass
class App:
    out: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))

    def store(self) -> HostsStore:
        return HostsStore.default()

    def config(self, overrides=()) -> Config:
        return load_config(overrides=overrides)

    def server(self, name: str | None) -> Server:
        """--server, or the only saved server, or a choice at a terminal."""
        try:
            return self.store().resolve(name)
        except ServerChoiceNeeded as exc:
            if not sys.stdin.isatty():
                raise
            for number, choice in enumerate(exc.choices, start=1):
                self.err.print(f"  {number}) {choice}")
            picked = click.prompt(
                "Server number", type=click.IntRange(1, len(exc.choices)), err=True
            )
            return self.store().resolve(exc.choices[picked - 1])

    def err_line(self, text: str) -> None:
        """A line of someone else's output (Dallinger's), shown as it is."""
        self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def execute(self, run: PlaybookRun, title: str) -> RunOutcome:
        """Run a playbook with progress on stderr."""
        return run_with_progress(run, title, self.err)

    def report(self, outcome: RunOutcome, run: PlaybookRun, as_json: bool, results=None) -> None:
        """The summary (or the JSON document); exit code 1 unless the run succeeded."""
        if as_json:
            click.echo(json.dumps(json_report(outcome, run, results), indent=2))
        else:
            print_summary(outcome, run, self.err)
        if not outcome.ok:
            raise click.exceptions.Exit(1)


def json_report(outcome: RunOutcome, run: PlaybookRun, results: dict | None = None) -> dict:
    report = {
        "hosts": outcome.state.stats(),
        "ok": outcome.ok,
        "status": outcome.status,
        "elapsed": round(outcome.state.elapsed(), 3),
        "errors": [] if outcome.ok else outcome.explanations(run),
    }
    if outcome.artifacts_dir:
        report["artifacts"] = str(outcome.artifacts_dir)
    report.update(outcome.state.results)
    report.update(results or {})
    return report


pass_app = click.make_pass_decorator(App, ensure=True)


def playbook_options(command):
    """Options shared by every command that runs a playbook."""

    @click.option(
        "-v",
        "--verbose",
        "verbosity",
        count=True,
        help="Show Ansible's output (-vvv for SSH details).",
    )
    @click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print only a JSON document with the results on stdout.",
    )
    @click.option(
        "--keep-artifacts",
        is_flag=True,
        help="Keep ansible-runner's private data dir for debugging.",
    )
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        return command(*args, **kwargs)

    return wrapper


server_option = click.option(
    "--server", help="Saved server to use; may be omitted when only one is saved."
)
app_option = click.option("--app", "app_name", help="App name (a DNS label, e.g. 'stroop-pilot').")
docker_source_option = click.option(
    "--docker-source",
    type=click.Choice(DOCKER_SOURCES),
    help="Install Docker from Docker's repository (default) or the distribution's packages.",
)
config_option = click.option(
    "-c",
    "--config",
    "config_pairs",
    nargs=2,
    multiple=True,
    metavar="KEY VALUE",
    help="Set a config key for the app (repeatable).",
)
