"""What the CLI makes of the docker_images role's progress file (dlgr_ansible.transfer),
on a fake clock, and how the progress view shows it without a terminal."""

import io
import json
import threading

from rich.console import Console

from dlgr_ansible import progress
from dlgr_ansible.transfer import Rate, Transfer, read_transfer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_send_says_how_much_how_fast_and_how_long_still():
    clock = Clock()
    rate = Rate(clock)
    first = Transfer("lab/exp:2", "sending", 10_000_000, 110_000_000)
    assert rate.describe(first) == "sending lab/exp:2: 10.0 MB of 110.0 MB (9%)"
    clock.now += 4
    later = Transfer("lab/exp:2", "sending", 50_000_000, 110_000_000)
    assert rate.describe(later) == (
        "sending lab/exp:2: 50.0 MB of 110.0 MB (45%), 10.0 MB/s, about 6 s left"
    )
    assert rate.describe(Transfer("lab/exp:2", "loading")) == "loading on the server lab/exp:2"
    assert rate.describe(Transfer("lab/exp:2", "preparing")) == "preparing lab/exp:2"


def test_no_file_or_a_damaged_one_means_no_send(tmp_path):
    path = tmp_path / "progress.json"
    assert read_transfer(None) is None
    assert read_transfer(path) is None
    path.write_text("{half")
    assert read_transfer(path) is None
    path.write_text(json.dumps({"image": "a:1", "step": "sending", "done": 5, "total": 9}))
    assert read_transfer(path) == Transfer("a:1", "sending", 5, 9)


def test_without_a_terminal_a_send_gets_a_line_now_and_then(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "TRANSFER_LINE_SECONDS", 0.05)
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    state = progress.RunState(progress_file=tmp_path / "progress.json")
    report = {"image": "lab/exp:2", "step": "sending", "done": 5_000_000, "total": 20_000_000}
    state.progress_file.write_text(json.dumps(report))
    shown = threading.Event()
    with progress.Progress(console, "Deploying") as view:
        view({"event": "playbook_on_start"}, state)
        for _ in range(100):
            if "sending lab/exp:2: 5.0 MB of 20.0 MB (25%)" in out.getvalue():
                shown.set()
                break
            threading.Event().wait(0.05)
    assert shown.is_set(), out.getvalue()
