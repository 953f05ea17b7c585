"""What every command module of the CLI shares: the App object on the click context (the
consoles, the common options, the session it hands the library), error handling, the
common options, and the one way a command finishes."""

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import click
from rich.console import Console
from rich.text import Text

from dlgr_ansible import validate
from dlgr_ansible.deploy import Resolver, resolve_name
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.hosts import HostsStore, Server, ServerChoiceNeeded
from dlgr_ansible.images import ImageLookup, locally_available
from dlgr_ansible.progress import print_summary, run_with_progress
from dlgr_ansible.reports import LogsRead, Report
from dlgr_ansible.runner import PlaybookRun, RunOutcome
from dlgr_ansible.session import Session


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
    """The CLI's state for one invocation. The common options (-v, --json,
    --keep-artifacts) land here through their callbacks; unit tests hand in an App with
    fake `resolve` and `local_images` (CliRunner.invoke(obj=...))."""

    out: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    verbosity: int = 0
    as_json: bool = False
    keep_artifacts: bool = False
    resolve: Resolver = resolve_name
    local_images: ImageLookup = locally_available

    def session(self) -> Session:
        return Session(
            execute=self.execute,
            verbosity=self.verbosity,
            keep_artifacts=self.keep_artifacts,
            choose_server=self.choose_server,
            resolve=self.resolve,
            local_images=self.local_images,
            log=self.err_line,
            warn=self.warn,
        )

    def choose_server(self, store: HostsStore, name: str | None) -> Server:
        """--server, or the only saved server, or a choice at a terminal."""
        try:
            return store.resolve(name)
        except ServerChoiceNeeded as exc:
            if not sys.stdin.isatty():
                raise
            for number, choice in enumerate(exc.choices, start=1):
                self.err.print(f"  {number}) {choice}")
            picked = click.prompt(
                "Server number", type=click.IntRange(1, len(exc.choices)), err=True
            )
            return store.resolve(exc.choices[picked - 1])

    def err_line(self, text: str) -> None:
        """A line of someone else's output (Dallinger's), shown as it is."""
        self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def warn(self, text: str) -> None:
        self.err.print(Text(f"Warning: {text}", style="yellow"), soft_wrap=True)

    def say(self, text: str) -> None:
        """One of our messages, on stderr; soft-wrapped so paths survive copy and paste."""
        self.err.print(text, soft_wrap=True)

    def execute(self, run: PlaybookRun, title: str) -> RunOutcome:
        """Run a playbook with progress on stderr."""
        return run_with_progress(run, title, self.err)

    def finish(
        self, report: Report | LogsRead, summary: bool = True, notes: Sequence[str] = ()
    ) -> bool:
        """--json: the report's document on stdout. Otherwise the run's summary on stderr
        (with `summary=False`, only for a failure: the caller then prints a table), then
        `notes`, which are said even when the run failed. Exit code 1 unless the run
        succeeded; True when the caller goes on to print its text."""
        outcome, run = report.ran.outcome, report.ran.run
        if self.as_json:
            click.echo(json.dumps(report.to_json(), indent=2))
        elif summary or not outcome.ok:
            print_summary(outcome, run, self.err)
        elif outcome.artifacts_dir:
            self.err.print(f"Ansible artifacts kept in {outcome.artifacts_dir}")
        if not self.as_json:
            for note in notes:
                self.say(note)
        if not outcome.ok:
            raise click.exceptions.Exit(1)
        return not self.as_json


pass_app = click.make_pass_decorator(App, ensure=True)


def _on_app(attribute: str):
    """An option callback that stores the value on the App instead of passing it on."""

    def store(ctx: click.Context, param: click.Parameter, value):
        setattr(ctx.ensure_object(App), attribute, value)
        return value

    return store


def options(*decorators):
    """Apply several click options as one decorator, in the order given (as listed in --help)."""

    def apply(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def verbose_option(help_text: str = "Show Ansible's output (-vvv for SSH details)."):
    return click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_on_app("verbosity"),
        help=help_text,
    )


json_option = click.option(
    "--json",
    is_flag=True,
    expose_value=False,
    callback=_on_app("as_json"),
    help="Print only a JSON document with the results on stdout.",
)
keep_artifacts_option = click.option(
    "--keep-artifacts",
    is_flag=True,
    expose_value=False,
    callback=_on_app("keep_artifacts"),
    help="Keep ansible-runner's private data dir for debugging.",
)
# Options shared by every command that runs a playbook.
playbook_options = options(verbose_option(), json_option, keep_artifacts_option)


def not_empty(ctx: click.Context, param: click.Parameter, value):
    """An option given as "" (an unset shell variable, say) is refused: leaving it out
    means something else (one made up, a saved one, the config's)."""
    if value is not None and not str(value).strip():
        raise click.BadParameter("is empty; give a value or leave the option out.")
    return value


server_option = click.option(
    "--server",
    callback=not_empty,
    help="Saved server to use; may be omitted when only one is saved.",
)


def _each_not_empty(ctx: click.Context, param: click.Parameter, value):
    for each in value:
        not_empty(ctx, param, each)
    return value


# A read-only view of several servers at once, in one run (dlgr_ansible.fleet).
fleet_options = options(
    click.option(
        "--server",
        "servers",
        multiple=True,
        callback=_each_not_empty,
        help="Saved server to use; repeat it for several (one run, in parallel). May be "
        "omitted when only one is saved.",
    ),
    click.option("--all", "every", is_flag=True, help="Every saved server, in one run."),
)
app_option = click.option(
    "--app",
    "app_name",
    callback=not_empty,
    help="App name (a DNS label, e.g. 'stroop-pilot').",
)
docker_source_option = click.option(
    "--docker-source",
    type=click.Choice(validate.DOCKER_SOURCES),
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


def on_terminal() -> bool:
    """Whether a remote command can get a terminal (Ctrl-C then reaches it)."""
    return sys.stdin.isatty() and sys.stdout.isatty()
