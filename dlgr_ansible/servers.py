"""Adding, checking and forgetting servers."""

from pathlib import Path

from dlgr_ansible import sshkeys, validate
from dlgr_ansible.config import Config
from dlgr_ansible.hosts import HostsStore, Server
from dlgr_ansible.runner import PlaybookRun


def new_server(host: str, user: str | None, port: int | str) -> Server:
    return Server(
        host=validate.host(host),
        user=validate.user(user) if user is not None else None,
        port=validate.port(port),
    )


def key_file(config: Config) -> Path:
    """The checked `server_pem`: every SSH connection uses it."""
    return sshkeys.check_private_key(config.server_pem()).path


def server_run(
    playbook: str,
    server: Server,
    config: Config,
    variables: dict | None = None,
    verbosity: int = 0,
    keep_artifacts: bool = False,
) -> PlaybookRun:
    """A playbook run against one saved (or about to be saved) server."""
    return PlaybookRun(
        playbook=playbook,
        servers={server.host: server},
        key_file=key_file(config),
        limit=server.host,
        variables=variables or {},
        verbosity=verbosity,
        keep_artifacts=keep_artifacts,
    )


def inventory_servers(store: HostsStore, name: str | None) -> dict[str, Server]:
    """All saved servers, or just the one named."""
    if name:
        server = store.resolve(name)
        return {server.host: server}
    return store.servers()
