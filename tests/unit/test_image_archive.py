"""The docker_images role's archive logic (plugin_utils/docker_images_delivery/archive.py):
cutting `docker save` archives made here in the same layout (fakes, no Docker, no server)."""

import hashlib
import io
import json
import sys
import tarfile

import pytest

from tests.unit.fake_saved_image import PLUGIN_UTILS, layer, names_in, saved_image

sys.path.append(PLUGIN_UTILS)  # as the role's action plugin does
from docker_images_delivery.archive import chain_ids, cut_archive


def test_chain_ids_follow_the_moby_definition():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    expected = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, expected]
    assert chain_ids([]) == []


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
    present = set(chain_ids(diff_ids)[:present_layers])
    out = io.BytesIO()
    cut = cut_archive(tmp_path / "image.tar", present, out)
    names = names_in(out.getvalue())
    assert {n for n in names if n.endswith("layer.tar")} == kept
    assert "manifest.json" in names  # and the config: docker load needs both
    assert sum(n.endswith(".json") for n in names) == 2
    assert [layer.diff_id for layer in cut if layer.sent] == diff_ids[present_layers:]
    assert len(cut) == 3
    assert all(layer.size > 0 for layer in cut)


def test_a_layer_the_server_has_above_a_missing_one_is_still_sent(tmp_path):
    diff_ids = saved_image(tmp_path / "image.tar", [b"base", b"deps", b"experiment"])
    chains = chain_ids(diff_ids)
    out = io.BytesIO()
    cut = cut_archive(tmp_path / "image.tar", {chains[0], chains[2]}, out)
    assert [layer.diff_id for layer in cut if layer.sent] == diff_ids[1:]


def test_the_same_image_cuts_to_the_same_bytes(tmp_path):
    diff_ids = saved_image(tmp_path / "image.tar", [b"base", b"experiment"])
    present = set(chain_ids(diff_ids)[:1])
    first, second = io.BytesIO(), io.BytesIO()
    cut_archive(tmp_path / "image.tar", present, first)
    cut_archive(tmp_path / "image.tar", present, second)
    assert first.getvalue() == second.getvalue()


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
    present = set(chain_ids([diff_id, other_id, diff_id])[:2])
    out = io.BytesIO()
    cut = cut_archive(tmp_path / "image.tar", present, out)
    assert [layer.sent for layer in cut] == [False, False, True]
    assert {"v1-0/layer.tar", "v1-2/layer.tar"} <= names_in(out.getvalue())
    assert "v1-1/layer.tar" not in names_in(out.getvalue())


def test_an_archive_of_two_images_is_refused(tmp_path):
    saved_image(tmp_path / "image.tar", [b"base"])
    with tarfile.open(tmp_path / "image.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(tmp_path / "two.tar", "w") as tar:
        for member, data in members:
            if member.name == "manifest.json":
                data = json.dumps(manifest * 2).encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    with pytest.raises(ValueError, match="holds 2 images"):
        cut_archive(tmp_path / "two.tar", set(), io.BytesIO())
