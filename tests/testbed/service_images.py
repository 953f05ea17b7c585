"""Stand-ins for the official PostgreSQL, Caddy, Redis and pgbouncer images, built from Debian packages.

There is no container registry here, so tests cannot pull ``postgres:17``,
``caddy:2``, ``redis`` or ``edoburu/pgbouncer``. The product's own recipes for
machines without Docker Hub (local_server/service-images/, also what `make demo`
builds) build images on the test bed's offline trixie base that honour those
images' documented contracts (environment variables, paths, entrypoint behaviour,
users), so the roles, which default to the official images on real servers, run
unchanged when tests pass these tags instead. They are tagged under ``dlgr-test/``
only, never with the official names.

Each image carries a label with the hash of its build context plus the base
image id; a warm call only inspects labels. ``python -m
tests.testbed.service_images [--force]`` builds them from the command line.
"""

from __future__ import annotations

import argparse
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dlgr_ansible import container_server
from tests.testbed.targets import (
    BASE_IMAGE,
    CONTEXT_LABEL,
    TestbedError,
    _docker,
    docker_build,
    ensure_base_image,
    ensure_docker,
    image_build_lock,
    image_id,
)

IMAGES_DIR = container_server.service_images_dir()

POSTGRES_IMAGE = "dlgr-test/postgres:17"
CADDY_IMAGE = "dlgr-test/caddy:2"
REDIS_IMAGE = "dlgr-test/redis:8"  # trixie's redis-server is 8.x
# For edoburu/pgbouncer (trixie's pgbouncer is 1.24), with a mounted configuration only.
PGBOUNCER_IMAGE = "dlgr-test/pgbouncer:1"
# Dozzle is not packaged by Debian: this one only honours what the roles rely on.
DOZZLE_IMAGE = "dlgr-test/dozzle:stand-in"


@dataclass(frozen=True)
class ServiceImage:
    tag: str
    context: Path
    # (build arg, Debian package, Dockerfile stage that installs it): the arg gets
    # the package's installed version, as the official images pin e.g. PG_VERSION.
    version_arg: tuple[str, str, str] | None = None


SERVICE_IMAGES = (
    ServiceImage(
        POSTGRES_IMAGE, IMAGES_DIR / "postgres", ("PG_VERSION", "postgresql-17", "packages")
    ),
    ServiceImage(CADDY_IMAGE, IMAGES_DIR / "caddy"),
    ServiceImage(REDIS_IMAGE, IMAGES_DIR / "redis"),
    ServiceImage(PGBOUNCER_IMAGE, IMAGES_DIR / "pgbouncer"),
    ServiceImage(DOZZLE_IMAGE, IMAGES_DIR / "dozzle"),
)


def settings() -> dict[str, str]:
    """The config keys that make a deploy use these images."""
    return {
        "docker_postgresql_image": POSTGRES_IMAGE,
        "docker_caddy_image": CADDY_IMAGE,
        "docker_dozzle_image": DOZZLE_IMAGE,
        "docker_redis_image": REDIS_IMAGE,
        "docker_pgbouncer_image": PGBOUNCER_IMAGE,
    }


def context_hash(context: Path, base_id: str | None) -> str:
    """Hash of a build context's files (names, executable bits, contents) plus the base image id."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(b"x" if path.stat().st_mode & 0o111 else b"-")  # COPY keeps the mode
        digest.update(path.read_bytes() + b"\0")
    digest.update(str(base_id).encode())
    return digest.hexdigest()[:16]


def _label(image: str) -> str | None:
    proc = _docker(
        "image",
        "inspect",
        f'--format={{{{index .Config.Labels "{CONTEXT_LABEL}"}}}}',
        image,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def _package_version(image: str, package: str) -> str:
    proc = _docker(
        "run",
        "--rm",
        "--entrypoint=dpkg-query",
        image,
        "--showformat=${Version}",
        "--show",
        package,
    )
    return proc.stdout.strip()


def build_service_image(spec: ServiceImage, base_id: str | None, force: bool = False) -> bool:
    """Build one image unless its label matches its context; True if it was built."""
    context = context_hash(spec.context, base_id)
    if not force and _label(spec.tag) == context:
        return False
    previous = image_id(spec.tag)
    no_cache = ["--no-cache"] if force else []
    options = [f"--label={CONTEXT_LABEL}={context}", f"--tag={spec.tag}"]
    if spec.version_arg is None:
        options += no_cache
    else:
        # The stage that installs the package first (fresh if forced), then the
        # whole image on top of that cached stage with the version it installed.
        arg, package, stage = spec.version_arg
        stage_id = docker_build(spec.context, BASE_IMAGE, *no_cache, f"--target={stage}")
        options.append(f"--build-arg={arg}={_package_version(stage_id, package)}")
    docker_build(spec.context, BASE_IMAGE, *options)
    if previous and previous != image_id(spec.tag):
        _docker("rmi", previous, check=False)  # the outdated image, now untagged
    return True


def build_service_images(force: bool = False) -> list[str]:
    """Build the service stand-ins of SERVICE_IMAGES (and the base image if missing).

    Up-to-date images are reused unless `force`, which rebuilds them without the
    layer cache (the base image is kept). Returns the tags of all of them.
    """
    with image_build_lock():
        ensure_base_image()
        base_id = image_id(BASE_IMAGE)
        # In parallel: a cold build is mostly downloads and layer commits (~45 s for
        # PostgreSQL alone, ~65 s for all three one after another).
        with ThreadPoolExecutor(max_workers=len(SERVICE_IMAGES)) as pool:
            futures = [
                pool.submit(build_service_image, spec, base_id, force) for spec in SERVICE_IMAGES
            ]
        for future in futures:
            future.result()  # re-raises the first failure
    return [spec.tag for spec in SERVICE_IMAGES]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.service_images")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    try:
        ensure_docker()
        for tag in build_service_images(force=args.force):
            print(tag)
    except TestbedError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
