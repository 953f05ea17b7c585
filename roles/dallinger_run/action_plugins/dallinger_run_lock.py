"""Take and give back the server's deploy lock with the module's own file run as a plain
Python script on the server.

As a module, every call ships AnsiballZ and starts Ansible's module code on the server:
some 0.3 s more than the lock's few milliseconds, paid twice by every changing run. Here
the file goes to `python3 -c` and its arguments, checked on the controller, go in as
JSON on stdin (a release's token must not show in the server's process list). Runs under
become, in check mode, or where the server's Python is not known yet (no facts) run the
module as before. The options are documented in library/dallinger_run_lock.py.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_MODULE_FILE = Path(__file__).resolve().parent.parent / "library" / "dallinger_run_lock.py"


def _module():
    spec = importlib.util.spec_from_file_location("dallinger_run_lock_module", _MODULE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        python = self._python(task_vars)
        if (
            python is None
            or self._play_context.become
            or self._play_context.check_mode
            or not self._connection.has_pipelining  # the arguments go in on stdin
        ):
            result.update(self._execute_module(task_vars=task_vars))
            return result
        module = _module()
        # Paths are the server's: "~" is expanded there, not here.
        spec = {
            key: {**option, "type": "str"} if option["type"] == "path" else option
            for key, option in module.ARGUMENT_SPEC.items()
        }
        _, params = self.validate_argument_spec(argument_spec=spec)
        command = " ".join(
            shlex.quote(part) for part in (python, "-c", _MODULE_FILE.read_text(), "--script")
        )
        # No terminal (sudoable=False): the result alone on stdout.
        answer = self._low_level_execute_command(
            command, sudoable=False, in_data=json.dumps(params).encode()
        )
        lines = (answer.get("stdout") or "").strip().splitlines()
        try:
            outcome = json.loads(lines[-1]) if answer["rc"] == 0 and lines else None
        except ValueError:
            outcome = None
        if not isinstance(outcome, dict):
            detail = " ".join(f"{answer.get('stdout') or ''} {answer.get('stderr') or ''}".split())
            raise AnsibleActionFail(
                f"The deploy lock's script failed on the server (exit {answer['rc']}): "
                f"{detail or 'no message'}"
            )
        # Taking or giving back the lock leaves the server as it was: nothing changed.
        result.update(outcome, changed=False)
        said = module.warning(outcome, params["state"])
        if said:
            result["warnings"] = [*result.get("warnings", []), said]
        return result

    def _python(self, task_vars: dict) -> str | None:
        """The server's Python as the inventory names it by its path, else as the facts
        found it; None when neither knows (the module's interpreter discovery runs)."""
        named = self._templar.template(task_vars.get("ansible_python_interpreter") or "")
        if isinstance(named, str) and named.startswith("/"):
            return named
        found = (task_vars.get("ansible_facts") or {}).get("python") or {}
        executable = found.get("executable")
        return executable if isinstance(executable, str) and executable else None
