"""The `dlgr-ansible` command: thin click commands over the library modules."""

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from dlgr_ansible import __version__, cli_local, cli_ops, validate
from dlgr_ansible.build import build_experiment_image, directory_to_build
from dlgr_ansible.cli_common import (
    App,
    Root,
    app_option,
    config_option,
    docker_source_option,
    pass_app,
    playbook_options,
    server_option,
)
from dlgr_ansible.deploy import (
    app_report,
    check_dns,
    deploy_summary,
    plan_deployment,
    with_image,
)
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.export import (
    backup_path,
    check_export,
    destroy_variables,
    export_path,
    export_variables,
)
from dlgr_ansible.images import (
    PASSWORD_ENV,
    USERNAME_ENV,
    delivery_lines,
    registry_login,
    require_local,
)
from dlgr_ansible.inventory import render_inventory
from dlgr_ansible.provision import (
    docker_variables,
    dozzle_message,
    dozzle_results,
    server_variables,
)
from dlgr_ansible.servers import inventory_servers, key_file, new_server, server_run


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlgr-ansible")
def cli():
    """Deploy Dallinger and PsyNet experiments to your own servers, with Ansible.

    Uses the same saved servers (~/.dallinger/docker-ssh/hosts), config files
    (~/.dallingerconfig, config.txt) and server layout as `dallinger docker-ssh`.
    """


@cli.group()
def servers():
    """Manage the servers experiments are deployed to."""


@servers.command("add")
@click.option("--host", required=True, help="DNS name or IP address of the server.")
@click.option("--user", help="User to log in as (needs passwordless sudo).")
@click.option("--port", default=22, show_default=True, help="SSH port.")
@docker_source_option
@playbook_options
@pass_app
def servers_add(app: App, host, user, port, docker_source, verbosity, as_json, keep_artifacts):
    """Check SSH login and passwordless sudo, install Docker and compose, then save the server.

    The SSH key is the `server_pem` setting of config.txt or ~/.dallingerconfig.
    Saved servers are visible to `dallinger docker-ssh` too.
    """
    server = new_server(host, user, port)
    config = app.config()
    variables = docker_variables(config, docker_source)
    run = server_run("prepare.yml", server, config, variables, verbosity, keep_artifacts)
    outcome = app.execute(run, f"Preparing {server.host}")
    if outcome.ok:
        app.store().add(server)
    app.report(outcome, run, as_json, {"saved": outcome.ok})
    if not as_json:
        app.err.print(f"Saved server {server.host}.")


@servers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the servers as JSON.")
@pass_app
def servers_list(app: App, as_json):
    """List saved servers (those saved by `dallinger docker-ssh` too)."""
    saved = app.store().servers()
    if as_json:
        click.echo(
            json.dumps(
                {name: s.to_json() | {"port": s.port} for name, s in saved.items()}, indent=2
            )
        )
        return
    if not saved:
        app.err.print(
            "No server saved. Add one with `dlgr-ansible servers add --host HOST --user USER`."
        )
        return
    table = Table("server", "user", "port")
    for name, server in saved.items():
        table.add_row(name, server.user or "(local user name)", str(server.port))
    app.out.print(table)


@servers.command("remove")
@click.option("--host", help="Saved server to forget; may be omitted when only one is saved.")
@pass_app
def servers_remove(app: App, host):
    """Forget a saved server. Nothing on the server is touched."""
    server = app.server(host)
    app.store().remove(server.host)
    app.err.print(f"Removed {server.host} from the saved servers.")


@servers.command("check")
@server_option
@playbook_options
@pass_app
def servers_check(app: App, server, verbosity, as_json, keep_artifacts):
    """Check that a saved server is reachable and has passwordless sudo."""
    run = server_run("ping.yml", app.server(server), app.config(), None, verbosity, keep_artifacts)
    app.report(app.execute(run, f"Checking {run.limit}"), run, as_json)


@cli.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of stdout.",
)
@server_option
@pass_app
def inventory(app: App, output, server):
    """Print an Ansible inventory of the saved servers.

    Use it with plain Ansible: ansible-playbook -i inventory.yml playbooks/<x>.yml
    """
    text = render_inventory(inventory_servers(app.store(), server), key_file(app.config()))
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        app.err.print(f"Wrote {output}")
    else:
        click.echo(text, nl=False)


@cli.command()
@server_option
@click.option(
    "--dns-host",
    help="Domain whose subdomains point at the server (enables /health-check and logs.<domain>).",
)
@click.option(
    "--tls",
    type=click.Choice(validate.TLS_MODES),
    help="Certificates from Let's Encrypt (acme) or Caddy's own CA (internal).",
)
@docker_source_option
@config_option
@playbook_options
@pass_app
def provision(
    app: App, server, dns_host, tls, docker_source, config_pairs, verbosity, as_json, keep_artifacts
):
    """Install Docker and compose, and bring the shared Caddy + PostgreSQL + Dozzle stack up to date.

    Safe to run again: a second run changes nothing. A server set up by
    `dallinger docker-ssh` is adopted with its apps and data.
    """
    config = app.config(config_pairs)
    target = app.server(server)
    variables, dozzle = server_variables(config, target.host, dns_host, tls, docker_source)
    run = server_run("provision.yml", target, config, variables, verbosity, keep_artifacts)
    outcome = app.execute(run, f"Provisioning {target.host}")
    results = dozzle_results(outcome.state.results, target.host, outcome.ok, dozzle)
    app.report(outcome, run, as_json, results)
    if results and not as_json:
        app.err.print(dozzle_message(results["dozzle"]), soft_wrap=True)


def registry_options(command):
    """How the server logs in to a private registry to pull the image."""
    command = click.option(
        "--keep-login",
        is_flag=True,
        help="Keep the registry login in the server's ~/.docker/config.json (0600). By "
        "default it is removed right after the pull.",
    )(command)
    return click.option(
        "--registry-user",
        help=f"Log in to the image's registry as this user (or set {USERNAME_ENV}). The "
        f"password comes from {PASSWORD_ENV} or a prompt, never from an option.",
    )(command)


def ask_password() -> str:
    if not sys.stdin.isatty():
        return ""
    return click.prompt("Registry password", hide_input=True, err=True)


def _deploy_command(name: str, mode: str):
    @cli.command(name)
    @app_option
    @click.option("--image", help="Docker image of the experiment.")
    @click.option("--dns-host", help="Domain whose subdomains point at the server, or 'nip.io'.")
    @click.option(
        "--tls",
        type=click.Choice(["acme", "internal"]),
        help="Certificates from Let's Encrypt or Caddy's own CA.",
    )
    @config_option
    @server_option
    @click.option(
        "--update",
        "-u",
        is_flag=True,
        help="Update an existing app: new image and config, data kept.",
    )
    @click.option(
        "--archive",
        "-a",
        type=click.Path(exists=True, dir_okay=False),
        help="Export zip to seed the database.",
    )
    @click.option(
        "--ca-bundle",
        # Checked only when something is built: the variable may be set for every shell.
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="DLGR_CA_BUNDLE",
        help="CA bundle for pip when the image is built here (TLS-intercepting proxies); "
        "it reaches the experiment's Dockerfile as build-ca/ca-certificates.crt. Or set "
        "DLGR_CA_BUNDLE.",
    )
    @registry_options
    @playbook_options
    @pass_app
    def command(app: App, **options):
        deploy_app(app, mode, **options)

    command.help = (
        f"Deploy an experiment image in {mode} mode: database, Redis, web and worker "
        "containers, a Caddy site with HTTPS, then launch the experiment."
    )
    return command


def deploy_app(
    app: App,
    mode,
    *,
    app_name,
    image,
    dns_host,
    tls,
    config_pairs,
    server,
    update,
    archive,
    registry_user,
    keep_login,
    ca_bundle,
    verbosity,
    as_json,
    keep_artifacts,
):
    config = app.config(config_pairs)
    target = app.server(server)
    build_here = directory_to_build(image, config.get("docker_image_name"))
    plan = plan_deployment(
        config,
        target.host,
        app_name=app_name,
        image=image,
        dns_host=dns_host,
        tls=tls,
        mode=mode,
        update=update,
        archive=archive,
        https_port=target.https_port,
        server_address=target.ssh_host,
        build=build_here is not None,
    )
    check_dns(plan)
    if build_here:
        app.err.print(f"Building the experiment in {build_here} with Dallinger", markup=False)
        base_name = config.get("docker_image_base_name")
        built = build_experiment_image(build_here, plan.name, base_name, ca_bundle, app.err_line)
        plan = with_image(plan, built)
    domain = plan.variables["dallinger_app_dns_host"]
    tls = plan.variables["dallinger_app_tls"]
    variables, dozzle = server_variables(config, target.host, domain, tls)
    image = plan.variables["dallinger_app_image"]
    variables |= plan.variables | registry_login(image, registry_user, keep_login, ask_password)
    run = server_run("deploy.yml", target, config, variables, verbosity, keep_artifacts)
    verb = "Updating" if update else "Deploying"
    # The dashboard password is kept even when the run fails: the server may have it.
    outcome = app.execute(run, f"{verb} {plan.name} on {target.host}")
    results = dozzle_results(outcome.state.results, target.host, outcome.ok, dozzle)
    deployed = outcome.state.results.get("dlgr_app", {}).get(target.host, {})
    if outcome.ok:
        results["app"] = app_report(plan, deployed)
    app.report(outcome, run, as_json, results)
    if not as_json:
        for line in deploy_summary(plan, results):
            app.err.print(line, soft_wrap=True)


_deploy_command("deploy", "live")
_deploy_command("sandbox", "sandbox")


@cli.command()
@app_option
@server_option
@click.option("--no-scrub", is_flag=True, help="Keep personal data (worker ids, IP addresses).")
@click.option(
    "--output", type=click.Path(file_okay=False), help="Directory for data/<app>-data.zip."
)
@playbook_options
@pass_app
def export(app: App, app_name, server, no_scrub, output, verbosity, as_json, keep_artifacts):
    """Export an app's database as data/<app>-data.zip, in Dallinger's format."""
    name = validate.required_app_name(app_name)
    target = app.server(server)
    zip_path = export_path(name, output)
    variables = export_variables(name, zip_path, scrub=not no_scrub)
    run = server_run("export.yml", target, app.config(), variables, verbosity, keep_artifacts)
    outcome = app.execute(run, f"Exporting {name} from {target.host}")
    results = {"export": {"path": str(zip_path), "scrubbed": not no_scrub}} if outcome.ok else {}
    if outcome.ok:
        check_export(zip_path, name)
    app.report(outcome, run, as_json, results)
    if outcome.ok and not as_json:
        app.err.print(f"Exported {name} to {zip_path}", soft_wrap=True)


@cli.command()
@app_option
@server_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-backup", is_flag=True, help="Skip the export taken before anything is removed.")
@playbook_options
@pass_app
def destroy(app: App, app_name, server, yes, no_backup, verbosity, as_json, keep_artifacts):
    """Back up, then remove an app: containers, Caddy site, database, role and data."""
    name = validate.required_app_name(app_name)
    target = app.server(server)
    if not yes:
        if not sys.stdin.isatty():
            raise DlgrError(
                f"Destroying {name} needs confirmation: add --yes to run without a terminal."
            )
        click.confirm(
            f"Remove {name} from {target.host}: containers, Caddy site, database, role and data"
            f"{'' if no_backup else ' (after a backup)'}?",
            abort=True,
            err=True,
        )
    backup = None if no_backup else backup_path(name)
    variables = destroy_variables(name, backup)
    run = server_run("destroy.yml", target, app.config(), variables, verbosity, keep_artifacts)
    outcome = app.execute(run, f"Destroying {name} on {target.host}")
    results = {}
    if outcome.ok:
        results["destroyed"] = name
        if backup and backup.exists():
            check_export(backup, name)
            results["backup"] = str(backup)
    app.report(outcome, run, as_json, results)
    if outcome.ok and not as_json:
        where = f"; backup in {backup} (+ .pgdump, -files.tar.gz)" if results.get("backup") else ""
        if outcome.state.stats().get(target.host, {}).get("changed"):
            app.err.print(f"Removed {name} from {target.host}{where}.", soft_wrap=True)
        else:
            app.err.print(f"There was nothing of {name} on {target.host}.", soft_wrap=True)


@cli.group()
def images():
    """Move experiment images to servers."""


@images.command("push")
@server_option
@click.argument("image")
@playbook_options
@pass_app
def images_push(app: App, server, image, verbosity, as_json, keep_artifacts):
    """Send an image from the local Docker engine to a server, unless it has this build."""
    variables = {
        "docker_images_names": [image],
        "docker_images_from_controller": [require_local(image)],
    }
    run = server_run(
        "images.yml", app.server(server), app.config(), variables, verbosity, keep_artifacts
    )
    outcome = app.execute(run, f"Sending {image} to {run.limit}")
    # On stderr like the progress, also with --json.
    for line in delivery_lines(outcome.state.results):
        app.err.print(line, highlight=False, soft_wrap=True)
    app.report(outcome, run, as_json)


@images.command("pull")
@server_option
@click.argument("image")
@registry_options
@playbook_options
@pass_app
def images_pull(
    app: App, server, image, registry_user, keep_login, verbosity, as_json, keep_artifacts
):
    """Have a server pull an image from its registry, unless it has one of that name."""
    validate.image(image)
    variables = {
        "docker_images_names": [image],
        **registry_login(image, registry_user, keep_login, ask_password),
    }
    run = server_run(
        "images.yml", app.server(server), app.config(), variables, verbosity, keep_artifacts
    )
    app.report(app.execute(run, f"Pulling {image} on {run.limit}"), run, as_json)


for _command in [*cli_ops.COMMANDS, cli_local.local_server_group]:
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="dlgr-ansible")
