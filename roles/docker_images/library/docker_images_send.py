"""Documentation of the docker_images role's action plugin of the same name, for
ansible-doc (Ansible reads a plugin's options from the module of its name). The code is in
../action_plugins/docker_images_send.py; nothing here runs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_images_send
short_description: Send an image from the controller's Docker engine, only the layers the server lacks
description:
  - Runs on the controller (an action plugin) and reaches the server through the task's own
    connection with plain shell commands; nothing is installed there.
  - Does nothing when the server has this build under O(name). When it has the build under
    another name, only names it. Otherwise saves the image from the controller's Docker
    engine, cuts the archive down to the layers the server lacks (by chain ID, gzip'd),
    uploads it (in pieces of 16 MiB, each appended by C(cat)) into a private directory
    under O(upload_parent), runs C(docker load) and
    names the image only once the load succeeded.
  - Servers with the containerd image store get the whole image; a build counts as already
    there when its ID, or its creation time, layers and settings match.
  - Both temporary copies are removed, also when a step fails; uploads older than an hour
    left by an interrupted run are removed by the next one.
  - Part of the C(docker_images) role; use the role (C(docker_images_from_controller)) or
    have the role's C(action_plugins/) and C(library/) on the plugin paths.
options:
  name:
    description:
      - The image (C(name:tag)) in the controller's Docker engine, and its name on the server.
      - Give O(name) or O(names).
    type: str
  names:
    description:
      - Several images, sent one after the other after one look at the server (a change
        makes it look again). The result has each one's under RV(images).
      - Give O(name) or O(names).
    type: list
    elements: str
  upload_parent:
    description:
      - Directory on the server where the upload waits to be loaded, in a private
        C(dlgr-image-*) directory made by the SSH user (without become).
      - On disk, as C(/tmp) may be a RAM disk.
    type: str
    default: /var/tmp
  saved_dir:
    description:
      - Directory on the controller where a C(docker save) of the image may already be
        (C(<image id>.tar)) or on its way (C(<image id>.tar.part), renamed when complete).
        Such a save is waited for and used instead of a new one. Without it, the plugin
        saves the image itself. The dlgr-ansible CLI saves there while the playbook starts.
    type: str
    default: ""
  progress_file:
    description:
      - File on the controller where the plugin says how far it got while it sends, replaced
        whole at each report and removed at the end, as JSON
        C({"image", "step", "done", "total"}); C(step) is
        C(preparing), C(sending) (C(done) of C(total) bytes) or C(loading). The
        dlgr-ansible CLI draws a progress bar from it. Empty for none.
    type: str
    default: ""
notes:
  - On the server, Docker, a POSIX shell and an SSH user in group C(docker).
  - On the controller, a running Docker engine that has the image, the Docker SDK for
    Python in the Python that runs Ansible, and room for one image archive in C($TMPDIR).
  - Stops before changing the server when ansible-playbook is gone (Ctrl-C).
  - Does not support check mode or async.
author:
  - dlgr-ansible developers
"""

EXAMPLES = r"""
- name: Send the experiment's image, built on this laptop
  docker_images_send:
    name: ghcr.io/example/my-experiment:1.0
    upload_parent: /var/tmp
  register: sent

- name: Send an app's images in one go
  docker_images_send:
    names: [ghcr.io/example/my-experiment:1.0, redis:8]
  register: sent_all  # sent_all.images["redis:8"].msg, ...
"""

RETURN = r"""
images:
  description:
    - With O(names), each image's result by its name, with the keys below (RV(image),
      RV(msg), ...). Without, those keys are the result's own.
  returned: with O(names)
  type: dict
image:
  description: The image's name, as given.
  returned: success
  type: str
image_id:
  description: Its ID in the controller's Docker engine.
  returned: success
  type: str
msg:
  description: What was done, in a sentence.
  returned: success
  type: str
  sample: "ghcr.io/example/my-experiment:1.0: sent 1 of 12 layers, 2048 bytes compressed"
presaved:
  description: Whether the archive was cut from a save found in O(saved_dir).
  returned: when something was sent
  type: bool
sent_bytes:
  description: Size of the uploaded (compressed) archive; 0 when nothing was sent.
  returned: success
  type: int
layers:
  description: Each layer of the image, bottom first; empty when nothing was sent.
  returned: success
  type: list
  elements: dict
  contains:
    diff_id:
      description: The layer's diff ID.
      type: str
    size:
      description: Its uncompressed size, in bytes.
      type: int
    sent:
      description: Whether the upload carried it.
      type: bool
whole:
  description: Whether the whole image was sent because the server uses the containerd image store.
  returned: success
  type: bool
seconds:
  description:
    - Time the plugin took. With O(names), each image's own share (reading it on the
      controller, the look at the server made before it, and sending or naming it).
  returned: success
  type: float
"""
