"""`images push` sends only the layers a server lacks: against a real target with Docker,
images built here on a real base, and faults made on the target (full disk, dropped SSH)."""

import base64
import dataclasses
import os
import secrets
import signal
import subprocess
import time

import pytest

from tests.integration.conftest import (
    BIN_DIR,
    Researcher,
    assert_clean_failure,
    new_researcher,
)
from tests.testbed import experiment_image, registry, service_images, targets

pytestmark = pytest.mark.integration

IMAGE = "dlgr-test/delivery"
USER, PASSWORD = "lab", f"pw-{secrets.token_hex(12)}"
BLOB = 300_000  # random, so gzip cannot shrink it: the top layer's size is known


def as_user(target, command: str, **options) -> subprocess.CompletedProcess:
    return targets.exec_in(target, "runuser", "-l", "dallinger", "-c", command, **options)


def server_id(target, image: str) -> str:
    return as_user(target, f"docker image inspect -f '{{{{.Id}}}}' {image}").stdout.strip()


def local_id(image: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def person(tmp_path_factory, ssh_key) -> Researcher:
    return new_researcher(tmp_path_factory.mktemp("delivery"), ssh_key)


@pytest.fixture(scope="module")
def images(tmp_path_factory, testbed):
    """Versions 1 to 3: the Redis stand-in plus a different random top layer each."""
    service_images.build_service_images()
    context = tmp_path_factory.mktemp("delivery-context")
    (context / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\nCOPY blob /blob\n")
    names = [f"{IMAGE}:{version}" for version in ("1", "2", "3")]
    for name in names:
        (context / "blob").write_bytes(os.urandom(BLOB))
        targets.docker_build(context, service_images.REDIS_IMAGE, f"--tag={name}")
    yield names
    subprocess.run(["docker", "rmi", *names, f"{IMAGE}:again"], capture_output=True)


@pytest.fixture(scope="module")
def server(testbed, ssh_key, person):
    """A target with Docker (`servers add` installs it) and no images."""
    address = targets.free_loopback_address()
    target = targets.start_target(
        f"dlgr-delivery-{address.rsplit('.', 1)[1]}",
        address,
        ssh_key.with_suffix(".pub").read_text(),
    )
    try:
        added = person.run("servers", "add", "--host", address, "--user", "dallinger")
        assert added.returncode == 0, added.stderr
        yield target
    finally:
        targets.stop_target(target)


def push(person: Researcher, server, image: str) -> tuple[subprocess.CompletedProcess, dict]:
    result, report = person.run_json("images", "push", image)
    assert result.returncode == 0, result.stdout + result.stderr
    return result, report["dlgr_images"][server.address][image]


def uploads_left(person: Researcher, server) -> list[str]:
    on_server = as_user(server, "ls -d /var/tmp/dlgr-image-* 2>/dev/null").stdout.split()
    # The plugin's local copy is in the run's private directory, removed with it.
    here = [*person.tmp.glob("dlgr-image-*"), *person.tmp.glob("dlgr-ansible-*")]
    return on_server + [str(path) for path in here]


def test_an_update_sends_only_its_new_layer_and_a_rerun_nothing(person, server, images):
    first, second, _ = images
    _, sent = push(person, server, first)
    assert all(layer["sent"] for layer in sent["layers"])
    assert server_id(server, first) == local_id(first)

    result, sent = push(person, server, second)
    assert [layer["sent"] for layer in sent["layers"]][-2:] == [False, True]
    assert sum(layer["sent"] for layer in sent["layers"]) == 1
    # The random layer barely compresses; the rest is the image config and the tar framing.
    assert BLOB < sent["sent_bytes"] < BLOB * 1.1 + 16_384
    assert server_id(server, second) == local_id(second)
    assert "on the server" in result.stderr
    assert "sent 1 of" in result.stderr

    result, report = person.run_json("images", "push", second)
    assert result.returncode == 0
    assert report["hosts"][server.address]["changed"] == 0
    assert report["dlgr_images"][server.address][second]["msg"] == f"{second} is already there"

    subprocess.run(["docker", "tag", second, f"{IMAGE}:again"], check=True)
    _, sent = push(person, server, f"{IMAGE}:again")
    assert sent["sent_bytes"] == 0
    assert "had this build" in sent["msg"]
    assert server_id(server, f"{IMAGE}:again") == local_id(second)
    assert uploads_left(person, server) == []


def test_a_full_disk_fails_clearly_and_a_rerun_succeeds(person, server, images):
    third = images[2]
    targets.exec_in(
        server, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", "/var/tmp", check=True
    )
    try:
        result = person.run("images", "push", third)
    finally:
        targets.exec_in(server, "umount", "/var/tmp", check=True)
    assert_clean_failure(result, f"Uploading {third} failed, nothing was loaded", "No space left")
    assert server_id(server, third) == ""
    push(person, server, third)
    assert server_id(server, third) == local_id(third)
    assert uploads_left(person, server) == []


def push_until(person: Researcher, image: str, started, what: str) -> subprocess.Popen:
    """`images push` in the background, returned once `started()` is true."""
    running = subprocess.Popen(
        [str(BIN_DIR / "dlgr-ansible"), "images", "push", image],
        env=person.env,
        cwd=person.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not started():
        assert running.poll() is None, running.communicate()
        assert time.monotonic() < deadline, f"{what} never started"
        time.sleep(0.05)
    return running


def test_a_connection_dropped_during_the_load_leaves_no_tagged_image(person, server):
    big = experiment_image.build_experiment_images()[0]
    push_run = push_until(
        person,
        big,
        lambda: (
            targets.exec_in(server, "pgrep", "-u", "dallinger", "-f", "docker load").returncode == 0
        ),
        "the load",
    )
    targets.exec_in(server, "pkill", "-KILL", "-u", "dallinger", check=True)
    out, err = push_run.communicate(timeout=300)
    assert_clean_failure(
        subprocess.CompletedProcess([], push_run.returncode, out, err),
        f"Loading {big} on the server failed: the SSH connection dropped",
    )
    assert server_id(server, big) == ""

    push(person, server, big)
    assert server_id(server, big) == local_id(big)
    assert uploads_left(person, server) == []


def test_ctrl_c_while_preparing_leaves_nothing_and_a_rerun_succeeds(person, server):
    image = experiment_image.build_experiment_images()[1]
    assert server_id(server, image) == ""
    # The plugin's own directory in the run's private one: `docker save` has begun.
    interrupted = push_until(
        person,
        image,
        lambda: bool(list(person.tmp.glob("dlgr-ansible-*/tmp/dlgr-image-*"))),
        "the save",
    )
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=120)
    assert_clean_failure(
        subprocess.CompletedProcess([], interrupted.returncode, "", err), "Interrupted"
    )
    # Ansible's worker outlives ansible-playbook; it stops at its next step.
    deadline = time.monotonic() + 60
    while subprocess.run(["pgrep", "-f", str(person.tmp)], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the interrupted push is still running"
        time.sleep(0.2)
    assert list(person.tmp.iterdir()) == []
    # The plugin checks before each step on the server; when it was already past the last
    # check, the load finished. Either way the name never points at a part.
    assert server_id(server, image) in ("", local_id(image))
    assert uploads_left(person, server) == []

    push(person, server, image)
    assert server_id(server, image) == local_id(image)


@pytest.fixture(scope="module")
def private_image(person, server, images):
    """The registry in the target, holding version 1 under a login; the target lacks it."""
    registry.start_registry(server, USER, PASSWORD)
    push(person, server, images[0])
    reference = f"{registry.ADDRESS}/lab/experiment:1"
    registry.publish(server, images[0], reference, USER, PASSWORD)
    assert server_id(server, reference) == ""
    return reference


def with_login(person: Researcher, password: str) -> Researcher:
    login = {"DLGR_REGISTRY_USERNAME": USER, "DLGR_REGISTRY_PASSWORD": password}
    return dataclasses.replace(person, env={**person.env, **login})


def secret_files(server, *secrets_: str) -> list[str]:
    """Files on the server that hold any of `secrets_`, outside Docker's own data."""
    pattern = " ".join(f"-e {s}" for s in secrets_)
    found = targets.exec_in(
        server, "sh", "-c", f"grep -rlF {pattern} /home /root /tmp /var/tmp /etc 2>/dev/null"
    )
    return found.stdout.split()


def test_a_private_registry_login_pulls_without_leaking(person, server, private_image):
    refused = with_login(person, "not-the-password").run("images", "pull", private_image)
    assert_clean_failure(refused, f"The registry {registry.ADDRESS} refused the login of {USER}")
    assert "not-the-password" not in refused.stdout + refused.stderr
    assert server_id(server, private_image) == ""
    assert as_user(server, "ls -d /var/tmp/dlgr-docker-config-* 2>/dev/null").stdout == ""

    result = with_login(person, PASSWORD).run(
        "images", "pull", private_image, "-vvv", "--keep-artifacts"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert server_id(server, private_image) != ""
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert PASSWORD not in result.stdout + result.stderr
    artifacts = next(person.tmp.glob("dlgr-ansible-*"))
    leaked = [
        path
        for path in artifacts.rglob("*")
        if path.is_file()
        and (PASSWORD.encode() in path.read_bytes() or encoded.encode() in path.read_bytes())
    ]
    assert leaked == []
    # By default the login is gone with the pull: no Docker config, no private copy.
    assert secret_files(server, PASSWORD, encoded) == []
    assert as_user(server, "ls -d /var/tmp/dlgr-docker-config-* 2>/dev/null").stdout == ""

    as_user(server, f"docker rmi {private_image}", check=True)
    kept = with_login(person, PASSWORD).run("images", "pull", private_image, "--keep-login")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert secret_files(server, encoded) == ["/home/dallinger/.docker/config.json"]
    mode = as_user(server, "stat -c %a .docker .docker/config.json").stdout.split()
    assert mode == ["700", "600"]


def test_a_containerd_image_store_gets_whole_images_once(researcher, make_target, images):
    """Docker 29's default store on new installs, here Docker 26 with the feature on."""
    target = make_target()
    added = researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    assert added.returncode == 0, added.stderr
    targets.exec_in(
        target,
        "sh",
        "-c",
        'echo \'{"features": {"containerd-snapshotter": true}}\' > /etc/docker/daemon.json'
        " && systemctl restart docker",
        check=True,
    )
    assert "containerd.snapshotter" in as_user(target, "docker info").stdout
    first, second, _ = images
    for image in (first, second):
        result, report = researcher.run_json("images", "push", image)
        assert result.returncode == 0, result.stdout + result.stderr
        sent = report["dlgr_images"][target.address][image]
        assert sent["whole"]
        assert all(layer["sent"] for layer in sent["layers"])
        # Its own ID for the build; the name is what counts.
        assert server_id(target, image) != ""
    result, report = researcher.run_json("images", "push", first)
    assert report["hosts"][target.address]["changed"] == 0
    assert report["dlgr_images"][target.address][first]["msg"] == f"{first} is already there"
