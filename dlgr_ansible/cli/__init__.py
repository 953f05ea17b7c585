"""The `dlgr-ansible` command: options and printing only.

Each command parses its options, calls one library function (dlgr_ansible.commands,
grouped by noun as the modules here are) and prints what it returns: a summary and
text on stderr, tables on stdout, or with --json the document of dlgr_ansible.reports.
"""

import gc

import click

from dlgr_ansible import __version__
from dlgr_ansible.cli import apps, images, local, ops, servers
from dlgr_ansible.cli.app import Root


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlgr-ansible")
def cli():
    """Deploy Dallinger and PsyNet experiments to your own servers, with Ansible.

    Uses the same saved servers (~/.dallinger/docker-ssh/hosts), config files
    (~/.dallingerconfig, config.txt) and server layout as `dallinger docker-ssh`.
    """


for _module in (servers, apps, images, ops, local):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    try:
        cli(prog_name="dlgr-ansible")
    finally:
        # The collector's last passes at exit walk every object still alive: after a
        # build, Dallinger's imports (pandas among them) make that half a second of a
        # command that is done. Frozen objects are skipped; the OS takes the memory back.
        gc.freeze()
