"""POST /launch from the controller, as a researcher's browser reaches the app (DNS, Caddy,
verified TLS), until it answers 200.

An action plugin, not ansible.builtin.uri: it runs in the controller's own Python, so it
starts no module process, and it takes Caddy's root certificate (tls internal) as text,
so no file has to be made, written and removed on the controller for it: three local
module runs, about 2 s of a first deploy. The options are documented in the role's
library/dallinger_app_launch.py, for ansible-doc.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import time
import urllib.error

from ansible.errors import AnsibleActionFail
from ansible.module_utils.urls import Request
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("url", "ca", "retries", "delay", "timeout"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        url = args.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise AnsibleActionFail("url: the app's https:// address")
        ca = args.get("ca") or None
        try:
            retries, delay, timeout = (int(args.get(k, d)) for k, d in DEFAULTS.items())
            context = ssl.create_default_context(cadata=ca)
        except (TypeError, ValueError, ssl.SSLError) as error:
            raise AnsibleActionFail(f"Invalid option: {error}") from error
        request = Request(timeout=timeout, context=context, follow_redirects="none")
        for attempt in range(1, retries + 2):
            status, body, reason = _post(request, url)
            if status == 200 or attempt > retries:
                break
            time.sleep(delay)
        result.update(status=status, attempts=attempt, content=body, changed=status == 200)
        with contextlib.suppress(ValueError):
            result["json"] = json.loads(body)
        if status != 200:
            result["failed"] = True
            result["msg"] = f"POST {url} answered {reason} after {attempt} attempts."
        return result


DEFAULTS = {"retries": 20, "delay": 3, "timeout": 30}


def _post(request: Request, url: str) -> tuple[int, str, str]:
    """The status, body and, for a message, what went wrong (-1: no answer)."""
    try:
        with request.open("POST", url) as response:
            return response.status, response.read().decode("utf-8", "replace"), "200"
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace"), f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return -1, "", f"nothing ({getattr(error, 'reason', error)})"
