"""Generated invalid input for every command, and what counts as a clean refusal.

Each case is a command line with one bad value (an app name, host, user, port, image, DNS
host, config key or value, or an archive). A clean refusal exits 1 or 2 with one
`Error:` line, no traceback, and touches nothing: no process started (ssh,
ansible-runner, docker), no socket opened, no file written under ~/.dallinger. The
server is fake (nothing to reach), so the unit test module and the benchmark
(benchmarks/bad_input.py) say so in their names.
"""

import io
import socket
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from dlgr_ansible import validate
from dlgr_ansible.cli import cli
from dlgr_ansible.export import TABLES
from dlgr_ansible.validate import FALSE_WORDS, TRUE_WORDS
from tests.unit.fakes import fake_app

# Characters that are never part of a valid app name, host, user, image, DNS host or
# config key: shell, YAML, SQL and Caddyfile syntax, whitespace and non-ASCII.
SPOILERS = [*" \t\n;$`\"'|&<>*(){}[]#!?\\,=%^~", "é", "Ä", "\u200b"]
# Hosts and images are stripped first: whitespace spoils them only inside.
INSIDE_ONLY = [s for s in SPOILERS if not s.isspace()] + ["a b", "a\nb"]
# Not part of a whole number either, even to Python's int().
NOT_IN_NUMBERS = [*(s for s in INSIDE_ONLY if s != "\u200b"), "x", "."]
# argv cannot carry NUL; every other character can reach the command.
TEXT = st.text(st.characters(blacklist_characters="\0", codec="utf-8"), max_size=80)

GOOD_APP = "ok-app"
GOOD_IMAGE = "lab/exp:1"
SERVER = "h.example.org"


def spoiled(alphabet: str, spoilers=SPOILERS, min_size=1) -> st.SearchStrategy[str]:
    """A string of `alphabet` with one spoiler put in at some place."""
    return st.builds(
        lambda base, bad, at: base[: at % (len(base) + 1)] + bad + base[at % (len(base) + 1) :],
        st.text(alphabet, min_size=min_size, max_size=30),
        st.sampled_from(spoilers),
        st.integers(0, 40),
    )


LOWER = "abcdefghijklmnopqrstuvwxyz0123456789-"
APP_NAMES = st.one_of(
    spoiled(LOWER, [*SPOILERS, ".", "_", "/", ":", "A", "Z"]),
    st.text(LOWER, min_size=64, max_size=90).map(lambda s: "a" + s),
    st.sampled_from(["", "-app", "9app", "app-", "dallinger", "postgres", "logs"]),
)
HOSTS = st.one_of(
    spoiled(LOWER + ".", [*INSIDE_ONLY, "_", "/", "@"]),
    st.sampled_from(["", "..", "a..b", "-h.org", "h-.org", "1.2.3", "999.1.1.1"]),
)
USERS = st.one_of(spoiled(LOWER + "_", [*SPOILERS, "/", "@", ":"]), st.just("9user"))
PORTS = st.one_of(
    st.integers(-5, 0).map(str),
    st.integers(65536, 10**7).map(str),
    spoiled("0123456789", NOT_IN_NUMBERS),
)
IMAGES = st.one_of(
    spoiled(LOWER + "/:.", INSIDE_ONLY),
    st.sampled_from(
        ["", "Lab/Exp:1", "lab/exp::1", "lab//exp", "lab/exp:", ":1", "lab/exp@sha256:xy"]
    ),
)
DNS_HOSTS = st.one_of(
    spoiled(LOWER + ".", [*INSIDE_ONLY, "_", "/"]), st.sampled_from(["", "nodot", ".", "a..b"])
)
CONFIG_KEYS = st.one_of(
    spoiled(LOWER.replace("-", "") + "_", [*SPOILERS, "-", ".", "/"]), st.sampled_from(["", "9key"])
)
TYPED_VALUES = st.one_of(
    st.tuples(
        st.sampled_from(["num_dynos_worker", "docker_worker_cpu_shares"]),
        st.one_of(spoiled("0123456789", NOT_IN_NUMBERS), st.just("-3")),
    ),
    st.tuples(
        st.just("docker_engine_source"),
        TEXT.filter(lambda s: s.strip() and s not in validate.DOCKER_SOURCES),
    ),
    st.tuples(
        st.just("clock_on"),
        TEXT.filter(lambda s: s.strip().lower() not in TRUE_WORDS | FALSE_WORDS),
    ),
    # Empty means "the default", as in Dallinger's config.
    st.tuples(
        st.sampled_from(["docker_redis_image", "docker_pgbouncer_image", "docker_caddy_image"]),
        IMAGES.filter(bool),
    ),
    st.tuples(
        st.sampled_from(["recruiter", "title"]), st.builds(lambda a, b: f"{a}\r{b}", TEXT, TEXT)
    ),
)


def _app_name_ok(text: str) -> bool:
    try:
        validate.app_name(text)
    except validate.ValidationError:
        return False
    return True


def archive_bytes(kind: str, detail: str) -> bytes:
    """A file given to --archive that is not a Dallinger export, of the given kind."""
    if kind == "not a zip":
        return detail.encode() or b"\x00"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if kind != "no experiment id":
            archive.writestr("experiment_id.md", GOOD_APP if kind != "bad id" else detail)
        for table in TABLES:
            if kind == "missing table" and table == "participant":
                continue
            header = "" if kind == "no header" and table == "participant" else "id,creation_time\n"
            archive.writestr(f"data/{table}.csv", f"{header}1,2026-01-01\n")
        if kind == "zip slip":
            archive.writestr(f"../../{detail or 'x'}/evil.sh", "id\n")
    return buffer.getvalue()


ARCHIVES = st.tuples(
    st.sampled_from(
        ["not a zip", "no experiment id", "missing table", "no header", "zip slip", "bad id"]
    ),
    # As the id of a zip deployed without --app, a value must not be a valid app name.
    st.one_of(APP_NAMES, TEXT).filter(lambda text: not _app_name_ok(text.strip())),
)


def _deploy(*extra: str) -> list[str]:
    return ["deploy", "--dns-host", "example.org", "--tls", "internal", *extra]


# (name, strategy of argv, files the case writes first as {name: bytes})
CASES = {
    "app name": st.tuples(
        st.sampled_from(
            [
                lambda a: _deploy("--app", a, "--image", GOOD_IMAGE),
                lambda a: [
                    "sandbox",
                    "--app",
                    a,
                    "--image",
                    GOOD_IMAGE,
                    "--dns-host",
                    "example.org",
                ],
                lambda a: ["export", "--app", a],
                lambda a: ["destroy", "--app", a, "--yes"],
                lambda a: ["logs", "--app", a],
                lambda a: ["restart", "--app", a],
                lambda a: ["rollback", "--app", a],
                lambda a: ["releases", "--app", a],
                lambda a: ["shell", "--app", a],
            ]
        ),
        APP_NAMES,
    ).map(lambda pair: (pair[0](pair[1]), {})),
    "server host": HOSTS.map(lambda h: (["servers", "add", "--host", h, "--user", "u"], {})),
    "user": USERS.map(lambda u: (["servers", "add", "--host", SERVER, "--user", u], {})),
    "port": PORTS.map(
        lambda p: (["servers", "add", "--host", SERVER, "--user", "u", "--port", p], {})
    ),
    "image": st.tuples(
        st.sampled_from(
            [
                lambda i: _deploy("--app", GOOD_APP, "--image", i),
                lambda i: ["images", "push", i],
                # A setting saved empty means its default (for Dozzle's image: no Dozzle).
                lambda i: ["servers", "set", "--redis-image", i or "Redis"],
                # An empty config value means "the default".
                lambda i: [
                    "provision",
                    "--tls",
                    "internal",
                    "-c",
                    "docker_caddy_image",
                    i or "Caddy",
                ],
            ]
        ),
        IMAGES,
    ).map(lambda pair: (pair[0](pair[1]), {})),
    "dns host": st.tuples(
        st.sampled_from(
            [
                lambda d: [
                    "deploy",
                    "--app",
                    GOOD_APP,
                    "--image",
                    GOOD_IMAGE,
                    "--tls",
                    "internal",
                    "--dns-host",
                    d,
                ],
                lambda d: ["provision", "--tls", "internal", "--dns-host", d],
                lambda d: ["servers", "set", "--dns-host", d],
            ]
        ),
        DNS_HOSTS,
    ).map(lambda pair: (pair[0](pair[1]), {})),
    "config key": CONFIG_KEYS.map(
        lambda k: (_deploy("--app", GOOD_APP, "--image", GOOD_IMAGE, "-c", k, "x"), {})
    ),
    "config value": TYPED_VALUES.map(
        lambda kv: (_deploy("--app", GOOD_APP, "--image", GOOD_IMAGE, "-c", kv[0], kv[1]), {})
    ),
    "archive": ARCHIVES.map(
        lambda kd: (
            _deploy("--image", GOOD_IMAGE, "--archive", "export.zip")
            + (["--app", GOOD_APP] if kd[0] != "bad id" else []),
            {"export.zip": archive_bytes(*kd)},
        )
    ),
}
ANY_CASE = st.one_of(*(st.tuples(st.just(name), case) for name, case in CASES.items()))


class Touched(Exception):
    """Something tried to reach past the command's own checks."""


@dataclass
class Outcome:
    kind: str
    argv: list[str]
    problem: str  # empty when the refusal was clean


def setup_home(home: Path) -> None:
    """A saved server and a usable key: commands get as far as their own checks."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = home / "id_test"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    (home / ".dallingerconfig").write_text(f"[Parameters]\nserver_pem = {key}\n")
    store = home / ".dallinger" / "docker-ssh" / "hosts"
    store.mkdir(parents=True)
    (store / SERVER).write_text(f'{{"host": "{SERVER}", "user": "u"}}')


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Guard:
    """Stands in for every way out of the process while a case runs."""

    def __init__(self, monkeypatch):
        self.touched: list[str] = []

        def refuse(what):
            def stand_in(*args, **kwargs):
                self.touched.append(f"{what} {args[:1]!r}")
                raise Touched(what)

            return stand_in

        monkeypatch.setattr(subprocess, "Popen", refuse("process"))
        monkeypatch.setattr(socket.socket, "connect", refuse("socket"))
        monkeypatch.setattr(socket, "create_connection", refuse("socket"))
        import ansible_runner

        monkeypatch.setattr(ansible_runner, "run", refuse("ansible-runner"))
        monkeypatch.setattr(ansible_runner, "run_async", refuse("ansible-runner"))


def try_case(home: Path, guard: Guard, kind: str, argv: list[str], files: dict) -> Outcome:
    """Runs one case in `home` (the cwd) and says what, if anything, was wrong with it."""
    for name, content in files.items():
        (home / name).write_bytes(content)
    before = _snapshot(home / ".dallinger")
    guard.touched.clear()
    result = CliRunner().invoke(cli, argv, obj=fake_app())
    output = result.output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    problem = ""
    if guard.touched:
        problem = f"reached {guard.touched[0]}"
    elif result.exit_code not in (1, 2):
        problem = f"exit {result.exit_code}"
    elif "Traceback" in output or not (
        result.exception is None or isinstance(result.exception, SystemExit)
    ):
        problem = f"traceback ({result.exception!r})"
    elif len(errors) != 1:
        problem = f"{len(errors)} Error: lines"
    elif _snapshot(home / ".dallinger") != before:
        problem = "wrote under ~/.dallinger"
    for name in files:
        (home / name).unlink()
    return Outcome(kind, argv, problem)


def run(home: Path, guard: Guard, examples: int, chosen_seed: int) -> list[Outcome]:
    """`examples` generated cases, from `chosen_seed`, each tried in `home`."""
    outcomes: list[Outcome] = []

    @seed(chosen_seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(ANY_CASE)
    def each(case):
        kind, (argv, files) = case
        outcomes.append(try_case(home, guard, kind, argv, files))

    each()
    return outcomes
