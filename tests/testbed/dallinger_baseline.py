"""Dallinger's own `dallinger docker-ssh` (12.4) on the test bed, as a baseline.

Benchmarks compare this project against the tool researchers use today, run in the same
place. Dallinger's docker-ssh assumes a laptop with internet and a real server; here
(../shared/TESTBED.md, "Dallinger's own docker-ssh as the baseline") it needs:

- Docker with compose v2 on the target (`install_docker`: the same Debian packages our
  tests use, so both tools' servers run the same engine);
- the images its compose templates name, under exactly those names, on its target only
  (`install_stand_ins`): the test bed's stand-ins, tagged, or with a thin layer for a
  contract of the official image that the stand-in does not honour;
- on this machine (`dallinger_environment`): an ssh-agent holding the key (its build goes
  through docker-py over ssh://, i.e. the system `ssh`), known_hosts and an ssh config that
  the system `ssh` reads, a local Redis (`config.get("auto_recruit")` asks Redis), a CA
  bundle with Caddy's local root for its POST /launch, and Debian's docker CLI first on
  PATH (its build forces BuildKit; the newer CLI in /usr/local/bin lacks buildx).

Nothing here changes Dallinger's code or its venv, or the stand-in images other tests use.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import shutil
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.testbed import experiment_image, service_images
from tests.testbed.targets import REPO_ROOT, Target, TestbedError, _docker, base_image, exec_in

DALLINGER_VENV = REPO_ROOT / ".venv-dallinger"
DALLINGER = DALLINGER_VENV / "bin" / "dallinger"
DALLINGER_VERSION = "12.4.0"
# With click 8.2 or later, `deploy`'s `--update` default becomes the string "False" and
# every fresh deploy takes the update path ("App ... does not exist").
CLICK_VERSION = "8.1.8"
# Debian 12's docker CLI (20.10) has BuildKit built in.
DEBIAN_DOCKER_DIR = "/usr/bin"

# The names in Dallinger 12.4's dallinger/docker/ssh_templates/*.yml.j2. Its build's base
# image (ghcr.io/dallinger/dallinger:<version>) is only used for experiments without a
# Dockerfile of their own.
POSTGRES = "postgres:12"
CADDY = "caddy:2"
REDIS = "redis:latest"
PGBOUNCER = "docker.io/bitnamilegacy/pgbouncer:1.24.1"
DOZZLE = "amir20/dozzle:v10.0.2"

# Where Caddy keeps the root of its `tls internal` CA (XDG_DATA_HOME=/data).
CADDY_CA_DIR = "/data/caddy/pki/authorities/local"

# PostgreSQL 15 and later no longer let every role create tables in schema public;
# Dallinger's per-app role relies on PostgreSQL 12's default. New databases copy
# template1, so granting it there gives every app database 12's behaviour.
POSTGRES_12_GRANT = "\\connect template1\nGRANT CREATE ON SCHEMA public TO PUBLIC;\n"

# Bitnami's environment contract (the variables Dallinger's template sets), written as a
# pgbouncer.ini at start, on top of the Debian pgbouncer stand-in (which runs mounted
# configurations only). Bitnami's defaults where Dallinger sets nothing.
BITNAMI_PGBOUNCER_ENTRYPOINT = r"""#!/bin/sh
set -eu
conf=/tmp/pgbouncer
mkdir -p "$conf"
server="host=${POSTGRESQL_HOST:-postgresql} port=${POSTGRESQL_PORT:-5432}"
if [ -n "${POSTGRESQL_DATABASE:-}" ]; then server="$server dbname=$POSTGRESQL_DATABASE"; fi
case "${PGBOUNCER_SET_DATABASE_USER:-no}" in
    yes|true|1) server="$server user=${POSTGRESQL_USERNAME:-postgres}" ;;
esac
case "${PGBOUNCER_SET_DATABASE_PASSWORD:-no}" in
    yes|true|1) server="$server password=${POSTGRESQL_PASSWORD:-}" ;;
esac
printf '"%s" "%s"\n' "${POSTGRESQL_USERNAME:-postgres}" "${POSTGRESQL_PASSWORD:-}" \
    > "$conf/userlist.txt"
cat > "$conf/pgbouncer.ini" <<EOF
[databases]
${PGBOUNCER_DATABASE:-postgres} = $server

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = ${PGBOUNCER_PORT:-6432}
unix_socket_dir =
auth_type = ${PGBOUNCER_AUTH_TYPE:-md5}
auth_file = $conf/userlist.txt
pool_mode = ${PGBOUNCER_POOL_MODE:-session}
server_idle_timeout = ${PGBOUNCER_SERVER_IDLE_TIMEOUT:-600}
ignore_startup_parameters = ${PGBOUNCER_IGNORE_STARTUP_PARAMETERS:-extra_float_digits}
EOF
exec pgbouncer "$conf/pgbouncer.ini"
"""


def check_venv() -> None:
    """Dallinger 12.4 with click 8.1.8 in .venv-dallinger, or a TestbedError saying how."""
    if not DALLINGER.exists():
        raise TestbedError(f"{DALLINGER} is missing: run `make deps`")
    probe = subprocess.run(
        [
            str(DALLINGER_VENV / "bin" / "python"),
            "-c",
            "from importlib.metadata import version as v; print(v('dallinger'), v('click'))",
        ],
        capture_output=True,
        text=True,
    )
    versions = probe.stdout.split()
    if versions != [DALLINGER_VERSION, CLICK_VERSION]:
        raise TestbedError(
            f"{DALLINGER_VENV} has dallinger/click {versions or probe.stderr.strip()}; "
            f"Dallinger's docker-ssh needs dallinger {DALLINGER_VERSION} with click "
            f"{CLICK_VERSION}: run `{DALLINGER_VENV}/bin/pip install click=={CLICK_VERSION}` "
            "(`make deps` pins it in a new venv)"
        )


def install_docker(
    target: Target, key: Path, workdir: Path, extra_env: dict[str, str] | None = None
) -> None:
    """Docker 26 with compose v2 from Debian's packages on `target`, the way this project's
    tests install it (`dlgr-ansible servers add --docker-source distribution`), in a
    throwaway HOME so that nothing of it is saved."""
    # Short: SSH control sockets live under HOME (107 bytes at most).
    home = workdir / f"docker-{target.address.rsplit('.', 1)[1]}"
    home.mkdir(parents=True)
    (home / ".dallingerconfig").write_text(f"[Parameters]\nserver_pem = {key}\n")
    cli = REPO_ROOT / ".venv" / "bin" / "dlgr-ansible"
    argv = [str(cli), "servers", "add", "--host", target.address, "--user", "dallinger"]
    argv += ["--docker-source", "distribution", "--json"]
    proc = subprocess.run(
        argv,
        env={**os.environ, **(extra_env or {}), "HOME": str(home)},
        capture_output=True,
        text=True,
        cwd=home,
    )
    if proc.returncode != 0:
        raise TestbedError(
            f"installing Docker on {target.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


def load_images(target: Target, images: list[str]) -> None:
    """`docker save | docker load` into the target's engine: one stream, shared layers once."""
    save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
    load = subprocess.run(
        ["docker", "exec", "-i", target.container, "docker", "load", "--quiet"],
        stdin=save.stdout,
        capture_output=True,
        text=True,
    )
    save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise TestbedError(f"loading {images} into {target.name} failed: {load.stderr.strip()}")


def build_on_target(target: Target, tag: str, files: dict[str, tuple[bytes, int]]) -> None:
    """Build `tag` in the target's engine from in-memory files {name: (content, mode)}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, (content, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            archive.addfile(info, io.BytesIO(content))
    # The classic builder: BuildKit would want to pull its frontend.
    proc = subprocess.run(
        [
            *("docker", "exec", "-i", "-e", "DOCKER_BUILDKIT=0", target.container),
            *("docker", "build", "--quiet", "--tag", tag, "-"),
        ],
        input=buffer.getvalue(),
        capture_output=True,
    )
    if proc.returncode != 0:
        raise TestbedError(f"building {tag} on {target.name} failed: {proc.stderr.decode()}")


def _tag_on_target(target: Target, source: str, tag: str) -> None:
    exec_in(target, "docker", "tag", source, tag, check=True)


@dataclass(frozen=True)
class LocalCA:
    """A root for Caddy's `tls internal`, known before Caddy first starts."""

    cert_pem: bytes
    key_pem: bytes


def make_local_ca() -> LocalCA:
    """An ECDSA P-256 root like the one Caddy makes for itself, valid for a week."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlgr-bench-sbs Local Root")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # "EC PRIVATE KEY", as Caddy writes it
        serialization.NoEncryption(),
    )
    return LocalCA(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def install_stand_ins(target: Target, ca: LocalCA) -> None:
    """The images Dallinger's compose templates name, on `target` only (the test bed's
    stand-ins must be loaded there already, see `stand_in_sources`)."""
    _tag_on_target(target, service_images.REDIS_IMAGE, REDIS)
    _tag_on_target(target, service_images.DOZZLE_IMAGE, DOZZLE)
    # The official image's documented /docker-entrypoint-initdb.d, which the stand-in honours.
    build_on_target(
        target,
        POSTGRES,
        {
            "Dockerfile": (
                f"FROM {service_images.POSTGRES_IMAGE}\n"
                "COPY 10-public-schema.sql /docker-entrypoint-initdb.d/\n".encode(),
                0o644,
            ),
            "10-public-schema.sql": (POSTGRES_12_GRANT.encode(), 0o644),
        },
    )
    # Dallinger's compose keeps Caddy's /data in the container, so a root baked into the
    # image is the one Caddy signs with from its first start: REQUESTS_CA_BUNDLE can hold
    # it before the first deploy POSTs /launch.
    build_on_target(
        target,
        CADDY,
        {
            "Dockerfile": (
                f"FROM {service_images.CADDY_IMAGE}\n"
                f"COPY root.crt root.key {CADDY_CA_DIR}/\n".encode(),
                0o644,
            ),
            "root.crt": (ca.cert_pem, 0o644),
            "root.key": (ca.key_pem, 0o600),
        },
    )
    build_on_target(
        target,
        PGBOUNCER,
        {
            "Dockerfile": (
                f"FROM {service_images.PGBOUNCER_IMAGE}\n"
                "COPY bitnami-entrypoint.sh /bitnami-entrypoint.sh\n"
                'ENTRYPOINT ["/bitnami-entrypoint.sh"]\nCMD []\n'.encode(),
                0o644,
            ),
            "bitnami-entrypoint.sh": (BITNAMI_PGBOUNCER_ENTRYPOINT.encode(), 0o755),
        },
    )


def stand_in_sources() -> list[str]:
    """The test bed's service stand-ins that `install_stand_ins` derives from (load them
    on both servers of a comparison, so each starts with the same images)."""
    return [
        service_images.POSTGRES_IMAGE,
        service_images.CADDY_IMAGE,
        service_images.REDIS_IMAGE,
        service_images.PGBOUNCER_IMAGE,
        service_images.DOZZLE_IMAGE,
    ]


def start_local_redis(name: str, address: str, labels: list[str]) -> str:
    """A Redis on `address`:6379 of this machine (the test bed's stand-in); returns its URL."""
    _docker(
        "run",
        "--detach",
        f"--name={name}",
        *labels,
        f"--publish={address}:6379:6379",
        service_images.REDIS_IMAGE,
        "redis-server",
        "--save",
        "",
    )
    return f"redis://{address}:6379"


def remove_container(name: str) -> None:
    _docker("rm", "--force", "--volumes", name, check=False)


@contextlib.contextmanager
def ssh_agent() -> Iterator[dict[str, str]]:
    """A private ssh-agent for the duration; yields SSH_AUTH_SOCK and SSH_AGENT_PID."""
    proc = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True)
    env = {}
    for part in proc.stdout.replace("\n", ";").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
            env[name] = value
    try:
        yield env
    finally:
        with contextlib.suppress(ProcessLookupError, ValueError, KeyError):
            os.kill(int(env["SSH_AGENT_PID"]), signal.SIGTERM)


def write_home(home: Path, key: Path) -> None:
    """A researcher's HOME for Dallinger: `server_pem` only (Dallinger 12.4 refuses keys it
    does not know), and an ssh config for the system `ssh` (see `dallinger_env`)."""
    (home / ".ssh").mkdir(parents=True, mode=0o700, exist_ok=True)
    (home / ".dallingerconfig").write_text(f"[Parameters]\nserver_pem = {key}\n")
    # Dallinger's paramiko client saves a new host key only into an existing known_hosts
    # (FileNotFoundError otherwise), as any machine that has used ssh before has.
    (home / ".ssh" / "known_hosts").touch(mode=0o600)
    (home / ".ssh" / "config").write_text(
        f"Host *\n    UserKnownHostsFile {home}/.ssh/known_hosts\n"
        "    StrictHostKeyChecking yes\n    BatchMode yes\n"
    )


def ssh_wrapper(bin_dir: Path, home: Path) -> None:
    """`ssh` that reads HOME's config. OpenSSH takes ~ from the passwd entry (/root), not
    from $HOME; this leaves /root/.ssh alone where a researcher's ssh would read ~/.ssh.
    docker-py (use_ssh_client) and the docker CLI both run `ssh` from PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {home}/.ssh/config "$@"\n')
    wrapper.chmod(0o755)


def dallinger_env(
    home: Path,
    bin_dir: Path,
    agent: dict[str, str],
    redis_url: str,
    ca_bundle: Path,
) -> dict[str, str]:
    """The environment to run `dallinger docker-ssh` in."""
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    return {
        **os.environ,
        **agent,
        "HOME": str(home),
        "PATH": os.pathsep.join([str(bin_dir), DEBIAN_DOCKER_DIR, *rest]),
        "REDIS_URL": redis_url,
        "REQUESTS_CA_BUNDLE": str(ca_bundle),
        # Dallinger writes `tls internal` only when the server is called "localhost";
        # otherwise `tls <contact_email_on_error>` (ACME, unreachable here). This value
        # passes its e-mail check and makes that line `tls internal` with a Caddyfile
        # comment after it: the Caddy configuration it writes for local servers.
        "contact_email_on_error": "internal #dlgr-bench@example.invalid",
        "PYTHONWARNINGS": "ignore",
    }


@dataclass(frozen=True)
class DallingerUser:
    """A researcher who runs Dallinger 12.4's own docker-ssh against one target."""

    home: Path
    env: dict[str, str]
    ca: LocalCA  # the root of the target's Caddy (`tls internal`)

    def run(self, *args: str, cwd: Path | None = None, log=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(DALLINGER), *args],
            cwd=cwd or self.home,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log or subprocess.PIPE,
            stderr=log or subprocess.PIPE,
            text=True,
            timeout=1800,
        )


def dallinger_user(
    stack: contextlib.ExitStack, workdir: Path, key: Path, target: Target, labels: list[str]
) -> DallingerUser:
    """Everything `dallinger docker-ssh` needs to deploy to `target` (Docker and the
    stand-in sources loaded there already): its stand-ins and Caddy's root on the
    target; here a HOME, an ssh-agent and a Redis of its own on the target's address,
    and the server saved in the hosts store. `stack` undoes what lives on."""
    ca = make_local_ca()
    install_stand_ins(target, ca)
    redis = f"{target.name}-redis"
    remove_container(redis)
    url = start_local_redis(redis, target.address, labels)
    stack.callback(remove_container, redis)
    bundle = workdir / "caddy-root.crt"
    bundle.write_bytes(ca.cert_pem)
    home = workdir / "hd"
    write_home(home, key)
    ssh_wrapper(workdir / "bin-dallinger", home)
    agent = stack.enter_context(ssh_agent())
    user = DallingerUser(
        home, dallinger_env(home, workdir / "bin-dallinger", agent, url, bundle), ca
    )
    added = user.run(
        "docker-ssh", "servers", "add", "--host", target.address, "--user", "dallinger"
    )
    if added.returncode != 0:
        raise TestbedError(f"dallinger docker-ssh servers add failed:\n{added.stderr[-3000:]}")
    return user


def experiment_copy(directory: Path, image_base: str) -> Path:
    """examples/hello as the researcher has it, on the test bed's offline base (Dallinger's
    build passes no build arguments, so the copy's default changes), its image named
    `image_base`, and the CA bundle where its Dockerfile's pip finds it (Dallinger's
    build cannot be given one; ours could, but both build the same context)."""
    shutil.copytree(experiment_image.EXPERIMENT_CONTEXT, directory)
    base = base_image(experiment_image.SUITE)
    dockerfile = directory / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("debian:bookworm-slim", base, 1))
    config = directory / "config.txt"
    config.write_text(
        config.read_text().replace("dlgr-examples/hello", image_base).replace("\r", "")
    )
    bundle = experiment_image.default_ca_bundle()
    if bundle is not None:
        shutil.copyfile(bundle, directory / "build-ca" / "ca-certificates.crt")
    return directory
