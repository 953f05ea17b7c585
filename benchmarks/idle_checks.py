"""CPU an idle server spends on its containers' health checks: every 2 s (5 s for Caddy), as
the roles set them before, against every 30 s after a start checked every 0.25 s, as they
set them now on Docker Engine 25 and later. Both measured in the same run.

    .venv/bin/python -m benchmarks.idle_checks [--apps 3] [--seconds 60]

Uses the test bed: one fresh target (systemd, Docker 26 from Debian's packages, SSH on
127.0.0.73) and the test bed's stand-ins for the official images. In it, the stack's
PostgreSQL and Caddy and, for each app, a Redis and a pgbouncer run with the checks the
compose templates write (roles/dallinger_server/templates/docker-compose.yml.j2,
roles/dallinger_app/templates/docker-compose.yml.j2). pgbouncer's check is `pg_isready`,
so a PostgreSQL stand-in answers it. CPU is the whole machine's (/proc/stat): on this
test bed the nested engine's containers are not in the target's cgroup. Run it on an
otherwise quiet machine; the empty target's own figure is printed too.
"""

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from tests.testbed import service_images, targets
from tests.testbed.dallinger_baseline import install_docker, load_images

ADDRESS = "127.0.0.73"
# (name, image, check, interval before, retries before): as in the compose templates.
PG_CHECK = "pg_isready -h 127.0.0.1 -U postgres"
STACK = [
    ("postgresql", service_images.POSTGRES_IMAGE, PG_CHECK, "2s", 30),
    (
        "httpserver",
        service_images.CADDY_IMAGE,
        "wget -q -O /dev/null http://127.0.0.1:2019/config/",
        "5s",
        12,
    ),
]
APP = [
    ("redis", service_images.REDIS_IMAGE, "redis-cli ping", "2s", 30),
    ("pgbouncer", service_images.POSTGRES_IMAGE, PG_CHECK, "2s", 30),
]
NOW = ("30s", 2, ["--health-start-period=60s", "--health-start-interval=250ms"])


def check_flags(check: str, interval: str, retries: int, extra: list[str]) -> list[str]:
    return [f"--health-cmd={check}", f"--health-interval={interval}",
            f"--health-retries={retries}", *extra]  # fmt: skip


def cpu_seconds() -> float:
    """The machine's busy CPU so far: user, nice, system, irq and softirq of /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")


def idle_cpu(target, apps: int, slow: bool, seconds: float, stack: bool = True) -> float:
    """Seconds of CPU a minute the machine spends with the stack and `apps` apps idle."""
    names = []
    containers = (STACK if stack else []) + [item for _ in range(apps) for item in APP]
    for number, (service, image, check, interval, retries) in enumerate(containers):
        flags = check_flags(check, *NOW) if slow else check_flags(check, interval, retries, [])
        name = f"{service}-{number}"
        targets.exec_in(target, "docker", "run", "--detach", f"--name={name}",
                        "--env=POSTGRES_PASSWORD=x", *flags, image, check=True)  # fmt: skip
        names.append(name)
    try:
        time.sleep(75 if slow else 15)  # past the start period: the steady state
        before = cpu_seconds()
        time.sleep(seconds)
        return (cpu_seconds() - before) * 60 / seconds
    finally:
        if names:
            targets.exec_in(target, "docker", "rm", "--force", *names, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    service_images.build_service_images()
    images = [service_images.POSTGRES_IMAGE, service_images.CADDY_IMAGE, service_images.REDIS_IMAGE]
    with tempfile.TemporaryDirectory(prefix="dlgr-idle-") as work:
        key = Path(work) / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        target = targets.start_target(
            "dlgr-bench-idle", ADDRESS, key.with_suffix(".pub").read_text(), publish_web=False
        )
        try:
            install_docker(target, key, Path(work))
            load_images(target, images)
            empty = idle_cpu(target, 0, False, args.seconds, stack=False)
            before = idle_cpu(target, args.apps, False, args.seconds)
            now = idle_cpu(target, args.apps, True, args.seconds)
        finally:
            targets.stop_target(target)
    print(f"idle server, the stack and {args.apps} apps; CPU seconds a minute (whole machine)")
    print(f"  {'checks every 2 s (Caddy 5 s), before':<44} {before:6.1f}")
    print(f"  {'every 30 s after a 0.25 s start, now':<44} {now:6.1f}")
    print(f"  {'ratio now / before':<44} {now / before:6.2f}")
    print(f"  (the target with no container: {empty:.1f})")


if __name__ == "__main__":
    main()
