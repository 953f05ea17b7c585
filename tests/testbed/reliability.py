"""Reliability on a real test bed server with the Dallinger experiment image: commands
killed at a random moment converge on one plain re-run; participants under load.

tests/e2e/test_reliability.py runs a seeded subset in `make test`; benchmarks/reliability.py
runs the full counts and prints one table.

A round kills each command once, at a moment drawn (seeded) from the time an uninterrupted
run of it took, with SIGINT (Ctrl-C) or SIGKILL, alternately, of the CLI's whole process
group; then it runs the same command once more and checks the state it promises.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import os
import random
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.conftest import BIN_DIR, Researcher, new_researcher
from tests.testbed import hosts_file, service_images, targets

# The apps' names (<app>.<bed's name>.test) resolve to the target's own loopback address
# through /etc/hosts (as in tests/e2e/test_takeover.py), so that its Caddy answers on 443
# there and 127.0.0.1:443 stays free for the other end-to-end modules.
UPDATED = "rl-up"  # the app the update and export rounds work on
COMMANDS = ("deploy", "update", "export", "destroy")
PARTICIPANTS = 2  # made on each app, counted after every round
DATA_MARK = "kept.txt"  # a file in the app's data folder that must survive
PG = "dallinger-postgresql-1"
FAULT_APPS = ("rl-fault-caddy", "rl-fault-disk")


@dataclass
class Bed:
    """A target, the names of its apps in /etc/hosts, and a researcher who saved it."""

    person: Researcher
    target: targets.Target
    images: tuple[str, str]
    domain: str  # the --dns-host
    context: ssl.SSLContext | None = None

    def request(self, app: str, path: str, method: str = "GET") -> tuple[int, bytes]:
        if self.context is None:
            self.context = targets.caddy_tls(self.target)
        connection = http.client.HTTPSConnection(
            f"{app}.{self.domain}", 443, context=self.context, timeout=30
        )
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def serves(self, app: str) -> bool:
        """The app answers a request that reads its database (Dallinger's /summary)."""
        try:
            status, body = self.request(app, "/summary")
            return status == 200 and json.loads(body)["status"] == "success"
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def version(self, app: str) -> str:
        status, body = self.request(app, "/testbed/version")
        return json.loads(body)["version"] if status == 200 else f"HTTP {status}"

    def on_server(self, command: str) -> str:
        done = targets.exec_in(self.target, "runuser", "-l", "dallinger", "-c", command)
        return done.stdout.strip()

    def sql(self, database: str, query: str) -> str:
        done = targets.exec_in(
            self.target, "docker", "exec", PG, "psql", "-U", "dallinger", "-d", database,
            "-XtAc", query,
        )  # fmt: skip
        return done.stdout.strip() if done.returncode == 0 else f"error: {done.stderr.strip()}"

    def participants(self, app: str) -> str:
        return self.sql(app, "select count(*) from participant")

    def add_participants(self, app: str, count: int = PARTICIPANTS) -> None:
        for _ in range(count):
            who = f"rl-{uuid.uuid4().hex[:12]}"
            status, body = self.request(app, f"/participant/{who}/{who}/{who}/debug", "POST")
            assert status == 200, (status, body[:300])

    def cli(self, *args: str, timeout: int = 900) -> tuple[int, dict, str]:
        result = self.person.run(*args, "--json", timeout=timeout)
        out = result.stdout.lstrip()
        report = json.loads(out) if out.startswith("{") else {}
        return result.returncode, report, result.stderr[-3000:]

    def backups(self, app: str) -> list[Path]:
        return sorted((self.person.home / "data").glob(f"{app}-backup-*.zip"))


def app_names(rounds: int) -> list[str]:
    """Every app a suite of `rounds` makes, for /etc/hosts."""
    made = (f"rl-d{n}" for n in range(rounds))
    return [UPDATED, "rl-calibrate", *made, "rl-load-1", "rl-load-2", *FAULT_APPS]


@contextlib.contextmanager
def started_bed(root: Path, images: tuple[str, str], name: str, rounds: int) -> Iterator[Bed]:
    """A fresh target saved by a new researcher; the apps' names resolve to it."""
    key = root / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    address, domain = targets.free_loopback_address(), f"{name}.test"
    names = " ".join(f"{app}.{domain}" for app in app_names(rounds))
    with hosts_file.entries([f"{address} {domain} {names}"], name):
        target = targets.start_target(name, address, key.with_suffix(".pub").read_text())
        try:
            person = new_researcher(root, key, tls="internal", **service_images.settings())
            added = person.run("servers", "add", "--host", address, "--user", "dallinger")
            if added.returncode != 0:
                raise targets.TestbedError(f"servers add failed: {added.stderr[-2000:]}")
            yield Bed(person, target, images, domain)
        finally:
            targets.stop_target(target)


def command_args(bed: Bed, command: str, app: str, image: str) -> tuple[str, ...]:
    deploy = ("deploy", "--app", app, "--dns-host", bed.domain, "--image", image)
    return {
        "deploy": deploy,
        "update": (*deploy, "--update"),
        "export": ("export", "--app", app),
        "destroy": ("destroy", "--app", app, "--yes"),
    }[command]


@dataclass
class Round:
    command: str
    app: str
    signal: str
    after: float  # seconds into the run when it was killed
    interrupted: bool = True  # False: it ended by itself before the moment came
    problem: str = ""  # why it did not converge ("" when it did)


@dataclass
class Suite:
    """Rounds of killed runs against one bed, each command's kill moment drawn from the
    time its uninterrupted run took (`durations`, measured by `calibrate`)."""

    bed: Bed
    seed: int
    durations: dict[str, float] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)

    def calibrate(self) -> None:
        """The updated app with its participants and data, and each command's time."""
        bed, (first, second) = self.bed, self.bed.images
        self._timed("deploy", command_args(bed, "deploy", UPDATED, first))
        bed.add_participants(UPDATED)
        bed.on_server(f"echo kept > ~/dallinger-data/{UPDATED}/{DATA_MARK}")
        self._timed("update", command_args(bed, "update", UPDATED, second))
        self._timed("export", command_args(bed, "export", UPDATED, second))
        self._timed("deploy", command_args(bed, "deploy", "rl-calibrate", first))
        self._timed("destroy", command_args(bed, "destroy", "rl-calibrate", first))
        self.log(f"uninterrupted runs (s): {self.durations}")

    def _timed(self, command: str, args: tuple[str, ...]) -> None:
        started = time.monotonic()
        rc, report, err = self.bed.cli(*args)
        if rc != 0:
            raise AssertionError(f"{' '.join(args)} exited {rc}: {report.get('errors')} {err}")
        self.durations[command] = round(time.monotonic() - started, 1)

    def run(self, rounds: int) -> list[Round]:
        rng = random.Random(self.seed)  # noqa: S311 kill moments, not secrets
        for number in range(rounds):
            image = self.bed.images[number % 2]  # each update changes the image
            app = f"rl-d{number}"
            for offset, command in enumerate(COMMANDS):
                sig = (signal.SIGINT, signal.SIGKILL)[(number + offset) % 2]
                after = round(rng.uniform(0.05, 0.95) * self.durations[command], 1)
                target = UPDATED if command in ("update", "export") else app
                done = self._round(command, target, image, sig, after)
                self.rounds.append(done)
                verdict = done.problem or "converged"
                self.log(
                    f"round {number} {command} {sig.name} at {after} s"
                    f"{'' if done.interrupted else ' (ended first)'}: {verdict}"
                )
        return self.rounds

    def _round(self, command: str, app: str, image: str, sig, after: float) -> Round:
        bed = self.bed
        done = Round(command, app, sig.name, after)
        before = bed.participants(app) if command != "deploy" else str(PARTICIPANTS)
        args = command_args(self.bed, command, app, image)
        problems, done.interrupted = interrupt(bed.person, args, after, sig)
        if command == "destroy":
            problems += destroy_left_a_way_back(bed, app, before)
        rc, report, err = bed.cli(*args)
        if rc != 0:
            problems.append(f"re-run exited {rc}: {report.get('errors') or err[-500:]}")
        problems += CHECKS[command](bed, app, image, before, report)
        left = sorted(p.name for p in bed.person.tmp.glob("dlgr-ansible-*"))
        if left:
            problems.append(f"private data dirs left in TMPDIR: {left}")
        done.problem = "; ".join(problems)
        return done


def interrupt(
    person: Researcher, args: tuple[str, ...], after: float, sig: signal.Signals
) -> tuple[list[str], bool]:
    """Run the CLI and kill its process group `after` seconds in; its problems, and whether
    it was still running then."""
    output = person.home / "interrupted.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [str(BIN_DIR / "dlgr-ansible"), *args],
            env=person.env,
            cwd=person.home,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's job is
        )
        try:
            process.wait(timeout=after)
            return [], False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return ["did not stop within 300 s of Ctrl-C"], True
    text = output.read_text(errors="replace")
    if sig == signal.SIGINT and ("Traceback" in text or process.returncode == 0):
        return [f"Ctrl-C gave no clean failure: {text[-600:]!r}"], True
    return [], True


def destroy_left_a_way_back(bed: Bed, app: str, participants: str) -> list[str]:
    """After a killed destroy: the app's database is still there, or a backup holds it."""
    query = f"select count(*) from pg_database where datname = '{app}'"  # noqa: S608 our names
    if bed.sql("postgres", query) == "1":
        return []
    if any(backup_participants(path) == participants for path in bed.backups(app)):
        return []
    return [f"database gone without a backup holding its {participants} participants"]


def backup_participants(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as backup:
            rows = csv.DictReader(io.StringIO(backup.read("data/participant.csv").decode()))
            return str(sum(1 for _ in rows))
    except (OSError, KeyError, zipfile.BadZipFile):
        return "unreadable"


def _deployed(bed: Bed, app: str, image: str, before: str, report: dict) -> list[str]:
    if not bed.serves(app):
        return ["the app does not serve"]
    problems = []
    if bed.participants(app) == "0":  # a fresh app: its participants for the destroy round
        bed.add_participants(app)
    wanted = image.rsplit(":", 1)[1]
    if bed.version(app) != wanted:
        problems.append(f"serves version {bed.version(app)}, not {wanted}")
    return problems


def _updated(bed: Bed, app: str, image: str, before: str, report: dict) -> list[str]:
    problems = _deployed(bed, app, image, before, report)
    if bed.participants(app) != before:
        problems.append(f"participants {before} -> {bed.participants(app)}")
    if bed.on_server(f"cat ~/dallinger-data/{app}/{DATA_MARK}") != "kept":
        problems.append("the data folder lost its file")
    return problems


def _exported(bed: Bed, app: str, image: str, before: str, report: dict) -> list[str]:
    path = Path(report.get("export", {}).get("path", "/nonexistent"))
    if not path.is_file():
        return [f"no export at {path}"]
    problems = []
    with zipfile.ZipFile(path) as exported:
        bad = exported.testzip()
        if bad:
            problems.append(f"the export's {bad} is corrupt")
    if backup_participants(path) != before:
        problems.append(f"the export holds {backup_participants(path)} participants, not {before}")
    if bed.participants(app) != before or not bed.serves(app):
        problems.append("the app changed while exported")
    return problems


def _destroyed(bed: Bed, app: str, image: str, before: str, report: dict) -> list[str]:
    problems = []
    left = bed.sql(
        "postgres",
        f"select (select count(*) from pg_database where datname = '{app}')"  # noqa: S608 our names
        f" + (select count(*) from pg_roles where rolname = '{app}')",
    )
    if left != "0":
        problems.append("its database or role is left")
    folders = bed.on_server(
        f"ls -d ~/dallinger/{app} ~/dallinger-data/{app} ~/dallinger/caddy.d/{app} "
        f"2>/dev/null; docker ps -aq --filter label=com.docker.compose.project={app}"
    )
    if folders:
        problems.append(f"left on the server: {folders.split()}")
    if not any(backup_participants(path) == before for path in bed.backups(app)):
        problems.append(f"no backup holds its {before} participants")
    return problems


CHECKS = {"deploy": _deployed, "update": _updated, "export": _exported, "destroy": _destroyed}


def converged(rounds: list[Round]) -> dict[str, tuple[int, int]]:
    """Per command: (rounds that converged, rounds)."""
    return {
        command: (
            sum(1 for r in rounds if r.command == command and not r.problem),
            sum(1 for r in rounds if r.command == command),
        )
        for command in COMMANDS
    }


# --- participant load ---------------------------------------------------------------


@dataclass
class Load:
    """`clients` simulated participants per app, each in a loop until `seconds` have
    passed: the ad, a new participant (a database write), then a few reads of it, on one
    kept-alive connection as a browser would. A request fails on no answer within a
    browser's patience (`timeout`, Chrome's 300 s) or a 5xx; slower than `slow` seconds
    is counted apart."""

    bed: Bed
    apps: tuple[str, ...]
    clients: int = 50
    seconds: float = 60.0
    reads: int = 3
    timeout: float = 300.0
    slow: float = 30.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    made: int = 0  # participants created
    peak: dict[str, int] = field(default_factory=dict)  # per database, its highest count
    peak_total: int = 0  # all databases at once, the highest
    max_connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> Load:
        if self.bed.context is None:
            self.bed.context = targets.caddy_tls(self.bed.target)
        deadline = time.monotonic() + self.seconds
        stop = threading.Event()
        sampler = threading.Thread(target=self._sample, args=(stop,), daemon=True)
        sampler.start()
        clients = [
            threading.Thread(target=self._client, args=(app, deadline), daemon=True)
            for app in self.apps
            for _ in range(self.clients)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        stop.set()
        sampler.join()
        return self

    def _client(self, app: str, deadline: float) -> None:
        connection = None
        while time.monotonic() < deadline:
            who = f"load-{uuid.uuid4().hex[:12]}"
            steps = [
                ("GET", "/ad?generate_tokens=1"),
                ("POST", f"/participant/{who}/{who}/{who}/debug"),
            ]
            for method, path in steps:
                connection, body = self._send(connection, app, method, path)
            try:
                participant = json.loads(body)["participant"]["id"]
            except (ValueError, KeyError, TypeError):
                continue
            with self._lock:
                self.made += 1
            for _ in range(self.reads):
                connection, _ = self._send(connection, app, "GET", f"/participant/{participant}")

    def _send(self, connection, app: str, method: str, path: str):
        if connection is None:
            connection = http.client.HTTPSConnection(
                f"{app}.{self.bed.domain}", 443, context=self.bed.context, timeout=self.timeout
            )
        started = time.monotonic()
        try:
            connection.request(method, path)
            response = connection.getresponse()
            body = response.read()
            status = response.status
            error = f"HTTP {status}" if status >= 500 else ""
        except (OSError, http.client.HTTPException) as exc:
            body, error = b"", f"{type(exc).__name__}: {exc}"
            connection.close()
            connection = None
        with self._lock:
            self.latencies.append(time.monotonic() - started)
            if error:
                self.failures.append(f"{app} {method} {path.split('/')[1]}: {error}")
        return connection, body

    def _sample(self, stop: threading.Event) -> None:
        query = (
            "select current_setting('max_connections') || ' ' || coalesce(string_agg("
            "datname || '=' || n, ' '), '') from (select datname, count(*) as n from "
            "pg_stat_activity where datname is not null and pid <> pg_backend_pid() "
            "group by 1) as counts"
        )
        while not stop.wait(0.5):
            limit, *counts = self.bed.sql("postgres", query).split()
            if not limit.isdigit():
                continue  # PostgreSQL did not answer this time
            self.max_connections = int(limit)
            total = 0
            for count in counts:
                name, _, n = count.partition("=")
                self.peak[name] = max(self.peak.get(name, 0), int(n))
                total += int(n)
            self.peak_total = max(self.peak_total, total)

    def percentile(self, share: float) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100)[int(share * 100) - 1]

    def summary(self) -> str:
        peaks = ", ".join(f"{app} {self.peak.get(app, 0)}" for app in self.apps)
        return (
            f"{len(self.apps)} app(s) x {self.clients} participants for {self.seconds:g} s, "
            f"{self.made} made: {len(self.failures)}/{len(self.latencies)} requests failed"
            f"{' (' + '; '.join(self.failures[:3]) + ')' if self.failures else ''}, "
            f"{sum(1 for t in self.latencies if t > self.slow)} slower than {self.slow:g} s "
            f"(slowest {max(self.latencies, default=0):.1f} s), "
            f"p50 {self.percentile(0.5) * 1000:.0f} ms, p95 {self.percentile(0.95) * 1000:.0f} ms, "
            f"peak connections {peaks}, {self.peak_total} in all of max_connections "
            f"{self.max_connections}"
        )


# --- dependency faults ----------------------------------------------------------------


@dataclass
class Fault:
    name: str
    outcome: str = ""  # what the run under the fault said, or that it succeeded
    problem: str = ""  # why the fault was not handled ("" when it was)


def _explained(rc: int, report: dict, err: str, *causes: str) -> tuple[str, list[str]]:
    """The run's outcome, and problems: a failure must name its cause, without a traceback."""
    if rc == 0:
        return "succeeded", []
    message = " ".join(report.get("errors") or []) or err
    if "Traceback" in err or not report:
        return message[-300:], [f"no clean failure (exit {rc}): {err[-400:]!r}"]
    if not any(cause.lower() in message.lower() for cause in causes):
        return message[-300:], [f"the message does not name {' or '.join(causes)}"]
    return message[:300], []


def _during(
    bed: Bed, args: tuple[str, ...], after: float, fault: str
) -> tuple[int, dict, str, str]:
    """Run the CLI; `after` seconds in, run `fault` as root on the server. The last item
    says why the fault did not happen ("" when it did)."""
    done: list[subprocess.CompletedProcess] = []
    timer = threading.Timer(
        after, lambda: done.append(targets.exec_in(bed.target, "sh", "-c", fault))
    )
    timer.start()
    try:
        rc, report, err = bed.cli(*args)
    finally:
        timer.cancel()
        timer.join()
    if not done:
        return rc, report, err, f"the run ended before {after:g} s"
    missed = f"{fault!r} exited {done[0].returncode}" if done[0].returncode else ""
    return rc, report, err, missed


def _rerun_serves(bed: Bed, args: tuple[str, ...], app: str, before: str) -> list[str]:
    rc, report, err = bed.cli(*args)
    problems = [] if rc == 0 else [f"the re-run exited {rc}: {report.get('errors') or err}"]
    if not bed.serves(app):
        problems.append(f"{app} does not serve after the re-run")
    elif before and bed.participants(app) != before:
        problems.append(f"{app}'s participants {before} -> {bed.participants(app)}")
    return problems


def _update_under(bed: Bed, name: str, after: float, fault: str, *causes: str) -> Fault:
    """An update of the updated app with `fault` run on the server `after` seconds in:
    it succeeds or names one of `causes`, and the same update run again serves."""
    done = Fault(f"{name} {after:g} s into an update")
    image = bed.images[0] if bed.version(UPDATED) == "2" else bed.images[1]
    args = command_args(bed, "update", UPDATED, image)
    before = bed.participants(UPDATED)
    rc, report, err, missed = _during(bed, args, after, fault)
    done.outcome, problems = _explained(rc, report, err, *causes)
    if missed:
        problems.append(f"the fault did not happen: {missed}")
    problems += _rerun_serves(bed, args, UPDATED, before)
    done.problem = "; ".join(problems)
    return done


def postgresql_stopped(bed: Bed, after: float) -> Fault:
    return _update_under(
        bed, "PostgreSQL stopped", after, f"docker stop {PG}", "PostgreSQL", "database"
    )


def connection_dropped(bed: Bed, after: float) -> Fault:
    # The user's sessions' sshd processes (sshd-session since OpenSSH 9.8): the network
    # going away, as both ends see it.
    drop = "pkill -KILL -f '^sshd(-session)?: dallinger'"
    return _update_under(
        bed, "SSH connection dropped", after, drop, "SSH", "connection", "unreachable"
    )


def caddy_rejects(bed: Bed) -> Fault:
    """Another site's file that Caddy cannot read (a hand edit gone wrong): a new app's
    deploy says so, the apps already there keep serving, and once the file is fixed the
    same deploy brings the new app up."""
    fault = Fault("Caddy rejects its configuration (a broken site file)")
    app, broken = FAULT_APPS[0], "~/dallinger/caddy.d/zz-hand-edit"
    bed.on_server(f"printf 'broken.localhost {{\\n  reverse_proxy {{\\n' > {broken}")
    args = command_args(bed, "deploy", app, bed.images[0])
    try:
        rc, report, err = bed.cli(*args)
        fault.outcome, problems = _explained(rc, report, err, "Caddy")
        if not bed.serves(UPDATED):
            problems.append(f"{UPDATED} stopped serving")
    finally:
        bed.on_server(f"rm -f {broken}")
    problems += _rerun_serves(bed, args, app, "")
    fault.problem = "; ".join(problems)
    return fault


def disk_full(bed: Bed) -> Fault:
    """The disk fills while a new app's files are written (a 4 kB file system there);
    then space is freed (the file system grows, keeping what it holds) and the same
    deploy is run again. The app is destroyed at the end: its files go with the mount."""
    fault = Fault("disk full while a new app's files are written")
    app = FAULT_APPS[1]
    folder = f"/home/dallinger/dallinger/{app}"
    mount = (
        f"install -d -o dallinger -g dallinger {folder} && "
        f"mount -t tmpfs -o size=4k,uid=$(id -u dallinger),gid=$(id -g dallinger),mode=0750 "
        f"tmpfs {folder}"
    )
    targets.exec_in(bed.target, "sh", "-c", mount, check=True)
    args = command_args(bed, "deploy", app, bed.images[0])
    try:
        rc, report, err = bed.cli(*args)
        fault.outcome, problems = _explained(rc, report, err, "No space left", "disk")
        targets.exec_in(bed.target, "mount", "-o", "remount,size=16m", folder, check=True)
        problems += _rerun_serves(bed, args, app, "")
    finally:
        # Lazily: the app's containers still hold files of it.
        targets.exec_in(bed.target, "umount", "--lazy", folder, check=True)
    rc, report, err = bed.cli("destroy", "--app", app, "--yes", "--no-backup")
    if rc != 0:
        problems.append(f"its destroy exited {rc}: {report.get('errors') or err}")
    fault.problem = "; ".join(problems)
    return fault


def run_faults(bed: Bed, durations: dict[str, float], rng: random.Random) -> list[Fault]:
    update = durations["update"]
    return [
        postgresql_stopped(bed, round(rng.uniform(0.1, 0.7) * update, 1)),
        connection_dropped(bed, round(rng.uniform(0.1, 0.7) * update, 1)),
        caddy_rejects(bed),
        disk_full(bed),
    ]


# --- reboot ---------------------------------------------------------------------------


def reboot(bed: Bed, apps: tuple[str, ...], limit: float = 300) -> tuple[float, list[str]]:
    """Restart the target as a real reboot (systemd's clean stop, /run emptied): seconds
    until every app in `apps` serves again, and problems (an app not back, rows changed)."""
    rows = {app: bed.participants(app) for app in apps}
    started = time.monotonic()
    subprocess.run(["docker", "restart", "--timeout=60", bed.target.container], check=True)
    waiting = set(apps)
    while waiting and time.monotonic() - started < limit:
        waiting -= {app for app in waiting if bed.serves(app)}
        time.sleep(1)
    seconds = round(time.monotonic() - started, 1)
    problems = [f"not serving after {limit:g} s: {sorted(waiting)}"] if waiting else []
    changed = {app: bed.participants(app) for app in apps if bed.participants(app) != rows[app]}
    if changed:
        problems.append(f"participants changed: {changed} (were {rows})")
    return seconds, problems
