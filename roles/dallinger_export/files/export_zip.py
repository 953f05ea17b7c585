"""Zip an export folder as Dallinger does (data/<table>.csv, experiment_id.md).

Streams file by file, so memory does not grow with table size, and writes fixed
timestamps in sorted order: the same data gives the same zip, byte for byte, which
keeps a repeated export from reporting a change.
"""

import os
import sys
import zipfile

os.umask(0o077)  # participants' data: readable by the SSH user only
source, target = sys.argv[1], sys.argv[2]
empty = [
    name
    for name in os.listdir(os.path.join(source, "data"))
    if not os.path.getsize(os.path.join(source, "data", name))
]
if empty:  # COPY ... CSV HEADER writes at least the header
    sys.exit(f"no CSV header in {', '.join(sorted(empty))}")
names = sorted(
    os.path.relpath(os.path.join(folder, name), source)
    for folder, _, files in os.walk(source)
    for name in files
)
with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
    for name in names:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        with open(os.path.join(source, name), "rb") as src, archive.open(info, "w") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
with zipfile.ZipFile(target) as archive:
    broken = archive.testzip()
if broken:
    sys.exit(f"{target}: {broken} is damaged")
