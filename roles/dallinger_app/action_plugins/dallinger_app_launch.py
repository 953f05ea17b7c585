"""POST /launch from the controller, as a researcher's browser reaches the app (DNS, Caddy,
verified TLS), until it answers 200; or, with method GET, any path of it (a moved app).

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
    _supports_check_mode = False  # a launch starts recruitment: never in a dry run
    _VALID_ARGS = frozenset(("url", "ca", "retries", "delay", "timeout", "method"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        url = args.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise AnsibleActionFail("url: the app's https:// address")
        ca = args.get("ca") or None
        method = args.get("method", "POST")
        if method not in ("POST", "GET"):
            raise AnsibleActionFail("method: POST or GET")
        try:
            retries = max(0, int(args.get("retries", 20)))
            delay = max(0, int(args.get("delay", 3)))
            timeout = max(1, int(args.get("timeout", 30)))
            context = ssl.create_default_context(cadata=ca)
        except (TypeError, ValueError, ssl.SSLError) as error:
            raise AnsibleActionFail(f"Invalid option: {error}") from error
        request = Request(timeout=timeout, context=context, follow_redirects="none")
        for attempt in range(1, retries + 2):
            status, body, reason = _request(request, method, url)
            if status == 200 or attempt > retries:
                break
            time.sleep(delay)
        result.update(
            status=status,
            attempts=attempt,
            content=body,
            changed=status == 200 and method == "POST",
        )
        with contextlib.suppress(ValueError):
            result["json"] = json.loads(body)
        if status != 200:
            result["failed"] = True
            result["msg"] = f"{method} {url} answered {reason} after {attempt} attempts."
        return result


def _request(request: Request, method: str, url: str) -> tuple[int, str, str]:
    """The status, body and, for a message, what went wrong (-1: no answer). Anything
    that goes wrong is an answer to retry, as with ansible.builtin.uri: a web container
    that has just started may reset a connection half way through."""
    try:
        with request.open(method, url) as response:
            status = response.status
            return status, response.read().decode("utf-8", "replace"), f"HTTP {status}"
    except urllib.error.HTTPError as error:
        try:
            body = error.read().decode("utf-8", "replace")
        except Exception:  # the status is what counts
            body = ""
        return error.code, body, f"HTTP {error.code}"
    except Exception as error:  # reported, and retried
        return -1, "", f"nothing ({getattr(error, 'reason', error)})"
