"""Show a playbook run as it happens, and sum it up afterwards.

On a terminal: a live panel with the play, the task, counts per host and the time.
Elsewhere (CI logs, pipes): one line per task that ran. With -v: Ansible's own output.
Everything here goes to stderr, so `--json` keeps stdout for the JSON document.
"""

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from dlgr_ansible.events import RunState
from dlgr_ansible.runner import PlaybookRun, RunOutcome, run_playbook

_COLUMNS = (
    ("ok", "green"),
    ("changed", "yellow"),
    ("failed", "red"),
    ("unreachable", "red"),
    ("skipped", "cyan"),
)


def host_table(state: RunState) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("server")
    for name, style in _COLUMNS:
        table.add_column(name, justify="right", style=style)
    for host, counts in state.stats().items():
        table.add_row(host, *(str(counts[name]) for name, _ in _COLUMNS))
    return table


def live_view(title: str, state: RunState) -> Group:
    header = Text.assemble((title, "bold"), f"  {state.elapsed():.0f}s")
    task = Spinner("dots", text=Text(state.task or "starting"))
    lines = [header]
    if state.play:
        lines.append(Text(f"play: {state.play}", style="dim"))
    lines.append(task)
    if state.waiting:
        lines.append(Text(f"waiting: {state.waiting}", style="yellow"))
    lines.append(host_table(state))
    return Group(*lines)


class Progress:
    """An event callback that draws the run; use it as a context manager."""

    def __init__(self, console: Console, title: str, verbosity: int = 0):
        self.console = console
        self.title = title
        self.verbosity = verbosity
        self._live: Live | None = None
        self._last_task = ""
        self._last_wait = ""
        self._warned = 0

    def __enter__(self) -> "Progress":
        if self.console.is_terminal and not self.verbosity:
            self._live = Live(
                live_view(self.title, RunState()),
                console=self.console,
                transient=True,
                refresh_per_second=8,
            )
            self._live.__enter__()
        else:
            self.console.print(Text(self.title, style="bold"))
        return self

    def __exit__(self, *exc_info) -> None:
        if self._live is not None:
            self._live.__exit__(*exc_info)

    def __call__(self, event: dict, state: RunState) -> None:
        # Above the live panel too: a warning must stay on the screen. (With -v, Ansible's
        # own output says it.)
        for warning in state.warnings[self._warned :] if not self.verbosity else ():
            self.console.print(
                Text(f"  warning: {warning}", style="yellow"), highlight=False, soft_wrap=True
            )
        self._warned = len(state.warnings)
        if self._live is not None:
            self._live.update(live_view(self.title, state))
        elif self.verbosity:
            stdout = event.get("stdout")
            if stdout:
                self.console.print(Text(stdout), highlight=False)
        elif state.task and state.task != self._last_task and _ran(event):
            self._last_task = state.task
            self.console.print(Text(f"  {state.task}"), highlight=False)
        if self._live is None and not self.verbosity and state.waiting != self._last_wait:
            self._last_wait = state.waiting
            if state.waiting:
                self.console.print(
                    Text(f"    waiting: {state.waiting}"), highlight=False, soft_wrap=True
                )


def _ran(event: dict) -> bool:
    """A host result other than "skipped": a task that did not run on any server (such as
    "Remove the app" during a deploy) is not worth a line, and would alarm."""
    name = event.get("event", "")
    return name.startswith("runner_") and name != "runner_on_start" and "skipped" not in name


def run_with_progress(run: PlaybookRun, title: str, console: Console) -> RunOutcome:
    with Progress(console, title, run.verbosity) as progress:
        return run_playbook(run, progress)


def print_summary(outcome: RunOutcome, run: PlaybookRun, console: Console) -> None:
    state = outcome.state
    verdict = Text("done", style="bold green") if outcome.ok else Text("failed", style="bold red")
    console.print(Text.assemble(verdict, f" in {state.elapsed():.1f}s"))
    if state.hosts:
        console.print(host_table(state))
    for message in outcome.explanations(run):
        # soft_wrap: a path or command in the message must survive copy and paste
        console.print(Text(message, style="red"), highlight=False, soft_wrap=True)
    if outcome.artifacts_dir:
        console.print(f"Ansible artifacts kept in {outcome.artifacts_dir}")
