"""PsyNet's own preparation of an experiment for an SSH deployment, run by
dlgr_ansible.psynet in a process of its own (`python -m dlgr_ansible.psynet_prepare`)
in the experiment's directory and environment, against the PostgreSQL and Redis named
by DATABASE_URL and REDIS_URL.

It calls what `psynet deploy ssh` calls before Dallinger's deploy (`_pre_launch`): the
pre-checks, .deploy/ (deployment info, database template), source_code.zip, and the
assets. PsyNet would send each asset file to the server over SFTP as it goes; here
each one is written under the staging folder instead, at the path it would have on the
server below the SSH user's home, and the deploy sends the folder in one transfer.
A cached asset counts as there when it is staged (the transfer sends only what the
server lacks).

Exit codes: 0 prepared, 2 PsyNet refused or failed (its message last on stderr)."""

import argparse
import importlib
import os
import shutil
import sys
from pathlib import Path

REFUSED = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlgr_ansible.psynet_prepare")
    parser.add_argument("--app", required=True)
    parser.add_argument("--mode", choices=("live", "sandbox"), required=True)
    parser.add_argument("--server", required=True, help="the server's address")
    parser.add_argument("--user", required=True, help="the SSH user")
    parser.add_argument("--staging", required=True, type=Path)
    args = parser.parse_args(argv)
    import click

    _stage_instead_of_sftp(args.staging)
    _no_ssh(args.server, args.user)
    _questions_answered_no()
    from psynet.command_line import _pre_launch

    try:
        with click.Context(click.Command("dlgr-ansible")) as ctx:
            _pre_launch(
                ctx,
                mode=args.mode,
                archive=None,
                local_=False,
                ssh=True,
                docker=True,
                server=args.server,
                app=args.app,
            )
    except click.exceptions.Abort:
        # PsyNet asked a question (stdin is closed: the answer is no).
        print(
            "There is no one to answer here, so the answer is no: change what PsyNet asks "
            "about, then deploy again.",
            file=sys.stderr,
        )
        return REFUSED
    except click.ClickException as exc:
        print(exc.format_message(), file=sys.stderr)
        return REFUSED
    except Exception as exc:  # PsyNet's checks raise ValueError and others too
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return REFUSED
    return 0


def _no_ssh(server: str, user: str) -> None:
    """What _pre_launch reads about the server, without connecting to it: the deploy
    checks on the server whether the app exists, as it does for any experiment."""
    docker_ssh = importlib.import_module("dallinger.command_line.docker_ssh")
    docker_ssh.CONFIGURED_HOSTS[server] = {"host": server, "user": user}
    docker_ssh.ensure_remote_host_in_known_hosts = lambda host, user=None: None
    command_line = importlib.import_module("psynet.command_line")
    command_line._abort_if_app_exists = lambda server, app: None


def _questions_answered_no() -> None:
    """PsyNet prints its question on stdout, which the caller does not show; nobody can
    answer it (stdin is closed), so it is repeated on stderr and answered no. Its own
    user_confirms and click.confirm, which it also calls (psynet.version): this process
    runs nothing else."""
    command_line = importlib.import_module("psynet.command_line")
    import click

    def asked(question, default=False, **kwargs):
        print(f"PsyNet asked: {' '.join(str(question).split())}", file=sys.stderr)
        raise click.exceptions.Abort

    command_line.user_confirms = asked
    click.confirm = asked


def _stage_instead_of_sftp(staging: Path) -> None:
    """LocalStorage's SSH methods, writing under `staging` (standing for the SSH user's
    home) instead of over SFTP; paths PsyNet builds as <home> + /psynet-data/assets/..."""
    from psynet.asset import LocalStorage

    home = str(staging)

    def local(path: str) -> Path:
        return Path(path)

    def put_file(self, input_path, dest_path, ssh_host, ssh_user):
        local(dest_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(input_path, dest_path)

    def put_folder(self, input_path, dest_path, ssh_host, ssh_user):
        shutil.copytree(input_path, dest_path, dirs_exist_ok=True)

    def mk_dir_tree(self, directory, ssh_host, ssh_user):
        local(directory).mkdir(parents=True, exist_ok=True)

    def check_ssh_cache(self, host_path, is_folder, ssh_host, ssh_user):
        return os.path.exists(home + self.get_file_system_path(host_path))

    def unreachable(*args, **kwargs):
        raise RuntimeError("dlgr-ansible stages PsyNet's assets; nothing connects here")

    LocalStorage.ssh_host_home_dir = lambda self, ssh_host, ssh_user: home
    LocalStorage._put_file = put_file
    LocalStorage._put_folder = put_folder
    LocalStorage._mk_dir_tree = mk_dir_tree
    LocalStorage.check_ssh_cache = check_ssh_cache
    LocalStorage.sftp_connection = staticmethod(unreachable)
    LocalStorage.ssh_executor = staticmethod(unreachable)


if __name__ == "__main__":
    sys.exit(main())
