"""Apps: deploy (or update) one, roll it back, list its releases, export its data, destroy it."""

import contextlib
import getpass
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dlgr_ansible import app_logs, dozzle, placement, psynet, validate
from dlgr_ansible import deploy as planning
from dlgr_ansible.build import build_experiment_image, check_build, directory_to_build
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.export import (
    EXPORT_KEY,
    backup_path,
    check_export,
    check_psynet_export,
    destroy_variables,
    export_path,
    export_variables,
    psynet_export_path,
)
from dlgr_ansible.images import login_wanted, registry_login
from dlgr_ansible.phases import with_build
from dlgr_ansible.provision import server_variables
from dlgr_ansible.releases import RELEASES_KEY, parse_releases
from dlgr_ansible.reports import (
    Deployed,
    Destroyed,
    Exported,
    ReleasesListed,
    Restarted,
    RolledBack,
)
from dlgr_ansible.runner import Deferred
from dlgr_ansible.session import Session

# The app report's key in what dallinger_app hands back (set_stats), keyed by host.
APP_KEY = "dlgr_app"
# The role variables a build decides: the image, the environment that names it
# (docker_image_name), and the images this machine sends.
IMAGE, FROM_HERE = "dallinger_app_image", "dallinger_app_images_from_controller"
IMAGE_VARIABLES = (IMAGE, "dallinger_app_environment", FROM_HERE)


def deploy(
    session: Session,
    mode: str,
    *,
    app_name: str | None,
    image: str | None,
    dns_host: str | None,
    tls: str | None,
    config_pairs=(),
    server: str | None,
    update: bool,
    archive: str | None,
    registry_user: str | None,
    keep_login: bool,
    ca_bundle: Path | None,
    ask_password: Callable[[], str],
    health_timeout: int | None = None,
    force: bool = False,
) -> Deployed:
    """Plan (every value checked first), build the image here if need be (a PsyNet
    experiment prepared by PsyNet first), then run deploy.yml: the shared stack brought
    up to date, then the app. A new app goes only where the placement rule leaves room,
    unless `force`; `server` "auto" picks the saved server with the most room."""
    if server == placement.AUTO:
        if update:
            raise validate.ValidationError(
                "--server auto places a new app; for --update give the app's server."
            )
        named = validate.app_name(app_name) if app_name else None
        target = placement.auto_server(session, force, named, config_pairs)
    else:
        target = session.server(server)
    config = session.config(config_pairs, target)
    rule = None if update or force else placement.rule(config)
    build_here = directory_to_build(image, config.get("docker_image_name"))
    build_psynet = build_here is not None and psynet.is_psynet_experiment(build_here)
    plan = planning.plan_deployment(
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
        build_psynet=build_psynet,
        local_images=session.local_images,
    )
    planning.check_dns(plan, session.resolve)
    build_seconds = None
    presave: tuple[str, ...] = ()
    deferred = None
    # PsyNet's staged assets stay on this machine until the run has sent them.
    with _staging(build_psynet) as staging:
        build = (
            _builder(session, mode, target, config, plan, build_here, staging, ca_bundle, update)
            if build_here
            else None
        )
        variables, login = server_variables(
            config, target.host, plan.dns_host, plan.tls, local_images=session.local_images
        )
        if build and not login_wanted(registry_user):
            # Built while the playbook logs in and looks at the server, which waits for
            # the image's variables before it changes anything (playbooks/deploy.yml).
            deferred = build
            variables |= {k: v for k, v in plan.variables.items() if k not in IMAGE_VARIABLES}
        else:
            built = {}
            if build:  # first: the registry to log in to is the built image's
                build_started = time.monotonic()
                done = build()
                build_seconds = time.monotonic() - build_started
                built, presave = done.variables, done.presave
                plan = planning.with_image(plan, built[IMAGE], session.local_images)
            else:
                presave = tuple(i for i in plan.variables.get(FROM_HERE, []) if i == plan.image)
            variables |= plan.variables | built
            variables |= registry_login(plan.image, registry_user, keep_login, ask_password)
        if health_timeout is not None:
            variables["dallinger_app_health_timeout"] = health_timeout
        if rule is not None:
            variables[placement.RULE_VARIABLE] = rule
        if plan.dashboard:
            plan.dashboard.store()
        verb = "Updating" if update else "Deploying"
        command = ("deploy" if mode == "live" else "sandbox") + (" --update" if update else "")
        ran = session.run(
            "deploy.yml",
            target,
            config,
            variables,
            f"{verb} {plan.name} on {target.host}",
            command=command,
            presave=presave,
            deferred=deferred,
        )
    advice = placement.advice_after(session, ran, target, config_pairs)
    # The dashboard password is kept even when the run fails: the server may have it.
    offered = dozzle.offer_outcome(ran.results, ran.run.limit, ran.ok, login)
    app = planning.app_report(plan, ran.host_data(APP_KEY) or {}) if ran.ok else None
    phases = with_build(build_seconds, ran.outcome.state.phase_timer.phases())
    return Deployed(ran, dozzle=offered, app=app, phases=phases, advice=[advice] if advice else [])


def _builder(session, mode, target, config, plan, directory, staging, ca_bundle, update):
    """The build of the image `plan` deploys, as a function that hands back the role
    variables it decides (IMAGE_VARIABLES, and PsyNet's staged assets) and the image to
    save for the run when the build made a new one. What can be checked at once is
    checked here, before any run."""
    check_build(directory, config.get("docker_image_base_name"), ca_bundle)

    def build() -> Deferred:
        started = time.monotonic()
        built = _build(session, mode, target, config, plan, directory, staging, ca_bundle)
        named = planning.with_image(plan, built.name, session.local_images).variables
        variables = {key: named[key] for key in IMAGE_VARIABLES if key in named}
        if staging is not None:
            assets = psynet.assets_to_send(staging, update=update)
            variables["dallinger_app_psynet_assets"] = str(assets)
        session.log(f"Built {built.name} in {time.monotonic() - started:.1f} s")
        # A build that Docker's cache answered with the image of an earlier deploy: the
        # server has it most likely, and saving it would only slow the run down.
        new_here = built.new and built.name in variables.get(FROM_HERE, [])
        return Deferred(variables, (built.name,) if new_here else ())

    return build


@contextlib.contextmanager
def _staging(wanted: bool):
    """A private folder (0700) for PsyNet's assets, removed afterwards; None if not wanted."""
    if not wanted:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="dlgr-psynet-") as folder:
        yield Path(folder)


def _build(session, mode, target, config, plan, directory, staging, ca_bundle):
    """The experiment's image, built with Dallinger's code; a PsyNet experiment (`staging`
    set) is prepared by PsyNet first, and what that left in `directory` removed after."""
    base_name = config.get("docker_image_base_name")
    if staging is None:
        session.log(f"Building the experiment in {directory} with Dallinger")
        return build_experiment_image(directory, plan.name, base_name, ca_bundle, session.log)
    try:
        psynet.prepare(
            directory,
            app=plan.name,
            mode=mode,
            server_host=target.ssh_host,
            user=target.user or getpass.getuser(),
            staging=staging,
            postgres_image=config.get("docker_postgresql_image"),
            redis_image=config.get("docker_redis_image"),
            log=session.log,
        )
        session.log(f"Building the PsyNet experiment in {directory} with Dallinger")
        return build_experiment_image(directory, plan.name, base_name, ca_bundle, session.log)
    finally:
        psynet.clean_directory(directory)


def rollback(session: Session, app_name: str | None, server: str | None) -> RolledBack:
    """The app back to its previous release, handed over as an update is."""
    name = validate.required_app_name(app_name)
    target = session.server(server)
    ran = session.run(
        "rollback.yml",
        target,
        session.config(),
        {"dallinger_app_name": name},
        f"Rolling {name} back on {target.host}",
        command="rollback",
    )
    return RolledBack(ran, name=name)


def restart(
    session: Session, app_name: str | None, server: str | None, services: tuple[str, ...]
) -> Restarted:
    """The app's web handed over to a new container, its other services restarted in place."""
    name = validate.required_app_name(app_name)
    variables = {
        "dallinger_app_name": name,
        "dallinger_app_restart_services": [validate.service_name(s) for s in services],
    }
    target = session.server(server)
    ran = session.run(
        "restart.yml",
        target,
        session.config(),
        variables,
        f"Restarting {name} on {target.host}",
        command="restart",
    )
    return Restarted(ran, name=name)


def releases(session: Session, app_name: str | None, server: str | None) -> ReleasesListed:
    """The releases kept on the server for the app, oldest first."""
    name = validate.required_app_name(app_name)
    target = session.server(server)
    ran = session.run(
        "releases.yml",
        target,
        session.config(),
        {"dlgr_app": name},
        f"Reading the releases of {name} on {target.host}",
    )
    found = ran.host_data(RELEASES_KEY) or {}
    if ran.ok and not found.get("found"):
        raise app_logs.no_such_app(name, target.host)
    return ReleasesListed(ran, releases=parse_releases(found.get("lines") or []))


def export(
    session: Session,
    app_name: str | None,
    server: str | None,
    scrub: bool,
    output: str | None,
    export_format: str = "auto",
) -> Exported:
    """data/<app>-data.zip under `output`, or for a PsyNet app (unless told otherwise)
    PsyNet's own export unpacked in data/<app>-psynet-<time>; checked either way."""
    name = validate.required_app_name(app_name)
    if export_format == "psynet" and not scrub:
        raise DlgrError(
            "--no-scrub is for Dallinger's zip (--format dallinger). PsyNet's export holds "
            "both: regular/ as recorded and anonymous/ scrubbed by PsyNet."
        )
    target = session.server(server)
    zip_path = export_path(name, output)
    folder = psynet_export_path(name, output)
    variables = export_variables(name, zip_path, scrub, export_format, folder)
    ran = session.run(
        "export.yml", target, session.config(), variables, f"Exporting {name} from {target.host}"
    )
    psynet_format = (ran.host_data(EXPORT_KEY) or {}).get("format") == "psynet"
    if ran.ok and psynet_format:
        check_psynet_export(folder)
    elif ran.ok:
        check_export(zip_path, name)
    return Exported(
        ran,
        name=name,
        path=folder if psynet_format else zip_path,
        scrubbed=scrub,
        format="psynet" if psynet_format else "dallinger",
    )


def destroy(
    session: Session,
    app_name: str | None,
    server: str | None,
    backup: bool,
    confirm: Callable[[str, str], None],
) -> Destroyed:
    """Back up (unless told not to), then remove the app. `confirm(name, question)`
    returns to go on, or raises to stop."""
    name = validate.required_app_name(app_name)
    target = session.server(server)
    confirm(
        name,
        f"Remove {name} from {target.host}: containers, Caddy site, database, role and data"
        f"{' (after a backup)' if backup else ''}?",
    )
    backup_zip = backup_path(name) if backup else None
    variables = destroy_variables(name, backup_zip)
    ran = session.run(
        "destroy.yml",
        target,
        session.config(),
        variables,
        f"Destroying {name} on {target.host}",
        command="destroy" if backup else "destroy --no-backup",
    )
    kept = None
    if ran.ok and backup_zip and backup_zip.exists():
        check_export(backup_zip, name)
        kept = backup_zip
    return Destroyed(ran, name=name, backup=kept)
