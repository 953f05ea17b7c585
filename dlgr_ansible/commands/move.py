"""`move`: an app, its data and its settings, from the server it runs on to another."""

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

from dlgr_ansible import capacity, dozzle, local_secrets, placement, ssh, sshkeys, validate
from dlgr_ansible import deploy as planning
from dlgr_ansible import move as moving
from dlgr_ansible.errors import DlgrError
from dlgr_ansible.export import destroy_variables
from dlgr_ansible.hosts import Server
from dlgr_ansible.provision import server_variables
from dlgr_ansible.reports import Moved
from dlgr_ansible.session import Session

ROWS_KEY = "dlgr_rows"
STOPPED_KEY = "dlgr_move_stopped"  # move_out.yml stopped the app
APP_KEY = "dlgr_app"
IMAGE_VARIABLES = (
    "dallinger_app_image",
    "dallinger_app_redis_image",
    "dallinger_app_pgbouncer_image",
)


def move(
    session: Session,
    app_name: str | None,
    server: str | None,
    to: str | None,
    *,
    dns_host: str | None = None,
    tls: str | None = None,
    force: bool = False,
    remove_source: bool = False,
    confirm: Callable[[str], bool],
) -> Moved:
    """Stop the app where it runs and back it up here, deploy it on `to` from that backup
    (same name, image, settings, secrets and dashboard password; not launched again), and
    check that every table there has the same rows. Then, with `remove_source` and a second
    yes from `confirm(question)`, remove it from where it ran. A move that does not get
    that far starts the app again where it ran, if it had stopped it."""
    name = validate.required_app_name(app_name)
    if not to:
        raise validate.ValidationError("Which server should the app go to? Give --to SERVER.")
    source, target = session.server(server), session.store().resolve(to)
    if source.host == target.host:
        raise validate.ValidationError(
            f"{name} would be moved to {target.host}, the server it is on: give --to another one."
        )
    config = session.config((), target)
    plan = _plan(name, target, config, dns_host, tls)
    planning.check_dns(plan, session.resolve)
    _check_target(session, target, name, force)
    if not confirm(
        f"Move {name} from {source.host} to {target.host}? It stops on {source.host} now and "
        f"serves at {plan.url} once its data is there; recruitment is not started again."
    ):
        raise DlgrError(f"{name} was not moved; nothing was changed.")
    backup = moving.backup_path(name)
    backup.parent.mkdir(parents=True, exist_ok=True)
    report = Moved(None, name=name, source=source.host, target=target.host)
    # The settings hold the app's secrets: in a private folder, gone after the read.
    with tempfile.TemporaryDirectory(prefix="dlgr-move-") as private:
        settings = Path(private) / "settings.json"
        report.ran = session.run(
            "move_out.yml",
            source,
            session.config((), source),
            {
                "dallinger_app_name": name,
                "dallinger_export_dest": str(backup),
                "dlgr_move_settings": str(settings),
            },
            f"Stopping {name} on {source.host} and backing it up here",
            command="move",
        )
        if not report.ran.ok:
            if report.ran.host_data(STOPPED_KEY):
                _start_again(session, source, report)
            return report
        report.backup = backup
        source_rows = report.ran.host_data(ROWS_KEY)
        with _started_again_on_failure(session, source, report):
            app = moving.read_settings(settings, name, source.host)
    with _started_again_on_failure(session, source, report):
        _deploy_copy(session, source, target, config, plan, app, force, report, source_rows)
        if report.ran.ok:
            report.rows = moving.check_rows(
                name, source_rows, report.ran.host_data(ROWS_KEY), (source.host, target.host)
            )
    if not report.ran.ok:
        return _start_again(session, source, report)
    password = app.environment.get("dashboard_password")
    if password:  # as a deploy keeps it: the next `deploy --update` from here uses it
        local_secrets.write(target.host, f"{name}-dashboard", password)
    user = app.environment.get("dashboard_user") or plan.dashboard_user
    report.app = planning.app_report(
        dataclasses.replace(plan, dashboard_user=user), report.ran.host_data(APP_KEY) or {}
    )
    if password:
        report.app["dashboard_password_file"] = str(
            local_secrets.secret_path(target.host, f"{name}-dashboard")
        )
    if remove_source and confirm(
        f"{name} serves on {target.host} with all its {report.rows} rows. Remove it from "
        f"{source.host} now: containers, Caddy site, database, role and data?"
    ):
        report.ran = session.run(
            "destroy.yml",
            source,
            session.config((), source),
            destroy_variables(name, None),
            f"Removing {name} from {source.host}",
            command="move --remove-source",
        )
        report.removed = report.ran.ok
    return report


def _deploy_copy(session, source, target, config, plan, app, force, report, rows):
    """deploy.yml on `target` from the backup (report.backup), the app's settings and its
    `rows` (the loaded copy must have the same); its run and the Dozzle login `target` took
    go into `report`."""
    _image_here(session, source, config, app.image)
    variables, login = server_variables(
        config, target.host, plan.dns_host, plan.tls, local_images=session.local_images
    )
    variables |= plan.variables | app.variables | _restore_variables(report.backup, app.name)
    variables["dallinger_app_restore_rows"] = rows
    variables["dallinger_app_images_from_controller"] = session.local_images(
        [variables[each] for each in IMAGE_VARIABLES]
    )
    if not force:
        variables[placement.RULE_VARIABLE] = placement.rule(config)
    report.ran = session.run(
        "deploy.yml",
        target,
        config,
        variables,
        f"Moving {app.name} to {target.host}",
        command="move",
    )
    report.dozzle = dozzle.offer_outcome(
        report.ran.results, report.ran.run.limit, report.ran.ok, login
    )


@contextlib.contextmanager
def _started_again_on_failure(session, source: Server, report: Moved):
    """Anything that stops the move once the app is stopped, Ctrl-C included, starts it
    where it was again."""
    try:
        yield
    except DlgrError as exc:
        raise _not_moved(session, source, report, exc) from exc
    except BaseException:
        _start_again(session, source, report)
        raise


def _not_moved(session, source: Server, report: Moved, problem: DlgrError) -> DlgrError:
    """`problem`, after the app on `source` was started again; what to do next."""
    _start_again(session, source, report)
    where = "runs there again" if report.started_again else "stays stopped there"
    copy = (
        f" Remove the copy (`dlgr-ansible destroy --app {report.name} --server "
        f"{report.target}`), then move the app again."
        if report.rows is None and report.ran.run.playbook == "deploy.yml" and report.ran.ok
        else ""
    )
    return DlgrError(f"{problem} Nothing was removed from {source.host}: the app {where}.{copy}")


def _check_target(session: Session, target: Server, name: str, force: bool) -> None:
    """Before the app stops: the new server answers and, unless `force`, has room for it
    by the placement rule (deploy.yml checks again, as for any new app)."""
    measured = placement.measure_room(session, [target], f"Looking at {target.host}", app=name)
    if not measured.ok or not measured.rooms:
        errors = " ".join(measured.ran.outcome.explanations(measured.ran.run))
        raise DlgrError(f"{target.host} could not be checked: {errors} Nothing was changed.")
    room = measured.rooms[0]
    if not force and not room.app_exists and room.apps_that_fit < 1:
        raise placement.PlacementProblem(
            f"{capacity.reason(room)} Nothing was changed; --force moves {name} there anyway."
        )


def _plan(name, target: Server, config, dns_host, tls) -> planning.Deployment:
    """Where and how the app is served on `target`, as deploy works it out."""
    domain = planning.resolve_dns_host(dns_host, config, target.ssh_host)
    tls = validate.tls(tls or config.get("tls") or planning.default_tls(domain))
    port = target.https_port
    return planning.Deployment(
        name=name,
        server=target.host,
        url=f"https://{name}.{domain}{'' if port == 443 else f':{port}'}/",
        dashboard_user="admin",
        dashboard=None,
        variables={
            "dallinger_app_name": name,
            "dallinger_app_expect": "new",
            "dallinger_app_dns_host": domain,
            "dallinger_app_tls": tls,
            "dallinger_app_acme_email": config.acme_email(),
            "dallinger_app_https_port": port,
            "dallinger_app_launch": False,
            "dlgr_count_rows": True,
        },
    )


def _restore_variables(backup: Path, name: str) -> dict:
    found = moving.parts(backup)
    return {
        "dallinger_app_restore_dump": str(found["dump"]),
        "dallinger_app_restore_files": moving.archive_to_unpack(found["files"], f"{name}/"),
        "dallinger_app_restore_assets": moving.archive_to_unpack(
            found["assets"], "experiments/", "cached/"
        ),
    }


def _image_here(session: Session, source: Server, config, image: str) -> None:
    """The experiment's image in this machine's Docker engine, to be sent on: from the
    server the app leaves when it is not here (it may have been built elsewhere)."""
    if session.local_images([image]):
        return
    session.log(f"Copying {image} from {source.host} to this machine")
    argv = ssh.ssh_argv(source, sshkeys.configured_key(config), ["docker", "save", image])
    session.copy_image(argv, image)


def _start_again(session: Session, source: Server, report: Moved) -> Moved:
    """The app on `source` started again after a move that did not finish."""
    started = session.run(
        "start.yml",
        source,
        session.config((), source),
        {"dallinger_app_name": report.name},
        f"Starting {report.name} on {source.host} again",
        command="move",
    )
    report.started_again = started.ok
    return report
