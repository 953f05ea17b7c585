"""Take the server's deploy lock with the module's own file run as a plain Python script.

As a module, every try of state=held ships AnsiballZ and starts Ansible's module code on
the server: some 0.3 s more than the lock's few milliseconds, paid by every changing run.
Its arguments hold no secret (who runs, which files), so they can travel on the command
line. state=released gets the run's token, which must not show in the server's process
list: it stays a module, whose arguments go in on stdin. So do runs under become, in
check mode, or where the server's Python is not known yet (no facts): the module handles
them as before. The options are documented in library/dallinger_run_lock.py.
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
        args = self._task.args
        if (
            args.get("state") != "held"
            or python is None
            or self._play_context.become
            or self._play_context.check_mode
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
        wanted = {key: params[key] for key in ("state", "lock_file", "log_file", "holder")}
        wanted["stale_after"] = params["stale_after"]
        command = " ".join(
            shlex.quote(part)
            for part in (python, "-c", _MODULE_FILE.read_text(), "--take", json.dumps(wanted))
        )
        # No terminal (sudoable=False): the result alone on stdout.
        answer = self._low_level_execute_command(command, sudoable=False)
        lines = (answer.get("stdout") or "").strip().splitlines()
        try:
            taken = json.loads(lines[-1]) if answer["rc"] == 0 and lines else None
        except ValueError:
            taken = None
        if not isinstance(taken, dict):
            detail = " ".join(f"{answer.get('stdout') or ''} {answer.get('stderr') or ''}".split())
            raise AnsibleActionFail(
                f"Taking the deploy lock failed on the server (exit {answer['rc']}): "
                f"{detail or 'no message'}"
            )
        result.update(taken, changed=False)
        if taken.get("msg") and taken.get("took_over"):
            result["warnings"] = [*result.get("warnings", []), taken["msg"]]
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
