"""A `docker save` archive cut down to the layers the server lacks, by chain ID."""

from __future__ import annotations

import gzip
import hashlib
import json
import posixpath
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
class Layer:
    diff_id: str
    size: int  # uncompressed, as in the saved archive
    sent: bool


def cut_archive(saved: Path, present: set[str], out: BinaryIO) -> list[Layer]:
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
        # A layer used twice (empty layers often are) is one file, or a symlink to the
        # first copy: keep whatever a sent layer needs.
        needed = set(layer_files[first_missing:])
        for member in archive.getmembers():
            if member.name in needed and member.issym():
                target = posixpath.join(posixpath.dirname(member.name), member.linkname)
                needed.add(posixpath.normpath(target))
        skip = set(layer_files[:first_missing]) - needed
        sizes = {}
        # mtime=0: the same cut gives the same bytes, which keeps transfers comparable.
        with (
            gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as packed,
            tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as cut,
        ):
            for member in archive:
                sizes[member.name] = member.size
                if member.name in skip:
                    continue
                source = archive.extractfile(member) if member.isfile() else None
                cut.addfile(member, source)
                if source is not None:
                    source.close()
    return [
        Layer(diff_id, sizes.get(name, 0), sent=i >= first_missing)
        for i, (diff_id, name) in enumerate(zip(diff_ids, layer_files, strict=True))
    ]
