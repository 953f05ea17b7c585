"""Send an image from the controller's Docker engine to the server: only the layers it lacks.

An action plugin, not a module: it runs on the controller and talks to the server through
the task's own connection (same key, same host-key checking), with plain shell commands.
A module would ship some 200 KB of AnsiballZ per call, more than a changed layer often is.

This file only deals with Ansible: the task's arguments, the connection, the upload and
the result. What the plugin knows about images, archives and the server's commands is in
the role's plugin_utils/docker_images_delivery (documented there); the options are
documented in the role's library/docker_images_send.py, for ansible-doc.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shlex
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure, AnsibleError
from ansible.plugins.action import ActionBase

# A role's module_utils/ serves only modules, which Ansible ships to the server: an action
# plugin runs in the controller's own Python, where `ansible.module_utils` is ansible-core's
# package and nothing of the role's is added to it. So the role keeps the plugin's code in
# plugin_utils/ and puts that directory on sys.path; the package's name is this role's own.
_PLUGIN_UTILS = str(Path(__file__).resolve().parent.parent / "plugin_utils")
if _PLUGIN_UTILS not in sys.path:
    sys.path.append(_PLUGIN_UTILS)

from docker_images_delivery import local, server  # noqa: E402
from docker_images_delivery.progress import ProgressFile  # noqa: E402

# Ansible's SSH master closes after ControlPersist (60 s by default) without a session.
# The server's deploy lock counts its holder as alive while that connection is, so a
# long pack on the controller touches the server this often (see roles/dallinger_run).
KEEPALIVE_SECONDS = 20
# An upload goes in pieces of this size (each one held in memory, one SSH command).
UPLOAD_CHUNK = 16 * 1024 * 1024


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("name", "names", "upload_parent", "saved_dir", "progress_file"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        started = time.monotonic()
        args = self._task.args
        names = self._names(args.get("name"), args.get("names"))
        # On the server; uploads go into a private mktemp directory below it.
        parent = args.get("upload_parent") or "/var/tmp"  # noqa: S108
        if not isinstance(parent, str):
            raise AnsibleActionFail("upload_parent: a directory on the server is required")
        parent = posixpath.normpath(parent)
        saved_dir = args.get("saved_dir") or None
        if saved_dir is not None and not isinstance(saved_dir, str):
            raise AnsibleActionFail("saved_dir: a directory on the controller, or empty")
        progress_file = args.get("progress_file") or None
        if progress_file is not None and not isinstance(progress_file, str):
            raise AnsibleActionFail("progress_file: a file on the controller, or empty")
        saved = Path(saved_dir) if saved_dir else None
        # An image's `seconds` count its own reading here and the look at the server made
        # for it, so that they add up to the task's time.
        spent = dict.fromkeys(names, 0.0)
        # Every image on the controller first: a missing one fails before the server is
        # touched.
        images = {}
        for name in names:
            began = time.monotonic()
            images[name] = self._local_image(name)
            spent[name] += time.monotonic() - began
        # One look at the server for all of them; another only after a change, which may
        # have brought layers (or the build) a later image needs.
        held: dict[str, server.ServerImages] = {}
        sent: dict[str, dict] = {}
        for index, name in enumerate(names):
            if not held or sent[names[index - 1]]["changed"]:
                began = time.monotonic()
                held = self._inspect_server(names[index:], parent)
                spent[name] += time.monotonic() - began
            sent[name] = self._deliver(images[name], name, held[name], parent, saved, progress_file)
            sent[name]["seconds"] = round(sent[name]["seconds"] + spent[name], 3)
        if args.get("name") is not None:
            result.update(sent[names[0]])
        else:
            result.update(
                images=sent,
                changed=any(image["changed"] for image in sent.values()),
                msg="; ".join(image["msg"] for image in sent.values()),
            )
        result["seconds"] = round(time.monotonic() - started, 3)
        return result

    @staticmethod
    def _names(name, names) -> list[str]:
        if (name is None) == (names is None):
            raise AnsibleActionFail("name (one image) or names (a list of them) is required")
        names = [name] if name is not None else names
        if not isinstance(names, list) or not names:
            raise AnsibleActionFail("names: a list of one or more images is required")
        if not all(isinstance(each, str) and each for each in names):
            raise AnsibleActionFail("name, names: an image is a non-empty string")
        return list(dict.fromkeys(names))

    @staticmethod
    def _local_image(name: str) -> local.LocalImage:
        try:
            return local.local_image(name)
        except local.LocalImageError as error:
            # Ansible appends each cause's message: Docker's own, once.
            raise AnsibleActionFail(str(error)) from error.__cause__

    def _deliver(self, image, name: str, held, parent: str, saved, progress_file) -> dict:
        """One image: nothing, a name, or the layers the server lacks."""
        started = time.monotonic()
        self._progress = ProgressFile(progress_file, name)
        step = server.next_step(image.image, held, image.containerd_store)
        result = dict(image=name, image_id=image.image.id, sent_bytes=0, layers=[], whole=False)
        if step.kind == "nothing":
            result.update(changed=False, msg=f"{name} is already there")
        elif step.kind == "name":
            self._shell(server.tag_command(step.held_id, name), f"Naming {name}")
            result.update(changed=True, msg=f"{name}: the server had this build; named it")
        else:
            result.update(self._send(image, name, parent, step.present, saved))
            result.update(changed=True, whole=step.whole)
        result["seconds"] = round(time.monotonic() - started, 3)
        return result

    def _shell(
        self,
        command: str,
        doing: str,
        sudoable: bool = True,
        in_data: bytes | None = None,
        failed: str = "on the server failed",
    ) -> str:
        # Files are uploaded as the SSH user, so their directory is made without become.
        try:
            answer = self._low_level_execute_command(command, sudoable=sudoable, in_data=in_data)
        except AnsibleConnectionFailure as error:
            raise AnsibleActionFail(
                f"{doing} on the server failed: the SSH connection dropped ({error}). The "
                "image under way was not named; run the command again."
            ) from error
        if answer["rc"] != 0:
            # Without a terminal, ssh's own notice comes first; the command's message counts.
            output = f"{answer.get('stdout') or ''}\n{answer.get('stderr') or ''}"
            detail = " ".join(
                line.strip()
                for line in output.splitlines()
                if line.strip() and not line.startswith("Shared connection to")
            )
            raise AnsibleActionFail(f"{doing} {failed}: {detail or 'no message'}")
        return answer.get("stdout") or ""

    def _inspect_server(self, names: list[str], parent: str) -> dict[str, server.ServerImages]:
        output = self._shell(server.server_query(names, parent), "Listing the images")
        try:
            return server.parse_server(output, names)
        except ValueError as error:
            raise AnsibleActionFail(
                "Listing the images on the server gave an answer that could not be read; "
                "is Docker installed there and the SSH user in group docker?"
            ) from error

    def _still_wanted(self, parent_pid: int) -> None:
        """Stop when ansible-playbook is gone (Ctrl-C in ansible-runner ends it, not this
        worker): an interrupted push must not go on to change the server."""
        if os.getppid() != parent_pid:
            raise AnsibleActionFail("Interrupted before the image reached the server.")

    def _pack(self, image: local.LocalImage, where: Path, present, saved_dir, parent_pid: int):
        """local.pack of the save in `saved_dir` (waited for) or of a new one, with a no-op
        command on the server every KEEPALIVE_SECONDS so that the run's SSH connection
        stays open while the controller packs. Returns the archive, its layers and
        whether the save was found made."""
        outcome: dict = {}

        def pack() -> None:
            try:
                self._progress.report("preparing", final=True)
                saved = local.presaved(saved_dir, image.image.id) if saved_dir else None
                outcome["packed"] = (*local.pack(image, where, present, saved), saved is not None)
            except BaseException as error:  # raised again in the thread that waits
                outcome["error"] = error

        worker = threading.Thread(target=pack)
        worker.start()
        try:
            worker.join(KEEPALIVE_SECONDS)
            while worker.is_alive():
                self._still_wanted(parent_pid)
                self._shell("true", "Keeping the connection open", sudoable=False)
                worker.join(KEEPALIVE_SECONDS)
        finally:
            # The caller removes the directory the pack writes into: only once it is done.
            worker.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["packed"]

    def _upload(self, packed: Path, upload: str, name: str, parent_pid: int) -> None:
        """The archive in pieces of UPLOAD_CHUNK, each appended by one `cat` over the task's
        own connection, so that the progress file can say how far it got."""
        total = packed.stat().st_size
        done = 0
        with packed.open("rb") as archive:
            while True:
                chunk = archive.read(UPLOAD_CHUNK)
                if not chunk and done:
                    break
                self._still_wanted(parent_pid)
                redirect = ">>" if done else ">"
                self._shell(
                    f"cat {redirect} {shlex.quote(upload)}",
                    f"Uploading {name}",
                    sudoable=False,
                    in_data=chunk,
                    failed="failed, nothing was loaded",
                )
                done += len(chunk)
                self._progress.report("sending", done, total, final=done == total)
                if not chunk:
                    break

    def _send(self, image: local.LocalImage, name: str, parent: str, present, saved) -> dict:
        parent_pid = os.getppid()
        local_dir = tempfile.mkdtemp(prefix=server.UPLOAD_PREFIX)  # 0700
        remote_dir = ""
        try:
            packed, layers, presaved = self._pack(
                image, Path(local_dir), present, saved, parent_pid
            )
            self._still_wanted(parent_pid)
            remote_dir = self._shell(
                server.upload_dir_command(parent),
                f"Making an upload directory for {name}",
                sudoable=False,
            ).strip()
            upload = f"{remote_dir}/image.tar.gz"
            self._upload(packed, upload, name, parent_pid)
            self._still_wanted(parent_pid)
            self._progress.report("loading", final=True)
            self._shell(server.load_command(upload, name), f"Loading {name}")
            sent = [layer for layer in layers if layer.sent]
            return {
                "presaved": presaved,
                "sent_bytes": packed.stat().st_size,
                "layers": [asdict(layer) for layer in layers],
                "msg": f"{name}: sent {len(sent)} of {len(layers)} layers,"
                f" {packed.stat().st_size} bytes compressed",
            }
        except local.LocalImageError as error:
            raise AnsibleActionFail(f"Sending {name} failed: {error}") from error.__cause__
        except (OSError, ValueError, KeyError, tarfile.TarError) as error:
            raise AnsibleActionFail(f"Sending {name} failed: {error}") from error
        finally:
            self._progress.clear()
            shutil.rmtree(local_dir, ignore_errors=True)
            if server.is_upload_dir(remote_dir, parent):
                # When the connection is gone, the next run removes old uploads.
                with contextlib.suppress(AnsibleError):
                    self._low_level_execute_command(
                        server.remove_command(remote_dir), sudoable=False
                    )
