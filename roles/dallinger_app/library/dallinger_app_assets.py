"""Documentation of the dallinger_app role's action plugin of the same name, for
ansible-doc (Ansible reads a plugin's options from the module of its name). The code is in
../action_plugins/dallinger_app_assets.py; nothing here runs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dallinger_app_assets
short_description: Send the files of a controller folder that a server folder lacks
description:
  - Runs on the controller (an action plugin) and sends, in one tar stream over the task's
    connection, the files below O(src) whose path below O(dest) the server lacks.
  - A file of the same path on the server is taken to be the same file (PsyNet names its
    asset files after their content or a new uuid); nothing on the server is replaced or
    removed.
  - Files arrive whole or not at all; a run cut off is finished by the next one.
options:
  src:
    description: The folder on the controller.
    type: path
    required: true
  dest:
    description: The folder on the server (absolute); it must exist, owned by the SSH user.
    type: str
    required: true
author: dlgr-ansible
"""

RETURN = r"""
files:
  description: How many files O(src) holds.
  returned: always
  type: int
sent_files:
  description: How many of them were sent.
  returned: always
  type: int
sent_bytes:
  description: Their size in bytes, before the tar framing.
  returned: always
  type: int
seconds:
  description: How long the task took.
  returned: always
  type: float
"""
