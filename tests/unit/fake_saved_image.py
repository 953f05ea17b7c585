"""Fake `docker save` archives for the image delivery unit tests: laid out as Docker
20.10 writes them, made here without Docker."""

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

ROLE = Path(__file__).resolve().parents[2] / "roles/docker_images"
# Where the role keeps its plugin's code; the plugin puts it on sys.path the same way.
PLUGIN_UTILS = str(ROLE / "plugin_utils")


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
