"""Documentation of the dallinger_app role's action plugin of the same name, for
ansible-doc (Ansible reads a plugin's options from the module of its name). The code is in
../action_plugins/dallinger_app_launch.py; nothing here runs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dallinger_app_launch
short_description: POST an app's /launch from the controller until it answers 200
description:
  - Runs on the controller (an action plugin), as a researcher's browser reaches the app:
    through DNS, Caddy and verified TLS.
  - With O(method=GET), reads any address of the app instead (a moved app is not launched again).
  - Retries O(retries) times, O(delay) seconds apart, while the app does not answer 200.
options:
  url:
    description: The app's launch address, C(https://...).
    type: str
    required: true
  ca:
    description:
      - Root certificate(s) to trust, PEM text (Caddy's own CA for C(tls internal)).
      - Empty for the system's certificate authorities.
    type: str
    default: ""
  retries:
    description: Further attempts after the first.
    type: int
    default: 20
  delay:
    description: Seconds between attempts.
    type: int
    default: 3
  timeout:
    description: Seconds each attempt may take.
    type: int
    default: 30
  method:
    description:
      - C(POST) launches the app (it reports a change); C(GET) only reads O(url), to see
        that a moved app serves.
    type: str
    choices: [POST, GET]
    default: POST
author: dlgr-ansible
"""

RETURN = r"""
status:
  description: The last answer's HTTP status, -1 when there was none.
  returned: always
  type: int
attempts:
  description: How many requests were made.
  returned: always
  type: int
content:
  description: The last answer's body.
  returned: always
  type: str
json:
  description: The body, parsed, when it is JSON.
  returned: when the body is JSON
  type: dict
"""
