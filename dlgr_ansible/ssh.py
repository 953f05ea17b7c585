"""The one path that bypasses Ansible: a remote command streamed over ssh (`--follow`).

A module returns only when its command has ended, so following logs or stats cannot
go through a playbook. ssh gets exactly the options the rendered inventory gives
Ansible (the same key, known_hosts file and host key policy).
"""

import shlex
import subprocess
from pathlib import Path

from dlgr_ansible.errors import DlgrError
from dlgr_ansible.hosts import Server
from dlgr_ansible.inventory import default_known_hosts, ssh_common_args


def ssh_argv(
    server: Server,
    key_file: Path,
    remote: list[str],
    tty: bool = False,
    known_hosts: Path | None = None,
) -> list[str]:
    """ssh with exactly the options the rendered inventory gives Ansible, then `remote`.

    The remote command is one shell-quoted string: ssh hands it to the user's login
    shell, so every word arrives as one argument whatever it contains.
    """
    argv = ["ssh", *shlex.split(ssh_common_args(known_hosts or default_known_hosts()))]
    argv += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]  # never ask for a password
    argv += ["-i", str(key_file), "-p", str(server.port)]
    if tty:
        argv.append("-t")  # Ctrl-C then reaches the remote command, not just ssh
    if server.user:
        argv += ["-l", server.user]
    return [*argv, "--", server.ssh_host, shlex.join(remote)]


def stream(argv: list[str]) -> int:
    """Run ssh with our output as its output, until it or Ctrl-C ends; its exit code."""
    try:
        return subprocess.run(argv, check=False).returncode
    except FileNotFoundError as exc:
        raise DlgrError(
            "`ssh` is not installed on this machine; install OpenSSH's client."
        ) from exc
    except KeyboardInterrupt:
        return 130
