"""`images push|pull`: an experiment image onto a server."""

import click

from dlgr_ansible.cli.app import App, pass_app, playbook_options, server_option
from dlgr_ansible.cli.apps import ask_registry_password, registry_options
from dlgr_ansible.commands import images as commands
from dlgr_ansible.images import delivery_lines


@click.group()
def images():
    """Move experiment images to servers."""


@images.command("push")
@server_option
@click.argument("image")
@playbook_options
@pass_app
def images_push(app: App, server, image):
    """Send an image from the local Docker engine to a server, unless it has this build."""
    report = commands.push(app.session(), server, image)
    # On stderr like the progress, also with --json.
    for line in delivery_lines(report.ran.results):
        app.err.print(line, highlight=False, soft_wrap=True)
    app.finish(report)


@images.command("pull")
@server_option
@click.argument("image")
@registry_options
@playbook_options
@pass_app
def images_pull(app: App, server, image, registry_user, keep_login):
    """Have a server pull an image from its registry, unless it has one of that name."""
    report = commands.pull(
        app.session(), server, image, registry_user, keep_login, ask_registry_password
    )
    app.finish(report)


COMMANDS = [images]
