"""Send the files of a controller folder that a server folder lacks, in one tar stream
over the task's own connection (PsyNet's assets: `psynet deploy ssh` sends each file with
an SFTP call of its own).

A file counts as there when the server has a file of that path: PsyNet names asset files
after their content (cached ones) or a new uuid (an experiment's own), so a path does not
change content. Files arrive whole or not at all: the archive is unpacked into a folder of
its own next to the destination, then hard-linked into it, file by file, without
replacing any (`cp -R -l -n`, which leaves the destination's own mode alone); a run cut
off leaves that folder, which the next one removes. Runs as the SSH user, who must own the destination (the role makes it so first). The
options are documented in the role's library/dallinger_app_assets.py, for ansible-doc.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import tarfile
import tempfile
import time
from pathlib import Path

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

INCOMING = ".dlgr-incoming-"
# An upload goes in pieces of this size (each one held in memory, one SSH command).
UPLOAD_CHUNK = 16 * 1024 * 1024


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("src", "dest"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        started = time.monotonic()
        src, dest = self._task.args.get("src"), self._task.args.get("dest")
        if not isinstance(src, str) or not Path(src).is_dir():
            raise AnsibleActionFail(f"src: a folder on the controller (got {src!r})")
        if not isinstance(dest, str) or not posixpath.isabs(dest):
            raise AnsibleActionFail(f"dest: an absolute folder path on the server (got {dest!r})")
        dest = posixpath.normpath(dest)
        here = local_files(Path(src))
        there = set(self._shell(listing_command(dest), "Listing the files").split("\0"))
        missing = sorted(set(here) - there)
        sent = sum(here[name] for name in missing)
        result.update(files=len(here), sent_files=len(missing), sent_bytes=sent)
        if missing and not self._task.check_mode:
            self._send(Path(src), missing, dest)
        result["changed"] = bool(missing)
        result["msg"] = (
            f"sent {len(missing)} of {len(here)} files ({sent} bytes)"
            if missing
            else f"the server has all {len(here)} files"
        )
        result["seconds"] = round(time.monotonic() - started, 3)
        return result

    def _send(self, src: Path, names: list[str], dest: str) -> None:
        with tempfile.TemporaryDirectory(prefix="dlgr-assets-") as local:
            archive = Path(local) / "assets.tar"
            with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
                for name in names:
                    tar.add(src / name, arcname=name, recursive=False)
            incoming = self._shell(incoming_command(dest), "Making a folder for the upload")
            incoming = incoming.strip()
            upload = posixpath.join(incoming, "assets.tar")
            with archive.open("rb") as data:
                first = True
                while chunk := data.read(UPLOAD_CHUNK):
                    redirect = ">" if first else ">>"
                    self._shell(f"cat {redirect} {shlex.quote(upload)}", "Uploading", chunk)
                    first = False
        self._shell(unpack_command(incoming, dest), "Unpacking the files")

    def _shell(self, command: str, doing: str, in_data: bytes | None = None) -> str:
        try:
            answer = self._low_level_execute_command(command, sudoable=False, in_data=in_data)
        except AnsibleConnectionFailure as error:
            raise AnsibleActionFail(
                f"{doing} on the server failed: the SSH connection dropped ({error}). Files "
                "already there are whole; run the command again to send the rest."
            ) from error
        if answer["rc"] != 0:
            said = f"{answer.get('stdout') or ''}\n{answer.get('stderr') or ''}".splitlines()
            said = [line for line in said if line.strip() and "Shared connection to" not in line]
            raise AnsibleActionFail(f"{doing} on the server failed: {' '.join(said) or '?'}")
        return answer.get("stdout") or ""


def local_files(root: Path) -> dict[str, int]:
    """Relative path -> size of every regular file below `root` (symlinks not followed)."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found[path.relative_to(root).as_posix()] = path.stat().st_size
    return found


def listing_command(dest: str) -> str:
    # Leftovers of a run cut off go first; the deploy lock keeps other runs out.
    parent = shlex.quote(posixpath.dirname(dest))
    return (
        f"rm -rf {parent}/{INCOMING}* && cd {shlex.quote(dest)} && find . -type f -printf '%P\\0'"
    )


def incoming_command(dest: str) -> str:
    return f"mktemp -d {shlex.quote(posixpath.dirname(dest))}/{INCOMING}XXXXXXXX"


def unpack_command(incoming: str, dest: str) -> str:
    folder, upload = shlex.quote(incoming), shlex.quote(posixpath.join(incoming, "assets.tar"))
    return (
        f"mkdir {folder}/files && tar -xf {upload} -C {folder}/files --no-same-owner "
        f"&& cp -R -l -n {folder}/files/. {shlex.quote(dest)}/ && rm -rf {folder}"
    )
