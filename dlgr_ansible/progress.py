"""Show a playbook run as it happens, and sum it up afterwards.

On a terminal: a live panel with the play, the task, counts per host and the time, and a
progress bar while an image is sent. Elsewhere (CI logs, pipes): one line per task that
ran, and a line every TRANSFER_LINE_SECONDS while an image is sent. With -v: Ansible's
own output. Everything here goes to stderr, so `--json` keeps stdout for the JSON document.
"""

import contextlib
import dataclasses
import threading
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from dlgr_ansible.events import RunState
from dlgr_ansible.runner import Deferred, PlaybookRun, RunOutcome, run_playbook
from dlgr_ansible.transfer import Rate, read_transfer

# Without a terminal, a line about a send under way this often.
TRANSFER_LINE_SECONDS = 10

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


def live_view(title: str, state: RunState, rate: Rate | None = None) -> Group:
    header = Text.assemble((title, "bold"), f"  {state.elapsed():.0f}s")
    task = Spinner("dots", text=Text(state.task or "starting"))
    lines = [header]
    if state.play:
        lines.append(Text(f"play: {state.play}", style="dim"))
    lines.append(task)
    if state.waiting:
        lines.append(Text(f"waiting: {state.waiting}", style="yellow"))
    transfer = read_transfer(state.progress_file) if rate is not None else None
    if transfer is not None:
        row = Table.grid(padding=(0, 1))
        described = Text(rate.describe(transfer), style="cyan")
        if transfer.step == "sending" and transfer.total:
            row.add_row(
                ProgressBar(total=transfer.total, completed=transfer.done, width=30), described
            )
        else:
            row.add_row(described)
        lines.append(row)
    lines.append(host_table(state))
    return Group(*lines)


class Progress:
    """An event callback that draws the run; use it as a context manager. A `held` one
    shows nothing until `release()`: the console is another's meanwhile (a build's output),
    and the events that came show then."""

    def __init__(self, console: Console, title: str, verbosity: int = 0, held: bool = False):
        self.console = console
        self._held: list[tuple[dict, RunState]] | None = [] if held else None
        # Events come from ansible-runner's thread, the release from the caller's.
        self._holding = threading.Lock()
        self.title = title
        self.verbosity = verbosity
        self._live: Live | None = None
        self._last_task = ""
        self._last_wait = ""
        self._warned = 0
        self._state = RunState()
        self._rate = Rate()
        self._stop = threading.Event()
        self._lines: threading.Thread | None = None
        self._shown = live_view(title, self._state)

    def __enter__(self) -> "Progress":
        if self._held is None:
            self._show()
        return self

    def release(self) -> None:
        """Shows the run from here on, and the events held until now."""
        with self._holding:
            held, self._held = self._held, None
            if held is None:
                return
            self._show()
            for event, state in held:
                self._draw(event, state)

    def _show(self) -> None:
        if self.console.is_terminal and not self.verbosity:
            # Drawn anew at each refresh, not only at events: a send takes minutes.
            self._live = Live(
                console=self.console,
                transient=True,
                refresh_per_second=8,
                get_renderable=self._view,
            )
            self._live.__enter__()
        else:
            self.console.print(Text(self.title, style="bold"))
            if not self.verbosity:
                self._lines = threading.Thread(target=self._transfer_lines, daemon=True)
                self._lines.start()

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._lines is not None:
            self._lines.join()
        if self._live is not None:
            self._live.__exit__(*exc_info)

    def _view(self) -> Group:
        # The state may change while drawn: the next refresh shows it.
        with contextlib.suppress(RuntimeError):
            self._shown = live_view(self.title, self._state, self._rate)
        return self._shown

    def _transfer_lines(self) -> None:
        """Without a terminal: how far a send has got, every TRANSFER_LINE_SECONDS."""
        while not self._stop.wait(TRANSFER_LINE_SECONDS):
            transfer = read_transfer(self._state.progress_file)
            if transfer is not None:
                self.console.print(Text(f"    {self._rate.describe(transfer)}"), highlight=False)

    def __call__(self, event: dict, state: RunState) -> None:
        with self._holding:
            if self._held is not None:
                self._held.append((event, state))
            else:
                self._draw(event, state)

    def _draw(self, event: dict, state: RunState) -> None:
        self._state = state
        # Above the live panel too: a warning must stay on the screen. (With -v, Ansible's
        # own output says it.)
        for warning in state.warnings[self._warned :] if not self.verbosity else ():
            self.console.print(
                Text(f"  warning: {warning}", style="yellow"), highlight=False, soft_wrap=True
            )
        self._warned = len(state.warnings)
        if self._live is not None:
            self._live.refresh()
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
    """With `run.deferred`, the run is shown once that work (which prints) has ended."""
    with Progress(console, title, run.verbosity, held=run.deferred is not None) as progress:
        if run.deferred is not None:
            run = dataclasses.replace(run, deferred=_then(run.deferred, progress.release))
        return run_playbook(run, progress)


def _then(work: Callable[[], Deferred], after: Callable[[], None]) -> Callable[[], Deferred]:
    def both() -> Deferred:
        try:
            return work()
        finally:
            after()

    return both


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
