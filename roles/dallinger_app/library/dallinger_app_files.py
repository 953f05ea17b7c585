#!/usr/bin/python
"""The files an app runs from, written in one module call: one round trip and one Python
start on the server instead of three per file (a template task stats the file, sends it,
then moves it into place)."""

import contextlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

TEMPORARY = ".dlgr-files-"

DOCUMENTATION = r"""
module: dallinger_app_files
short_description: Write several files of one folder in one call, each only when it changed
description:
  - Each file is written to a temporary file in the same folder and renamed over the
    old one, so that a reader sees the old or the new content, never a part.
  - A file whose content and mode are as given is left alone (not even touched).
  - With I(backup), a file about to change is first copied to C(NAME.<pid>.<time>~), as
    Ansible's own C(backup) option names it.
options:
  directory:
    description: The folder the files are in; it must exist.
    type: path
    required: true
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The file's name in I(directory) (no folders).
        type: str
        required: true
      content:
        description: The file's content. Never shown in results or logs.
        type: str
        required: true
        no_log: true
      mode:
        description: Its mode, in octal, as a string.
        type: str
        required: true
      backup:
        description: Copy it aside before it changes.
        type: bool
        default: false
  touched:
    description:
      - Files that must exist with a mode, their content left as it is (a log that a
        container appends to): created empty when missing.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The file's name in I(directory) (no folders).
        type: str
        required: true
      mode:
        description: Its mode, in octal, as a string.
        type: str
        required: true
"""

RETURN = r"""
written:
  description: The names of the files whose content changed, or that were new.
  type: list
  elements: str
  returned: always
modes:
  description: The names of the files whose mode alone changed.
  type: list
  elements: str
  returned: always
"""


def content_of(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def checked_mode(module, spec):
    """The file's mode, once its name and mode are known to be usable."""
    name = spec["name"]
    if not name or "/" in name or name in (".", ".."):
        module.fail_json(msg=f"{name!r} is not a file name.")
    try:
        mode = int(spec["mode"], 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        module.fail_json(msg=f"The mode of {name} is {spec['mode']!r}, not an octal mode.")
    return mode


def new_content(spec, path):
    """The bytes to write, or None to leave the file's content as it is."""
    if "content" not in spec:  # touched: made when missing, never rewritten
        return None if os.path.exists(path) else b""
    data = spec["content"].encode()
    return None if content_of(path) == data else data


def write(path, data, mode):
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=TEMPORARY)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def bring(module, directory, spec, mode):
    """Brings one file to its spec; returns "written", "mode" or None (left alone)."""
    path = os.path.join(directory, spec["name"])
    data = new_content(spec, path)
    if data is not None:
        if spec.get("backup") and os.path.exists(path):
            module.backup_local(path)
        write(path, data, mode)
        return "written"
    if os.stat(path).st_mode & 0o7777 != mode:
        os.chmod(path, mode)
        return "mode"
    return None


def remove_leftovers(directory):
    """Temporary files of a call that was killed: a folder read with a glob (Caddy's
    sites) must not find them."""
    for name in os.listdir(directory):
        if name.startswith(TEMPORARY):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "content": {"type": "str", "required": True, "no_log": True},
                    "mode": {"type": "str", "required": True},
                    "backup": {"type": "bool", "default": False},
                },
            },
            "touched": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "mode": {"type": "str", "required": True},
                },
            },
        },
        supports_check_mode=False,
    )
    directory = module.params["directory"]
    if not os.path.isdir(directory):
        module.fail_json(msg=f"{directory} is not a folder.")
    specs = module.params["files"] + module.params["touched"]
    modes = {spec["name"]: checked_mode(module, spec) for spec in specs}
    remove_leftovers(directory)
    written, chmodded = [], []
    for spec in specs:
        try:
            done = bring(module, directory, spec, modes[spec["name"]])
        except OSError as exc:
            where = os.path.join(directory, spec["name"])
            module.fail_json(msg=f"Writing {where} failed: {exc.strerror}.")
        if done == "written":
            written.append(spec["name"])
        elif done == "mode":
            chmodded.append(spec["name"])
    module.exit_json(changed=bool(written or chmodded), written=written, modes=chmodded)


if __name__ == "__main__":
    main()
