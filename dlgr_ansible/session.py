"""What a command needs from around it, handed in by its caller.

The library's commands (dlgr_ansible.commands) ask a Session for the saved servers,
the config, a server by name, and to run a playbook; and use its two lookups of the
machine they run on (DNS, the local Docker engine). The CLI builds one from its
common options and the terminal (progress display, choosing a server at a prompt);
unit tests build one with fakes, so they never reach a real resolver, Docker engine
or server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dlgr_ansible import fleet, history, server_settings, sshkeys
from dlgr_ansible.config import Config, load_config
from dlgr_ansible.deploy import Resolver, resolve_name
from dlgr_ansible.hosts import HostsStore, Server
from dlgr_ansible.images import ImageLookup, copy_from_server, locally_available
from dlgr_ansible.inventory import inventory_name
from dlgr_ansible.runner import Deferred, PlaybookRun, RunOutcome, run_playbook

# Runs a playbook; the string is a title for whoever watches (the CLI's progress view).
Execute = Callable[[PlaybookRun, str], RunOutcome]


def _quietly(run: PlaybookRun, title: str) -> RunOutcome:
    return run_playbook(run)


def _named_or_only(store: HostsStore, name: str | None) -> Server:
    return store.resolve(name)


def _ignore(text: str) -> None:
    pass


@dataclass
class Ran:
    """One playbook run against one server (or several, each with its outcome), and how
    it went."""

    run: PlaybookRun
    outcome: RunOutcome

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    @property
    def results(self) -> dict:
        """Everything the playbook handed back (set_stats), keyed by name, then host."""
        return self.outcome.state.results

    @property
    def host(self) -> str:
        """The server the run was about, as it is saved."""
        return next(iter(self.run.servers))

    def host_data(self, key: str):
        """What the playbook handed back under `key` for the server it ran on."""
        return (self.results.get(key) or {}).get(self.run.limit)

    def data_by_server(self, key: str) -> dict:
        """What the playbook handed back under `key`, per server (saved name) it ran on."""
        handed = self.results.get(key) or {}
        return {name: handed.get(inventory_name(name)) for name in self.run.servers}

    def outcomes(self) -> list[fleet.ServerOutcome]:
        """How the run went on each of its servers."""
        return fleet.outcomes(self.run, self.outcome)

    def changed(self) -> bool:
        return bool(self.outcome.state.stats().get(self.run.limit, {}).get("changed"))


@dataclass
class Session:
    execute: Execute = _quietly
    verbosity: int = 0
    keep_artifacts: bool = False
    # Which saved server a command is about; the CLI asks at a terminal when in doubt.
    choose_server: Callable[[HostsStore, str | None], Server] = _named_or_only
    hosts: Callable[[], HostsStore] = HostsStore.default
    read_config: Callable[..., Config] = load_config
    resolve: Resolver = resolve_name
    local_images: ImageLookup = locally_available
    # An image from a server's engine into this machine's (`docker save` over ssh).
    copy_image: Callable[[list[str], str], bool] = copy_from_server
    # Lines of someone else's output (Dallinger's build), shown as they come.
    log: Callable[[str], None] = field(default=_ignore)
    # Something the user should change, said once per command.
    warn: Callable[[str], None] = field(default=_ignore)
    _warned: set[str] = field(default_factory=set, init=False, repr=False)

    def store(self) -> HostsStore:
        return self.hosts()

    def config(self, overrides=(), server: Server | None = None) -> Config:
        """The merged settings; with `server`, the settings saved with it included."""
        config = self.read_config(
            overrides=overrides, saved_settings=server.settings if server else None
        )
        warning = server_settings.in_dallinger_files(config.misplaced)
        if warning and warning not in self._warned:
            self._warned.add(warning)
            self.warn(warning)
        return config

    def server(self, name: str | None) -> Server:
        """--server, or the only saved server (or the caller's choice among several)."""
        return self.choose_server(self.store(), name)

    def servers(self, names: tuple[str, ...] | str | None, every: bool) -> list[Server]:
        """Each --server given, every saved server with --all, or else as `server`."""
        return fleet.chosen(self.store(), names, every, self.choose_server)

    def playbook_run(
        self,
        playbook: str,
        server: Server | list[Server],
        config: Config,
        variables: dict | None = None,
        presave: tuple[str, ...] = (),
        host_variables: dict[str, dict] | None = None,
        deferred: Callable[[], Deferred] | None = None,
    ) -> PlaybookRun:
        """A run of `playbook` against one saved (or about to be saved) server, or several
        (`host_variables`: each one's own values, by saved name); the SSH key is checked
        here, before anything connects."""
        servers = server if isinstance(server, list) else [server]
        return PlaybookRun(
            playbook=playbook,
            servers={each.host: each for each in servers},
            key_file=sshkeys.configured_key(config),
            limit=",".join(inventory_name(each.host) for each in servers),
            variables=variables or {},
            host_variables=host_variables or {},
            verbosity=self.verbosity,
            keep_artifacts=self.keep_artifacts,
            presave=presave,
            deferred=deferred,
        )

    def run(
        self,
        playbook: str,
        server: Server | list[Server],
        config: Config,
        variables: dict | None,
        title: str,
        command: str | None = None,
        presave: tuple[str, ...] = (),
        host_variables: dict[str, dict] | None = None,
        deferred: Callable[[], Deferred] | None = None,
    ) -> Ran:
        """`command`: for a run that changes the server, the `dlgr-ansible` command it is
        (no option values: they may be secrets), for the lock's holder and the history.
        `presave`: images this machine sends, saved while the playbook starts.
        `deferred`: work done here while the playbook starts (runner.Deferred)."""
        if command is not None:
            variables = (variables or {}) | history.run_variables(command)
        run = self.playbook_run(
            playbook, server, config, variables, presave, host_variables, deferred
        )
        return Ran(run, self.execute(run, title))
