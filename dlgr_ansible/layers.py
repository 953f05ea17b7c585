"""Cut a `docker save` archive down to the layers a server does not have yet.

`docker load` (classic image store, Docker 20.10 to 26 at least) looks a layer up by its
chain ID before it opens that layer's file in the archive, and needs the file only when
the layer is missing. So an archive holding manifest.json, the image config and only the
missing layers loads on a server that has the others, and the image keeps its ID. Once
one layer is missing, every layer above it must be sent: a chain ID covers the layer and
all layers below it. (Moby image/tarexport/load.go; tried with 20.10 and 26, see the
issue 5 notes.)

The containerd image store (Docker 29's default on new installs) resolves layers by
their content, so a cut archive does not load there: callers send the whole image to
such servers.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The chain ID of each layer: its own diff ID on top of the chain below it."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            digest = hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest()
            chains.append(f"sha256:{digest}")
    return chains


@dataclass(frozen=True)
class Cut:
    layers: int  # layers in the image
    sent: list[str]  # diff IDs of the layers kept in the archive
    skipped_bytes: int  # size of the layer files left out (uncompressed)


def cut_archive(saved: Path, present: set[str], out: BinaryIO) -> Cut:
    """Write `saved` (a `docker save` of one image) to `out` as a gzip'd tar without the
    layers whose chain IDs are in `present` (the server's)."""
    with tarfile.open(saved) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        if len(manifest) != 1:
            raise ValueError(f"{saved} holds {len(manifest)} images; save one at a time")
        config = json.load(archive.extractfile(manifest[0]["Config"]))
        diff_ids = config["rootfs"]["diff_ids"]
        layer_files = manifest[0]["Layers"]
        if len(diff_ids) != len(layer_files):
            raise ValueError(f"{saved}: the manifest and the image config disagree on layers")
        first_missing = next(
            (i for i, chain in enumerate(chain_ids(diff_ids)) if chain not in present),
            len(diff_ids),
        )
        skip = set(layer_files[:first_missing])
        skipped_bytes = 0
        with (
            gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as packed,
            tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as cut,
        ):
            for member in archive:
                if member.name in skip:
                    skipped_bytes += member.size
                    continue
                source = archive.extractfile(member) if member.isfile() else None
                cut.addfile(member, source)
                if source is not None:
                    source.close()
    return Cut(layers=len(diff_ids), sent=diff_ids[first_missing:], skipped_bytes=skipped_bytes)


# One command on the server: the ID and layers of every image it holds. Together with
# the ID under the wanted name, this decides "already there" in one round trip.
SERVER_QUERY = (
    "docker image ls --all --quiet --no-trunc | sort -u | "
    "xargs -r docker image inspect --format '{{.Id}} {{json .RootFS.Layers}}'"
)


def server_chains(listing: str) -> tuple[set[str], set[str]]:
    """Image IDs and layer chain IDs on the server, from SERVER_QUERY's output."""
    ids: set[str] = set()
    chains: set[str] = set()
    for line in listing.splitlines():
        image_id, _, diff_ids = line.strip().partition(" ")
        if not image_id or not diff_ids:
            continue
        ids.add(image_id)
        chains.update(chain_ids(json.loads(diff_ids) or []))
    return ids, chains
