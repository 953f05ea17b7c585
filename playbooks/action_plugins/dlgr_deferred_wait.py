"""Wait, on the controller, for the variables that the CLI's own work during a run hands
the playbook (dlgr_ansible.runner.Deferred: the build of the image it deploys): the file
`path` once they are there, or `path`.failed when that work failed or was interrupted
(the CLI then says why). Costs no module run: it only looks at the controller's files.

Options: `path` (required), `timeout` in seconds (default 7200: a first build installs
the experiment's requirements)."""

from __future__ import annotations

import time
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

POLL_SECONDS = 0.05


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(("path", "timeout"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        path = Path(str(self._task.args.get("path") or ""))
        if not path.is_absolute():
            raise AnsibleActionFail(f"path: an absolute path on the controller (got {path})")
        timeout = float(self._task.args.get("timeout", 7200))
        failed = path.with_name(path.name + ".failed")
        started = time.monotonic()
        while not path.exists():
            if failed.exists():
                raise AnsibleActionFail(
                    "The build here did not finish; dlgr-ansible says why. Nothing was changed."
                )
            if time.monotonic() - started > timeout:
                raise AnsibleActionFail(f"The build here did not finish within {timeout:.0f} s.")
            time.sleep(POLL_SECONDS)
        result.update(changed=False, seconds=round(time.monotonic() - started, 3))
        return result
