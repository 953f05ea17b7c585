"""The docker_images role's send plugin: cutting `docker save` archives made here in the
same layout, and reading the server's answer (fakes, no Docker, no server)."""

import gzip
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

PLUGIN = (
    Path(__file__).resolve().parents[2] / "roles/docker_images/action_plugins/docker_images_send.py"
)
_spec = importlib.util.spec_from_file_location("docker_images_send", PLUGIN)
layers = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = layers  # dataclasses look their module up
_spec.loader.exec_module(layers)


def layer(content: bytes) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("file")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def saved_image(path, contents: list[bytes]):
    """A `docker save` archive as Docker 20.10 writes it: <v1id>/layer.tar, config, manifest."""
    built = [layer(content) for content in contents]
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [d for _, d in built]}})
    config_name = hashlib.sha256(config.encode()).hexdigest() + ".json"
    files = {f"v1-{n}/layer.tar": data for n, (data, _) in enumerate(built)}
    files |= {f"v1-{n}/VERSION": b"1.0" for n in range(len(built))}
    files[config_name] = config.encode()
    manifest = [
        {"Config": config_name, "RepoTags": ["lab/exp:1"], "Layers": list(files)[: len(built)]}
    ]
    files["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return [d for _, d in built]


def names_in(cut: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(cut))) as tar:
        return set(tar.getnames())


def test_chain_ids_follow_the_moby_definition():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    expected = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert layers.chain_ids([a, b]) == [a, expected]
    assert layers.chain_ids([]) == []


@pytest.mark.parametrize(
    ("present_layers", "kept"),
    [
        (0, {"v1-0/layer.tar", "v1-1/layer.tar", "v1-2/layer.tar"}),
        (2, {"v1-2/layer.tar"}),
        (3, set()),
    ],
)
def test_only_layers_above_the_servers_chain_are_kept(tmp_path, present_layers, kept):
    diff_ids = saved_image(tmp_path / "image.tar", [b"base" * 1000, b"deps", b"experiment"])
    present = set(layers.chain_ids(diff_ids)[:present_layers])
    out = io.BytesIO()
    cut = layers.cut_archive(tmp_path / "image.tar", present, out)
    names = names_in(out.getvalue())
    assert {n for n in names if n.endswith("layer.tar")} == kept
    assert "manifest.json" in names  # and the config: docker load needs both
    assert sum(n.endswith(".json") for n in names) == 2
    assert [layer.diff_id for layer in cut if layer.sent] == diff_ids[present_layers:]
    assert len(cut) == 3
    assert all(layer.size > 0 for layer in cut)


def test_a_layer_the_server_has_above_a_missing_one_is_still_sent(tmp_path):
    diff_ids = saved_image(tmp_path / "image.tar", [b"base", b"deps", b"experiment"])
    chains = layers.chain_ids(diff_ids)
    out = io.BytesIO()
    cut = layers.cut_archive(tmp_path / "image.tar", {chains[0], chains[2]}, out)
    assert [layer.diff_id for layer in cut if layer.sent] == diff_ids[1:]


def test_the_same_image_cuts_to_the_same_bytes(tmp_path):
    diff_ids = saved_image(tmp_path / "image.tar", [b"base", b"experiment"])
    present = set(layers.chain_ids(diff_ids)[:1])
    first, second = io.BytesIO(), io.BytesIO()
    layers.cut_archive(tmp_path / "image.tar", present, first)
    layers.cut_archive(tmp_path / "image.tar", present, second)
    assert first.getvalue() == second.getvalue()


SETTINGS = '[["PATH=/bin"],["run", "it"],null,{"lab": "x"},"/experiment",""]'


def test_the_servers_answer_gives_its_images_and_every_chain():
    a, b, c = ("sha256:" + x * 64 for x in "abc")
    mark = layers._MARK
    listing = (
        f"sha256:one 2026-11-21T10:00:00Z {json.dumps([a, b])} {SETTINGS}\n"
        f"sha256:two 2026-11-21T11:00:00.5Z {json.dumps([a, c])} {SETTINGS}\n\n"
    )
    named = f"sha256:one 2026-11-21T10:00:00Z {json.dumps([a, b])} {SETTINGS}"
    answer = f'[["Storage Driver","overlay2"]]\n{mark}\n{named}\n{mark}\n{listing}'
    server = layers.parse_server(answer)
    assert [image.id for image in server.images] == ["sha256:one", "sha256:two"]
    assert server.chains == {*layers.chain_ids([a, b]), *layers.chain_ids([a, c])}
    assert server.current.id == "sha256:one"
    assert server.current.diff_ids == (a, b)
    assert not server.containerd_store


def test_a_containerd_image_store_and_an_unnamed_image_are_recognised():
    mark = layers._MARK
    answer = f'[["driver-type","io.containerd.snapshotter.v1"]]\n{mark}\n{mark}\n'
    server = layers.parse_server(answer)
    assert server.containerd_store
    assert server.current is None
    assert server.images == []


def test_a_build_is_recognised_under_another_stores_id_only_there():
    """The containerd store names a build by its manifest's digest, not its config's."""
    a = "sha256:" + "a" * 64
    when = "2026-11-21T10:00:00.1Z"
    local = layers.image_from(
        "sha256:config",
        when,
        [a],
        [["PATH=/bin"], ["run", "it"], None, {"lab": "x"}, "/experiment", ""],
    )
    loaded = layers.parse_image(f"sha256:manifest {when} {json.dumps([a])} {SETTINGS}")
    other_cmd = layers.parse_image(
        f"sha256:other {when} {json.dumps([a])} {SETTINGS.replace('it', 'that')}"
    )
    assert local.same_build(loaded, loosely=True)
    assert not local.same_build(loaded, loosely=False)
    assert not local.same_build(other_cmd, loosely=True)  # same time and layers, new CMD
    mark = layers._MARK
    server = layers.parse_server(
        f"[]\n{mark}\n{mark}\nsha256:manifest {when} {json.dumps([a])} {SETTINGS}\n"
    )
    assert server.holds(local, loosely=True) == loaded
    assert server.holds(local, loosely=False) is None


def test_a_layer_used_twice_is_kept_when_a_sent_layer_needs_it(tmp_path):
    """Docker 20.10 saves a repeated (e.g. empty) layer as a symlink to its first copy."""
    data, diff_id = layer(b"")
    other, other_id = layer(b"experiment")
    files = {"v1-0/layer.tar": data, "v1-1/layer.tar": other}
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [diff_id, other_id, diff_id]}})
    files["config.json"] = config.encode()
    manifest = [
        {
            "Config": "config.json",
            "RepoTags": None,
            "Layers": ["v1-0/layer.tar", "v1-1/layer.tar", "v1-2/layer.tar"],
        }
    ]
    files["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(tmp_path / "image.tar", "w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        link = tarfile.TarInfo("v1-2/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../v1-0/layer.tar"
        tar.addfile(link)
    present = set(layers.chain_ids([diff_id, other_id, diff_id])[:2])
    out = io.BytesIO()
    cut = layers.cut_archive(tmp_path / "image.tar", present, out)
    assert [layer.sent for layer in cut] == [False, False, True]
    assert {"v1-0/layer.tar", "v1-2/layer.tar"} <= names_in(out.getvalue())
    assert "v1-1/layer.tar" not in names_in(out.getvalue())


def test_an_answer_without_the_marks_is_refused():
    with pytest.raises(ValueError, match="unexpected answer"):
        layers.parse_server("sh: docker: not found\n")


def test_the_query_quotes_the_name_and_the_upload_directory():
    query = layers.server_query("lab/exp:1; rm -rf /", "/var/tmp/it's")
    assert "'lab/exp:1; rm -rf /'" in query
    assert "'/var/tmp/it'\"'\"'s'" in query


def test_the_cli_lists_each_layer_from_the_roles_stats():
    from dlgr_ansible.images import delivery_lines

    stats = {
        "dlgr_images": {
            "lab": {
                "exp:2": {
                    "msg": "exp:2: sent 1 of 2 layers, 2048 bytes compressed",
                    "layers": [
                        {"diff_id": "sha256:" + "a" * 64, "size": 74_100_000, "sent": False},
                        {"diff_id": "sha256:" + "b" * 64, "size": 1_536, "sent": True},
                    ],
                }
            }
        }
    }
    lines = delivery_lines(stats)
    assert lines[0] == "lab: exp:2: sent 1 of 2 layers, 2048 bytes compressed"
    assert lines[1].split() == ["layer", "1/2", "a" * 12, "74.1", "MB", "on", "the", "server"]
    assert lines[2].split() == ["layer", "2/2", "b" * 12, "1.5", "kB", "sent"]
    assert delivery_lines({}) == []
