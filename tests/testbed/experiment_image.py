"""Two builds of a real Dallinger experiment image for end-to-end tests.

examples/hello/ (also what `make demo` deploys) holds the recipe: Debian bookworm, python3-venv,
``pip install dallinger==12.4.0`` (constraints.txt pins the rest) and a minimal
experiment at /experiment. It is built twice, differing only in the build arg
EXPERIMENT_VERSION ("1" and "2": /experiment/VERSION, a label and the
experiment's GET /testbed/version route), so update tests can tell the running
version apart. The second build reuses every layer but the last two.

pip runs inside ``docker build``. Behind a TLS-intercepting proxy (this test
bed, many university networks) it needs that proxy's CA: the bundle named by
``ca_bundle`` (default: DLGR_TEST_CA_BUNDLE, else the host's
/etc/ssl/certs/ca-certificates.crt if present; an empty DLGR_TEST_CA_BUNDLE
turns it off) is copied into a temporary copy of the build context and passed
to pip. It never reaches the final image, and it is
not part of the cache key: it changes how packages are fetched, not which.

Each image carries a label with the hash of the recipe, the base image id and
its version; a warm call only inspects labels. ``python -m
tests.testbed.experiment_image [--force] [--ca-bundle PATH]`` builds them from
the command line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from dlgr_ansible.build import CA_IN_CONTEXT
from tests.testbed.service_images import _label, context_hash
from tests.testbed.targets import (
    CONTEXT_LABEL,
    REPO_ROOT,
    TestbedError,
    _docker,
    docker_build,
    ensure_base_image,
    ensure_docker,
    image_build_lock,
    image_id,
)

EXPERIMENT_CONTEXT = REPO_ROOT / "examples" / "hello"
SUITE = "bookworm"  # what Dallinger's own images are based on
EXPERIMENT_IMAGE = "dlgr-test/experiment"
VERSIONS = ("1", "2")
EXPERIMENT_IMAGES = tuple(f"{EXPERIMENT_IMAGE}:{version}" for version in VERSIONS)
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The second build with its experiment failing at import: its web process exits at start.
BROKEN_IMAGE = f"{EXPERIMENT_IMAGE}:broken"
BROKEN_DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN echo 'raise RuntimeError("broken on purpose: a test image")' >> experiment.py
"""


def default_ca_bundle() -> Path | None:
    """DLGR_TEST_CA_BUNDLE if set (empty: none), else the host's bundle if present."""
    configured = os.environ.get("DLGR_TEST_CA_BUNDLE")
    if configured is not None:
        return Path(configured) if configured else None
    return SYSTEM_CA_BUNDLE if SYSTEM_CA_BUNDLE.is_file() else None


def _context_label(base_id: str | None, version: str) -> str:
    return f"{context_hash(EXPERIMENT_CONTEXT, base_id)}-v{version}"


def build_experiment_images(
    force: bool = False, ca_bundle: Path | str | None = "default"
) -> tuple[str, str]:
    """Build dlgr-test/experiment:1 and :2 (and the bookworm base if missing).

    Up-to-date images are reused unless `force`, which rebuilds them without the
    layer cache. `ca_bundle`: see the module docstring. Returns the two tags.
    """
    with image_build_lock():
        _build_experiment_images(force, ca_bundle)
    return EXPERIMENT_IMAGES


def _build_experiment_images(force: bool, ca_bundle: Path | str | None) -> None:
    base = ensure_base_image(SUITE)
    base_id = image_id(base)
    wanted = {f"{EXPERIMENT_IMAGE}:{v}": _context_label(base_id, v) for v in VERSIONS}
    stale = [tag for tag, label in wanted.items() if force or _label(tag) != label]
    if not stale:
        return

    bundle = default_ca_bundle() if ca_bundle == "default" else ca_bundle
    with tempfile.TemporaryDirectory(prefix="dlgr-experiment-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(EXPERIMENT_CONTEXT, context)
        if bundle is not None:
            bundle = Path(bundle)
            if not bundle.is_file():
                raise TestbedError(f"CA bundle {bundle} not found")
            shutil.copyfile(bundle, context / CA_IN_CONTEXT)
        no_cache = ["--no-cache"] if force else []
        for n, tag in enumerate(stale):
            version = tag.rsplit(":", 1)[1]
            previous = image_id(tag)
            docker_build(
                context,
                base,
                # The first forced build refreshes every layer, the next reuses them.
                *(no_cache if n == 0 else []),
                f"--build-arg=EXPERIMENT_VERSION={version}",
                f"--label={CONTEXT_LABEL}={wanted[tag]}",
                f"--tag={tag}",
            )
            if previous and previous != image_id(tag):
                _docker("rmi", previous, check=False)  # the outdated image, now untagged


def build_broken_image() -> str:
    """What a typo in experiment.py makes of the second image; returns its tag.

    Update tests deploy it to see the previous version keep serving. One layer on top
    of the second image, rebuilt whenever that changed.
    """
    base = build_experiment_images()[1]
    wanted = f"{_label(base)}-broken"
    with image_build_lock():
        if _label(BROKEN_IMAGE) != wanted:
            with tempfile.TemporaryDirectory(prefix="dlgr-broken-") as tmp:
                (Path(tmp) / "Dockerfile").write_text(BROKEN_DOCKERFILE)
                docker_build(
                    Path(tmp), base, f"--label={CONTEXT_LABEL}={wanted}", f"--tag={BROKEN_IMAGE}"
                )
    return BROKEN_IMAGE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.experiment_image")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument(
        "--ca-bundle",
        metavar="PATH",
        help="CA bundle for pip inside the build ('' for none; default: $DLGR_TEST_CA_BUNDLE,"
        f" else {SYSTEM_CA_BUNDLE} if present)",
    )
    args = parser.parse_args(argv)
    bundle: Path | str | None = "default"
    if args.ca_bundle is not None:
        bundle = Path(args.ca_bundle) if args.ca_bundle else None
    try:
        ensure_docker()
        for tag in build_experiment_images(force=args.force, ca_bundle=bundle):
            print(tag)
    except TestbedError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
