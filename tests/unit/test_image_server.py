"""The docker_images role's dealings with the server (plugin_utils/docker_images_delivery:
images.py, server.py): the commands, reading their answer, what to do (fakes: answers
written here, no Docker, no server)."""

import json
import sys

import pytest

from tests.unit.fake_saved_image import PLUGIN_UTILS

sys.path.append(PLUGIN_UTILS)  # as the role's action plugin does
from docker_images_delivery import server
from docker_images_delivery.archive import chain_ids
from docker_images_delivery.images import image_from, image_from_attrs, parse_image

SETTINGS = '[["PATH=/bin"],["run", "it"],null,{"lab": "x"},"/experiment",""]'
A, B, C = ("sha256:" + x * 64 for x in "abc")


def server_answer(driver: str, named: str, *listing: str) -> str:
    mark = server.MARK
    return f"{driver}\n{mark}\n{named}\n{mark}\n" + "".join(f"{line}\n" for line in listing)


def parse_one(answer: str) -> server.ServerImages:
    return server.parse_server(answer, ["lab/exp:1"])["lab/exp:1"]


def test_the_servers_answer_gives_its_images_and_every_chain():
    a, b, c = A, B, C
    mark = server.MARK
    listing = (
        f"sha256:one 2026-11-21T10:00:00Z {json.dumps([a, b])} {SETTINGS}\n"
        f"sha256:two 2026-11-21T11:00:00.5Z {json.dumps([a, c])} {SETTINGS}\n\n"
    )
    named = f"sha256:one 2026-11-21T10:00:00Z {json.dumps([a, b])} {SETTINGS}"
    answer = f'[["Storage Driver","overlay2"]]\n{mark}\n{named}\n{mark}\n{listing}'
    held = parse_one(answer)
    assert [image.id for image in held.images] == ["sha256:one", "sha256:two"]
    assert held.chains == {*chain_ids([a, b]), *chain_ids([a, c])}
    assert held.current.id == "sha256:one"
    assert held.current.diff_ids == (a, b)
    assert not held.containerd_store


def test_a_containerd_image_store_and_an_unnamed_image_are_recognised():
    mark = server.MARK
    answer = f'[["driver-type","io.containerd.snapshotter.v1"]]\n{mark}\n{mark}\n'
    held = parse_one(answer)
    assert held.containerd_store
    assert held.current is None
    assert held.images == []


def test_a_build_is_recognised_under_another_stores_id_only_there():
    """The containerd store names a build by its manifest's digest, not its config's."""
    a = A
    when = "2026-11-21T10:00:00.1Z"
    local = image_from(
        "sha256:config",
        when,
        [a],
        [["PATH=/bin"], ["run", "it"], None, {"lab": "x"}, "/experiment", ""],
    )
    loaded = parse_image(f"sha256:manifest {when} {json.dumps([a])} {SETTINGS}")
    other_cmd = parse_image(
        f"sha256:other {when} {json.dumps([a])} {SETTINGS.replace('it', 'that')}"
    )
    assert local.same_build(loaded, loosely=True)
    assert not local.same_build(loaded, loosely=False)
    assert not local.same_build(other_cmd, loosely=True)  # same time and layers, new CMD
    mark = server.MARK
    held = parse_one(f"[]\n{mark}\n{mark}\nsha256:manifest {when} {json.dumps([a])} {SETTINGS}\n")
    assert held.holds(local, loosely=True) == loaded
    assert held.holds(local, loosely=False) is None


def test_the_docker_apis_inspect_gives_the_same_build_as_the_servers_line():
    """The controller reads its image through the SDK, the server's through the CLI."""
    when = "2026-11-21T10:00:00.1Z"
    attrs = {
        "Created": when,
        "RootFS": {"Layers": [A]},
        "Config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["run", "it"],
            "Entrypoint": None,
            "Labels": {"lab": "x"},
            "WorkingDir": "/experiment",
            "User": "",
        },
    }
    loaded = parse_image(f"sha256:manifest {when} {json.dumps([A])} {SETTINGS}")
    assert image_from_attrs("sha256:config", attrs).same_build(loaded, loosely=True)
    assert image_from_attrs("sha256:config", {}).diff_ids == ()


def test_an_answer_without_the_marks_is_refused():
    with pytest.raises(ValueError, match="unexpected answer"):
        server.parse_server("sh: docker: not found\n", ["lab/exp:1"])


def test_one_query_looks_for_several_images_and_shares_the_listing():
    names = ["lab/exp:1", "redis:8", "edoburu/pgbouncer:1"]
    query = server.server_query(names, "/var/tmp")
    assert query.count(server.MARK) == len(names) + 1
    assert all(f" {name} 2>/dev/null; echo {server.MARK}" in query for name in names)
    mark = server.MARK
    answer = f"[]\n{mark}\n{build('sha256:exp', [A])}\n{mark}\n{mark}\n{build('sha256:pgb', [B])}\n{mark}\n"
    answer += f"{build('sha256:exp', [A])}\n{build('sha256:pgb', [B])}\n"
    held = server.parse_server(answer, names)
    assert [held[name].current.id if held[name].current else None for name in names] == [
        "sha256:exp",
        None,
        "sha256:pgb",
    ]
    assert held["redis:8"].chains == {*chain_ids([A]), *chain_ids([B])}
    with pytest.raises(ValueError, match="unexpected answer"):
        server.parse_server(answer, names[:2])


def test_the_query_quotes_the_name_and_the_upload_directory():
    query = server.server_query(["lab/exp:1; rm -rf /"], "/var/tmp/it's")
    assert "'lab/exp:1; rm -rf /'" in query
    assert "'/var/tmp/it'\"'\"'s'" in query


def test_every_command_quotes_what_it_is_given():
    name, path = "lab/exp:1; rm -rf /", "/var/tmp/it's dir"
    quoted_name, quoted_path = "'lab/exp:1; rm -rf /'", "'/var/tmp/it'\"'\"'s dir'"
    assert quoted_name in server.tag_command("sha256:x", name)
    assert quoted_path in server.upload_dir_command(path)
    assert quoted_name in server.load_command(path, name)
    assert quoted_path in server.load_command(path, name)
    assert server.remove_command(path) == f"rm -rf {quoted_path}"


def test_only_an_upload_directory_is_removed():
    assert server.is_upload_dir("/var/tmp/dlgr-image-AbC12345", "/var/tmp")
    assert not server.is_upload_dir("", "/var/tmp")
    assert not server.is_upload_dir("/var/tmp", "/var/tmp")
    assert not server.is_upload_dir("/home/dallinger/dlgr-image-x", "/var/tmp")


def build(image_id: str, layers: list[str], when: str = "2026-11-21T10:00:00Z") -> str:
    return f"{image_id} {when} {json.dumps(layers)} {SETTINGS}"


LOCAL = parse_image(build("sha256:local", [A, B]))
OVERLAY = '[["Storage Driver","overlay2"]]'
CONTAINERD = '[["driver-type","io.containerd.snapshotter.v1"]]'


def test_nothing_to_do_when_the_name_is_this_build():
    held = parse_one(server_answer(OVERLAY, build("sha256:local", [A, B])))
    assert server.next_step(LOCAL, held, local_containerd=False).kind == "nothing"


def test_a_build_held_under_another_name_is_only_named():
    held = parse_one(
        server_answer(OVERLAY, build("sha256:old", [A]), build("sha256:local", [A, B]))
    )
    step = server.next_step(LOCAL, held, local_containerd=False)
    assert (step.kind, step.held_id) == ("name", "sha256:local")


def test_a_missing_build_is_sent_without_the_layers_the_server_has():
    held = parse_one(server_answer(OVERLAY, "", build("sha256:base", [A])))
    step = server.next_step(LOCAL, held, local_containerd=False)
    assert (step.kind, step.present, step.whole) == ("send", frozenset([A]), False)


def test_a_containerd_store_gets_the_whole_image_and_matches_loosely():
    held = parse_one(server_answer(CONTAINERD, "", build("sha256:base", [A])))
    step = server.next_step(LOCAL, held, local_containerd=False)
    assert (step.kind, step.present, step.whole) == ("send", frozenset(), True)
    # Another ID for the same build: only a containerd store on either side allows it.
    same = server_answer(OVERLAY, build("sha256:digest", [A, B]))
    assert server.next_step(LOCAL, parse_one(same), local_containerd=True).kind == ("nothing")
    assert server.next_step(LOCAL, parse_one(same), local_containerd=False).kind == ("send")
