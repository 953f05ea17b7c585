"""Side by side: Dallinger 12.4's own `dallinger docker-ssh` and dlgr-ansible, each
deploying the same experiment from its directory to its own fresh, identical server.

    .venv/bin/python -m benchmarks.side_by_side [--repeat N] [--keep] [--working-tree]
                                                [--profile]

Steps, each tool on its own server, in the same run (ratio = ours / Dallinger's):
  warm-up: the first deploy to a bare server (app `warm`, left running);
  fresh:   a new app on that busy server, up to a launched experiment;
  update:  `--update` after one file in templates/ changed;
  nothing: `--update` with nothing changed (for both, whether containers were recreated).
`--repeat N` repeats the last three (a new app each time) and prints medians; `--keep`
leaves both servers running; dlgr-ansible is the committed HEAD unless `--working-tree`;
`--profile` prints the slowest of our tasks per step (Ansible's timings, from the events
our runs keep with --keep-artifacts: benchmarks/task_profile.py).

Test bed (tests/testbed/): targets dlgr-bench-sbs-dallinger (SSH and web on 127.0.0.81)
and dlgr-bench-sbs-ours (127.0.0.82), names under dallinger.sbs-bench.test and
ours.sbs-bench.test in /etc/hosts for the run (Dallinger's server is an IP address, so
it needs a --dns-host whose names resolve to that address), and for Dallinger a local
Redis on 127.0.0.81:6379. Both servers get Docker from Debian's packages and the same
preloaded images (service stand-ins, the experiment's base image); Dallinger's also gets
them under the names its templates use (tests/testbed/dallinger_baseline.py). Both build
examples/hello (its own Dockerfile, on the offline bookworm base) from a temporary copy:
Dallinger on the server over ssh://, dlgr-ansible here with Dallinger's build code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from benchmarks import task_profile
from tests.testbed import dallinger_baseline as baseline
from tests.testbed import experiment_image, hosts_file, researcher_home, service_images, targets

PREFIX = "dlgr-bench-sbs"
# Loopback addresses of no test range in use (molecule/README.md, tests/testbed/targets.py:
# Molecule's scenarios take 31-35, the other benchmarks 60, 61, 71, 72).
ADDRESSES = {"dallinger": "127.0.0.81", "ours": "127.0.0.82"}
DNS_HOSTS = {"dallinger": "dallinger.sbs-bench.test", "ours": "ours.sbs-bench.test"}
IMAGE_BASE = f"{PREFIX}/hello"  # not examples/hello's: an e2e test removes those images
OURS_CLI = baseline.DALLINGER_VENV / "bin" / "dlgr-ansible"  # with Dallinger's build code
TOOLS = ("dallinger", "ours")
STEPS = {
    "fresh": "fresh deploy of a new app to a server that already runs another app "
    "(to a launched experiment)",
    "update": "--update after one template changed",
    "nothing": "--update with nothing changed",
}
WARM_UP = "first deploy to a bare server (warm-up)"


# --- Figures and their formatting (pure: tests/unit/test_side_by_side_table.py) ---------


@dataclass
class Run:
    seconds: float
    phases: list[dict] | None = None  # dlgr-ansible's "phases", when it reports them
    recreated: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    tasks: list[task_profile.TaskTime] | None = None  # ours, with --profile


def median(values: list[float]) -> float:
    return statistics.median(values)


def seconds_cell(values: list[float]) -> str:
    """Median in seconds; with several runs, their range too."""
    if len(values) == 1:
        return f"{values[0]:.1f} s"
    return f"{median(values):.1f} s ({min(values):.1f}-{max(values):.1f})"


def ratio_cell(ours: list[float], theirs: list[float]) -> str:
    return f"{median(ours) / median(theirs):.2f}" if median(theirs) > 0 else "n/a"


def format_table(rows: list[tuple[str, list[float], list[float]]]) -> str:
    """Markdown table of (step, Dallinger's seconds, ours) with ratio = ours / Dallinger's."""
    lines = [
        "| step | Dallinger 12.4 docker-ssh | dlgr-ansible | ratio |",
        "|---|---|---|---|",
    ]
    for step, theirs, ours in rows:
        lines.append(
            f"| {step} | {seconds_cell(theirs)} | {seconds_cell(ours)} "
            f"| {ratio_cell(ours, theirs)} |"
        )
    return "\n".join(lines)


def format_phases(step: str, runs: list[Run]) -> str:
    """One step's phases of our runs: median seconds per phase, share of the median total
    (the command's wall time; "other" is what no phase covers: start-up, config, output)."""
    if not runs or any(run.phases is None for run in runs):
        return f"{step}: phases: not reported by this version"
    total = median([run.seconds for run in runs])
    names = [phase["name"] for phase in runs[0].phases]
    parts = []
    for name in names:
        seconds = median(
            [sum(p["seconds"] for p in run.phases if p["name"] == name) for run in runs]
        )
        parts.append((name, seconds))
    parts.append(("other", max(total - sum(seconds for _, seconds in parts), 0.0)))
    cells = ", ".join(f"{name} {sec:.1f} s ({sec / total:.0%})" for name, sec in parts)
    return f"{step} ({total:.1f} s): {cells}"


def container_changes(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]):
    """(recreated, restarted) container names between two snapshots {name: (id, started)}."""
    recreated = sorted(
        name
        for name in before.keys() | after.keys()
        if before.get(name, ("",))[0] != after.get(name, ("",))[0]
    )
    restarted = sorted(
        name
        for name in before.keys() & after.keys()
        if name not in recreated and before[name][1] != after[name][1]
    )
    return recreated, restarted


def format_changes(tool: str, runs: list[Run]) -> str:
    touched = [run for run in runs if run.recreated or run.restarted]
    if not touched:
        return f"{tool}: no container recreated or restarted ({len(runs)} run(s))"
    last = touched[-1]
    return (
        f"{tool}: containers recreated in {len(touched)} of {len(runs)} run(s); last: "
        f"recreated {', '.join(last.recreated) or 'none'}; "
        f"restarted {', '.join(last.restarted) or 'none'}"
    )


# --- The test bed around the two tools ------------------------------------------------


def check_addresses() -> None:
    for address in ADDRESSES.values():
        for port in (22, 80, 443, 6379):
            if targets.port_is_open(address, port, 0.2):
                sys.exit(f"{address}:{port} is in use; is another side-by-side run going on?")


def change_template(directory: Path, n: int) -> None:
    with open(directory / "templates" / "ad.html", "a", encoding="utf-8") as handle:
        handle.write(f"<!-- side-by-side change {n} -->\n")


def snapshot(target: targets.Target) -> dict[str, tuple[str, str]]:
    """{container name: (id, started at)} of every container on the target."""
    out = targets.exec_in(
        target,
        "sh",
        "-c",
        "docker ps -aq | xargs -r docker inspect --format '{{.Name}} {{.Id}} {{.State.StartedAt}}'",
        check=True,
    ).stdout
    return {
        name: (cid, started) for name, cid, started in (row.split() for row in out.splitlines())
    }


@dataclass
class Side:
    """One tool, its server, its environment and its copy of the experiment."""

    tool: str
    target: targets.Target
    env: dict[str, str]
    directory: Path
    log: Path
    profile: bool = False

    def deploy(self, app: str, update: bool = False) -> Run:
        if self.tool == "dallinger":
            argv = [
                str(baseline.DALLINGER),
                "docker-ssh",
                "deploy",
                "--server",
                self.target.address,
            ]
        else:
            argv = [str(OURS_CLI), "deploy", "--json"]
            argv += ["--keep-artifacts"] if self.profile else []
        argv += ["--app", app, "--dns-host", DNS_HOSTS[self.tool]] + (
            ["--update"] if update else []
        )
        with open(self.log, "a") as log:
            log.write(f"\n=== {' '.join(argv)}\n")
            log.flush()
            started = time.monotonic()
            proc = subprocess.run(
                argv,
                cwd=self.directory,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            seconds = time.monotonic() - started
            log.write(proc.stdout)
        if proc.returncode != 0:
            self.fail(argv, "failed")
        if self.tool != "ours":
            return Run(seconds)
        try:
            document = json.loads(proc.stdout)
        except json.JSONDecodeError:
            self.fail(argv, f"printed no JSON document, but: {proc.stdout[:300]!r}")
        run = Run(seconds, document.get("phases"))
        if document.get("artifacts"):
            artifacts = Path(document["artifacts"])
            run.tasks = task_profile.task_times(task_profile.read_events(artifacts))
            shutil.rmtree(artifacts, ignore_errors=True)
        return run

    def fail(self, argv: list[str], what: str) -> NoReturn:
        tail = self.log.read_text()[-4000:]
        raise SystemExit(f"{self.tool}: {' '.join(argv[1:])} {what} ({self.log}):\n{tail}")

    def measured_update(self, app: str) -> Run:
        before = snapshot(self.target)
        run = self.deploy(app, update=True)
        run.recreated, run.restarted = container_changes(before, snapshot(self.target))
        return run


def ours_source(workdir: Path, working_tree: bool) -> tuple[dict[str, str], str]:
    """The dlgr-ansible to measure: by default the committed HEAD, unpacked here and put
    first on PYTHONPATH (the working tree may be half-edited by someone else). Returns the
    environment to add and a line saying what was measured."""
    if working_tree:
        return {}, f"dlgr-ansible: the working tree of {targets.REPO_ROOT}"
    git = ["git", "-C", str(targets.REPO_ROOT)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    source = workdir / "src"
    source.mkdir()
    archive = subprocess.Popen([*git, "archive", "--format=tar", "HEAD"], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(source)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit("git archive HEAD failed")
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "dlgr_ansible", "roles", "playbooks"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    note = " (uncommitted changes in the working tree not measured)" if dirty else ""
    return {"PYTHONPATH": str(source)}, f"dlgr-ansible: commit {commit}{note}"


def prepare_images() -> None:
    """Test images built here (each under the test images' lock, as the test bed does)."""
    targets.ensure_docker()
    targets.build_images()
    targets.ensure_base_image(experiment_image.SUITE)
    service_images.build_service_images()


def start_servers(
    stack: contextlib.ExitStack, key: Path, workdir: Path, keep: bool, source_env: dict
) -> dict:
    """Both targets with Docker and the same preloaded images; Dallinger's with its names."""
    servers = {}
    for tool in TOOLS:
        name = f"{PREFIX}-{tool}"
        found = targets.find_target(name)
        if found is not None:  # a kept server of an earlier run
            targets.stop_target(found)
        servers[tool] = targets.start_target(
            name,
            ADDRESSES[tool],
            key.with_suffix(".pub").read_text(),
            owner=PREFIX if keep else None,  # kept servers must outlive this process
        )
        if not keep:
            stack.callback(targets.stop_target, servers[tool])
    preload = [*baseline.stand_in_sources(), targets.base_image(experiment_image.SUITE)]

    def prepare(target: targets.Target) -> None:
        baseline.install_docker(target, key, workdir, source_env)
        baseline.load_images(target, preload)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(prepare, target) for target in servers.values()]:
            future.result()
    return servers


def dallinger_side(stack, workdir: Path, key: Path, target: targets.Target) -> Side:
    user = baseline.dallinger_user(stack, workdir, key, target, targets.label_flags())
    directory = baseline.experiment_copy(workdir / "dallinger" / "hello", IMAGE_BASE)
    return Side("dallinger", target, user.env, directory, workdir / "dallinger.log")


def ours_side(
    workdir: Path, key: Path, target: targets.Target, source_env: dict, profile: bool
) -> Side:
    home = workdir / "ho"
    home.mkdir()
    # Server settings as the other benchmarks give them: Debian's Docker, Caddy's internal
    # CA, the stand-ins (Dozzle too, since Dallinger runs one).
    researcher_home.write_config(home, key, **researcher_home.stand_ins())
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    env = {
        **os.environ,
        **source_env,
        "HOME": str(home),
        "PATH": os.pathsep.join([baseline.DEBIAN_DOCKER_DIR, *rest]),
    }
    side = Side(
        "ours",
        target,
        env,
        baseline.experiment_copy(workdir / "ours" / "hello", IMAGE_BASE),
        workdir / "ours.log",
    )
    setup_command(
        side, [str(OURS_CLI), "servers", "add", "--host", target.address, "--user", "dallinger"]
    )
    side.profile = profile
    return side


def setup_command(side: Side, argv: list[str]) -> None:
    with open(side.log, "a") as log:
        proc = subprocess.run(
            argv,
            cwd=side.env["HOME"],
            env=side.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    if proc.returncode != 0:
        tail = side.log.read_text()[-4000:]
        raise SystemExit(f"{side.tool}: {' '.join(argv[1:])} failed:\n{tail}")


def measure(sides: dict[str, Side], repeat: int) -> tuple[dict, dict]:
    """Warm-up, then `repeat` rounds of the three steps; the tools take turns per step."""
    warm = {tool: side.deploy("warm") for tool, side in sides.items()}
    runs: dict = {step: {tool: [] for tool in TOOLS} for step in STEPS}
    for n in range(1, repeat + 1):
        app = f"fresh{n}"
        for tool in TOOLS:
            runs["fresh"][tool].append(sides[tool].deploy(app))
        for tool in TOOLS:
            change_template(sides[tool].directory, n)
        for tool in TOOLS:
            runs["update"][tool].append(sides[tool].deploy(app, update=True))
        for tool in TOOLS:
            runs["nothing"][tool].append(sides[tool].measured_update(app))
        print(f"round {n} of {repeat} done", file=sys.stderr, flush=True)
    return warm, runs


def report(warm: dict, runs: dict, repeat: int, measured: str) -> None:
    rows = [
        (
            label,
            [r.seconds for r in runs[step]["dallinger"]],
            [r.seconds for r in runs[step]["ours"]],
        )
        for step, label in STEPS.items()
    ]
    print(
        f"\nSide by side, median of {repeat} run(s) per step (ratio = dlgr-ansible / Dallinger's):\n"
    )
    print(format_table(rows))
    print(f"\n{measured}; Dallinger {baseline.DALLINGER_VERSION} from {baseline.DALLINGER_VENV}\n")
    print(format_table([(WARM_UP, [warm["dallinger"].seconds], [warm["ours"].seconds])]))
    print("\nPhases of dlgr-ansible's runs (median seconds, share of the command's wall time):")
    print(format_phases(WARM_UP, [warm["ours"]]))
    for step, label in STEPS.items():
        print(format_phases(label, runs[step]["ours"]))
    if warm["ours"].tasks is not None:
        print("\nSlowest tasks of dlgr-ansible's last run of each step (Ansible's timings):")
        print(f"{WARM_UP}: {task_profile.format_profile(warm['ours'].tasks)}")
        for step, label in STEPS.items():
            print(f"{label}: {task_profile.format_profile(runs[step]['ours'][-1].tasks)}")
    print("\nContainers on the server during --update with nothing changed:")
    for tool, name in (("ours", "dlgr-ansible"), ("dallinger", "Dallinger 12.4 docker-ssh")):
        print(format_changes(name, runs["nothing"][tool]))


def remove_built_images() -> None:
    listed = targets._docker("images", "-q", "--filter", f"reference={IMAGE_BASE}", check=False)
    for image in set(listed.stdout.split()):
        targets._docker("rmi", "--force", image, check=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.side_by_side")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="rounds of the measured steps; medians are printed (default 1)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave both servers running for inspection"
    )
    parser.add_argument(
        "--working-tree",
        action="store_true",
        help="measure the working tree's dlgr-ansible (default: the committed HEAD)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print the slowest of dlgr-ansible's tasks per step (Ansible's timings)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    # SIGTERM unwinds like Ctrl-C, so the clean-up below runs either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        baseline.check_venv()
        prepare_images()
    except targets.TestbedError as exc:
        sys.exit(f"error: {exc}")
    check_addresses()
    apps = ["warm", *(f"fresh{n}" for n in range(1, args.repeat + 1))]
    hosts = [
        f"{ADDRESSES[tool]} {DNS_HOSTS[tool]} logs.{DNS_HOSTS[tool]} "
        + " ".join(f"{app}.{DNS_HOSTS[tool]}" for app in apps)
        for tool in TOOLS
    ]
    with contextlib.ExitStack() as stack:
        # Short: SSH control sockets live under it (107 bytes at most).
        workdir = Path(tempfile.mkdtemp(prefix="sbs-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.callback(remove_built_images)
        key = workdir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        stack.enter_context(hosts_file.entries(hosts, PREFIX))
        source_env, measured = ours_source(workdir, args.working_tree)
        servers = start_servers(stack, key, workdir, args.keep, source_env)
        sides = {
            "dallinger": dallinger_side(stack, workdir, key, servers["dallinger"]),
            "ours": ours_side(workdir, key, servers["ours"], source_env, args.profile),
        }
        print("servers ready; measuring", file=sys.stderr, flush=True)
        warm, runs = measure(sides, args.repeat)
        report(warm, runs, args.repeat, measured)
        if args.keep:
            print(
                f"\nKept: containers {', '.join(t.name for t in servers.values())} "
                f"(SSH as dallinger@{', '.join(ADDRESSES.values())}; the key is gone with "
                f"this run's files: use `docker exec -it NAME bash`). Remove them with "
                f"`.venv/bin/python -m tests.testbed.targets stop NAME`."
            )


if __name__ == "__main__":
    main()
