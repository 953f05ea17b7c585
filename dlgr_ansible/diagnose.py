"""Explain Ansible failures in words a researcher can act on."""

import re

from dlgr_ansible.events import CENSORED, Failure
from dlgr_ansible.hosts import DEFAULT_SSH_PORT, Server

_HOST_KEY_CHANGED = re.compile(
    r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed"
)
_AUTH = re.compile(r"Permission denied \(|Too many authentication failures|no matching host key")
_NO_ROUTE = re.compile(
    r"Connection refused|Connection timed out|timed out|No route to host|"
    r"Could not resolve hostname|Name or service not known|Network is unreachable|"
    r"Connection closed by|Connection reset"
)
_SUDO = re.compile(r"Missing sudo password|a password is required|is not in the sudoers file")


def explain(failure: Failure, server: Server | None = None, key_file: str | None = None) -> str:
    """One paragraph: what went wrong on which host, and what to do about it."""
    # As the researcher saved it: the inventory may list it under another name.
    host = server.host if server else failure.host
    message = failure.message
    user = server.user if server else None
    who = f"{user}@{host}" if user else host
    address = server.ssh_host if server else host
    known_as = address
    if server and server.port != DEFAULT_SSH_PORT:
        known_as = f"'[{address}]:{server.port}'"  # how known_hosts names non-22 ports
    if _HOST_KEY_CHANGED.search(message):
        return (
            f"The SSH host key of {host} has changed since the first connection, so the "
            "connection was refused (this protects you from a server impersonating yours). "
            f"If the server was reinstalled, remove the old key with `ssh-keygen -R {known_as}` "
            "and try again."
        )
    if failure.unreachable and _AUTH.search(message):
        key = f" {key_file}" if key_file else ""
        return (
            f"The server {host} refused the SSH key{key} for {who}. Check --user and the "
            "server_pem setting, and that the matching public key is in "
            "~/.ssh/authorized_keys of that user on the server."
        )
    if failure.unreachable and _NO_ROUTE.search(message):
        return (
            f"Cannot reach {host} over SSH: {_last_line(message)}. Check the host name and "
            "port, that the server is running, and that a firewall lets SSH through."
        )
    if _SUDO.search(message):
        return (
            f"No passwordless sudo rights for {who}. Make sure your user can run sudo without "
            "a password: run `sudo visudo` on the server and add this line at the end "
            f"(with your user name): {user or '<username>'} ALL=(ALL) NOPASSWD: ALL"
        )
    if failure.unreachable and message == CENSORED:
        # The task's output is hidden, but a task that cannot reach its host has none.
        return (
            f"The SSH connection to {host} dropped during task {failure.task!r}. Run the "
            "same command again once the server answers: it picks up where this run stopped."
        )
    if failure.unreachable:
        return f"Cannot reach {host} over SSH: {_last_line(message)}"
    task = f" in task {failure.task!r}" if failure.task else ""
    return f"Failed on {host}{task}: {message}"


def _last_line(message: str) -> str:
    """ssh says what went wrong last, after any warnings."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else message
