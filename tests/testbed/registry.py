"""A private registry with htpasswd logins, inside a target, on the target's 127.0.0.1:5000.

Debian's `docker-registry` binary (the CNCF distribution registry) is fetched with
`apt-get download` and unpacked, not installed: its package would start a service on
0.0.0.0:5000. Docker allows plain HTTP to registries on 127.0.0.0/8, so the target's
Docker pulls from it as from any registry, with a login.
"""

import subprocess
import tempfile
from pathlib import Path

import bcrypt

from tests.testbed import targets

ADDRESS = "127.0.0.1:5000"
CACHE = Path(tempfile.gettempdir()) / "dlgr-test-registry"
BINARY = "/usr/local/bin/dlgr-test-registry"
CONFIG = f"""\
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/dlgr-test-registry
http:
  addr: {ADDRESS}
auth:
  htpasswd:
    realm: dlgr-test
    path: /etc/dlgr-test-registry/htpasswd
"""


def registry_binary() -> Path:
    binary = CACHE / "usr" / "bin" / "docker-registry"
    # Two workers may want it at once: one downloads, the other waits for it.
    with targets.image_build_lock():
        if not binary.exists():
            CACHE.mkdir(exist_ok=True)
            subprocess.run(
                ["apt-get", "download", "docker-registry"],
                cwd=CACHE,
                check=True,
                capture_output=True,
            )
            package = next(CACHE.glob("docker-registry_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(package), str(CACHE)], check=True)
    return binary


def start_registry(target, username: str, password: str) -> str:
    """Run the registry in `target` with one login; returns its address for references."""
    subprocess.run(
        ["docker", "cp", str(registry_binary()), f"{target.container}:{BINARY}"], check=True
    )
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    targets.exec_in(target, "mkdir", "-p", "/etc/dlgr-test-registry", check=True)
    for name, content in (("config.yml", CONFIG), ("htpasswd", f"{username}:{hashed}\n")):
        targets.exec_in(target, "tee", f"/etc/dlgr-test-registry/{name}", input=content, check=True)
    targets.exec_in(
        target,
        "systemd-run",
        "--unit=dlgr-test-registry",
        BINARY,
        "serve",
        "/etc/dlgr-test-registry/config.yml",
        check=True,
    )
    # Up once it answers: 401 without a login.
    targets.exec_in(
        target,
        "sh",
        "-c",
        "for i in $(seq 100); do"
        f" python3 -c 'import urllib.request as u; u.urlopen(\"http://{ADDRESS}/v2/\")'"
        " 2>&1 | grep -q 401 && exit 0; sleep 0.1; done; exit 1",
        check=True,
    )
    return ADDRESS


def publish(
    target, image: str, reference: str, username: str, password: str, keep_image=False
) -> None:
    """Push `image` (already on the target's Docker) to the registry as `reference`, then
    remove the login and `reference` (and `image` unless kept) from the target, so a pull
    must fetch it."""
    names = f"{reference}" if keep_image else f"{image} {reference}"
    script = (
        f"docker login {ADDRESS} -u {username} --password-stdin >/dev/null"
        f" && docker tag {image} {reference} && docker push -q {reference} >/dev/null"
        f" && docker logout {ADDRESS} >/dev/null && docker rmi {names} >/dev/null"
    )
    targets.exec_in(target, "sh", "-c", script, input=password + "\n", check=True)
