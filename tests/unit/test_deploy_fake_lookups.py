"""Deploy planning and export checks: pure functions, no server, with fake DNS and Docker
lookups (tests/unit/fakes.py)."""

import zipfile

import pytest

from dlgr_ansible import deploy, export, validate
from dlgr_ansible.config import Config
from dlgr_ansible.errors import DlgrError
from tests.unit.fakes import (
    fake_local_images,
    fake_resolve,
    fake_resolve_nothing,
    no_local_images,
)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_zip(path, name="exp1", tables=export.TABLES):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("experiment_id.md", name)
        for table in tables:
            archive.writestr(f"data/{table}.csv", "id\n")
    return path


def plan(config=None, **options):
    settings = {
        "app_name": "exp1",
        "image": "lab/exp:1",
        "dns_host": "example.org",
        "tls": "internal",
        "mode": "sandbox",
        "update": False,
        "archive": None,
        "local_images": no_local_images,
    } | options
    return deploy.plan_deployment(Config(config or {}), "server.example.org", **settings)


def test_names_come_from_the_option_the_archive_or_are_made(home):
    assert deploy.choose_name("exp1", None) == "exp1"
    assert deploy.choose_name(None, make_zip(home / "a.zip", "from-zip")) == "from-zip"
    made = deploy.choose_name(None, None)
    assert made.startswith("dlgr-")
    assert len(made) == 13
    with pytest.raises(DlgrError, match="not a valid app name"):
        deploy.choose_name("Bad_Name", None)


def test_an_archive_is_checked_even_when_the_app_is_named(home):
    with pytest.raises(DlgrError, match="lacks"):
        deploy.choose_name("exp1", make_zip(home / "a.zip", tables=["info"]))


def test_dns_host_choices():
    config = Config({})
    assert deploy.resolve_dns_host("Example.ORG", config, "1.2.3.4") == "example.org"
    assert deploy.resolve_dns_host("nip.io", config, "1.2.3.4") == "1.2.3.4.nip.io"
    assert deploy.resolve_dns_host(None, config, "srv.example.org") == "srv.example.org"
    assert (
        deploy.resolve_dns_host(None, Config({"dns_host": "localhost"}), "1.2.3.4") == "localhost"
    )
    with pytest.raises(DlgrError, match=r"--dns-host nip\.io"):
        deploy.resolve_dns_host(None, config, "1.2.3.4")
    with pytest.raises(DlgrError, match="IP address"):
        deploy.resolve_dns_host("nip.io", config, "srv.example.org")


def test_environment_is_the_config_without_server_settings():
    config = Config(
        {
            "server_pem": "/k",
            "docker_caddy_image": "c",
            "host": "x",
            "recruiter": "hotair",
            "aws_access_key_id": "AK",
            "aws_region": "eu-west-1",
        }
    )
    env = deploy.app_environment(config, "live", "lab/exp:1", "admin")
    assert "server_pem" not in env
    assert "docker_caddy_image" not in env
    assert "host" not in env
    assert env["recruiter"] == "hotair"
    assert env["AWS_ACCESS_KEY_ID"] == "AK"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["mode"] == "live"
    assert env["dashboard_user"] == "admin"
    assert "dashboard_password" not in env  # the plan adds it, once every value is checked
    assert env["docker_image_name"] == "lab/exp:1"


def test_plan_maps_config_onto_role_variables(home):
    planned = plan({"num_dynos_worker": "3", "clock_on": "true", "docker_volumes": "/a:/b, /c:/d"})
    variables = planned.variables
    assert variables["dallinger_app_expect"] == "new"
    assert variables["dallinger_app_workers"] == 3
    assert variables["dallinger_app_clock"] is True
    assert variables["dallinger_app_volumes"] == ["/a:/b", "/c:/d"]
    assert variables["dallinger_app_psynet"] is False
    assert planned.url == "https://exp1.example.org/"
    assert planned.dashboard.new
    assert not planned.dashboard.saved_in.exists()  # kept only once the run starts
    planned.dashboard.store()
    assert planned.dashboard.saved_in.stat().st_mode & 0o777 == 0o600
    assert plan(update=True).variables["dallinger_app_expect"] == "existing"
    assert not plan(update=True).dashboard.new  # the same password again (saved above)


def test_plan_refuses_bad_input_before_connecting(home):
    with pytest.raises(DlgrError, match="cannot be combined with --update"):
        plan(update=True, archive=str(make_zip(home / "a.zip")))
    with pytest.raises(DlgrError, match="Which image"):
        plan(image=None)
    with pytest.raises(DlgrError, match="not a valid Docker image"):
        plan(image="Bad Image")
    with pytest.raises(DlgrError, match="num_dynos_worker"):
        plan({"num_dynos_worker": "many"})
    with pytest.raises(DlgrError, match="clock_on"):
        plan({"clock_on": "sometimes"})
    with pytest.raises(DlgrError, match="not a valid config key"):
        plan({"bad-key": "x"})


def test_a_configured_dashboard_password_is_not_stored(home):
    planned = plan({"dashboard_password": "chosen"})
    assert planned.dashboard is None
    assert planned.variables["dallinger_app_environment"]["dashboard_password"] == "chosen"


def test_an_update_from_a_machine_without_the_password_keeps_the_apps(home):
    """An app deployed from another machine, or by `dallinger docker-ssh`: no password is
    saved here, so the update leaves the app's own in place instead of a new one."""
    kept = plan(update=True)
    assert kept.dashboard is None
    assert "dashboard_password" not in kept.variables["dallinger_app_environment"]
    assert kept.variables["dallinger_app_environment_kept"] == ["dashboard_password"]
    assert deploy.app_report(kept, {"created": False})["dashboard_password_kept"] is True
    assert not (home / ".dallinger").exists()  # nothing made up and saved
    chosen = plan({"dashboard_password": "chosen"}, update=True)
    assert chosen.variables["dallinger_app_environment"]["dashboard_password"] == "chosen"
    assert chosen.variables["dallinger_app_environment_kept"] == []
    first = plan()
    assert first.variables["dallinger_app_environment_kept"] == []
    first.dashboard.store()  # as the first deploy's run does
    again = plan(update=True)
    assert again.dashboard.value == first.dashboard.value
    assert again.variables["dallinger_app_environment_kept"] == []


def test_export_paths_and_checks(home):
    assert export.export_path("exp1", None) == home / "data" / "exp1-data.zip"
    assert export.export_path("exp1", "out") == home / "out" / "data" / "exp1-data.zip"
    assert export.backup_path("exp1").name.startswith("exp1-backup-")
    export.check_export(make_zip(home / "a.zip"), "exp1")
    with pytest.raises(DlgrError, match="holds app 'exp1'"):
        export.check_export(home / "a.zip", "other")
    with pytest.raises(DlgrError, match="Which app"):
        validate.required_app_name(None)
    variables = export.destroy_variables("exp1", None)
    assert variables == {"dallinger_app_name": "exp1", "dallinger_destroy_backup": False}


def test_psynet_exports_get_a_folder_each_and_are_checked_once_unpacked(home):
    folder = export.psynet_export_path("exp1", None)
    assert folder.parent == home / "data"
    assert folder.name.startswith("exp1-psynet-")
    variables = export.export_variables("exp1", home / "x.zip", True, "auto", folder)
    assert variables["dallinger_export_format"] == "auto"
    assert variables["dallinger_export_psynet_dest"] == str(folder)
    folder.mkdir(parents=True)
    with pytest.raises(DlgrError, match="not usable"):
        export.check_psynet_export(folder)
    with zipfile.ZipFile(folder / "data.zip", "w") as archive:
        archive.writestr("regular/database.zip", b"zip")
        archive.writestr("source_code.zip", b"zip")
    with pytest.raises(DlgrError, match=r"regular/database\.zip is missing"):
        export.check_psynet_export(folder)
    (folder / "regular").mkdir()
    (folder / "regular" / "database.zip").write_bytes(b"zip")
    export.check_psynet_export(folder)
    with zipfile.ZipFile(folder / "data.zip", "w") as archive:
        archive.writestr("source_code.zip", b"zip")
    with pytest.raises(DlgrError, match=r"holds no database\.zip"):
        export.check_psynet_export(folder)


def test_a_server_on_another_https_port_gets_urls_with_that_port(home):
    planned = plan(dns_host="localhost", https_port=8443)
    assert planned.url == "https://exp1.localhost:8443/"
    assert planned.variables["dallinger_app_https_port"] == 8443
    assert plan().url == "https://exp1.example.org/"


def test_tls_defaults_to_caddys_own_ca_only_for_names_this_machine_knows(home):
    assert plan(dns_host="localhost", tls=None).variables["dallinger_app_tls"] == "internal"
    assert plan(tls=None).variables["dallinger_app_tls"] == "acme"
    assert plan({"tls": "internal"}, tls=None).variables["dallinger_app_tls"] == "internal"
    with pytest.raises(DlgrError, match="'acme' or 'internal'"):
        plan({"tls": "self-signed"}, tls=None)


def test_the_dns_default_is_the_servers_address_not_its_name(home):
    named = deploy.plan_deployment(
        Config({}),
        "local",
        app_name="exp1",
        image="lab/exp:1",
        dns_host=None,
        tls=None,
        mode="sandbox",
        update=False,
        archive=None,
        server_address="localhost",
        local_images=no_local_images,
    )
    assert named.url == "https://exp1.localhost/"
    deploy.check_dns(named, fake_resolve)  # as *.localhost resolves with nss-myhostname


def test_a_name_that_does_not_resolve_stops_the_deploy_with_advice(home):
    with pytest.raises(
        DlgrError, match=r"exp1\.example\.org does not resolve .*--dns-host nip\.io"
    ):
        deploy.check_dns(plan(), fake_resolve_nothing)
    deploy.check_dns(plan(), fake_resolve)


def test_the_dashboard_password_is_shown_when_the_app_is_created(home):
    first = plan()
    assert "dashboard_password" in deploy.app_report(first, {"created": False})
    first.dashboard.store()
    # A retry after a failed first deploy: the password file exists, the app is new.
    retry = plan()
    assert not retry.dashboard.new
    assert "dashboard_password" in deploy.app_report(retry, {"created": True})
    assert "dashboard_password" not in deploy.app_report(plan(), {"created": False})


def test_a_plan_for_an_image_built_later_gets_it_everywhere(home):
    pending = plan(image=None, build=True)
    assert pending.variables["dallinger_app_image"] == ""
    built = deploy.with_image(pending, "lab/exp:abc", no_local_images)
    assert built.variables["dallinger_app_image"] == "lab/exp:abc"
    assert built.variables["dallinger_app_environment"]["docker_image_name"] == "lab/exp:abc"
    assert pending.variables["dallinger_app_environment"]["docker_image_name"] == ""
    assert built.variables["dallinger_app_images_from_controller"] == []  # no such local image
    here = fake_local_images({"lab/exp:abc", "redis:7"})
    sent = deploy.with_image(
        plan({"docker_redis_image": "redis:7"}, image=None, build=True), "lab/exp:abc", here
    )
    assert sent.variables["dallinger_app_images_from_controller"] == ["lab/exp:abc", "redis:7"]


def test_unit_tests_never_reach_the_real_resolver_or_docker(home):
    """The guards of tests/unit/conftest.py: the real lookups fail every unit test."""
    with pytest.raises(AssertionError, match="real DNS resolver"):
        deploy.check_dns(plan())
    with pytest.raises(AssertionError, match="local Docker engine"):
        plan(local_images=deploy.locally_available)


def test_a_psynet_app_gets_the_roles_asset_mounts_instead_of_the_configured_one(home):
    psynet_volume = "${HOME}/psynet-data/assets:/psynet-data/assets"
    configured = plan({"docker_volumes": f"/a:/b,{psynet_volume}"}).variables
    assert configured["dallinger_app_psynet"] is True
    assert configured["dallinger_app_volumes"] == ["/a:/b"]
    built = plan({"docker_volumes": "/a:/b"}, build_psynet=True).variables
    assert (built["dallinger_app_psynet"], built["dallinger_app_volumes"]) == (True, ["/a:/b"])
    # PsyNet's own default runs the clock; the config still decides.
    assert built["dallinger_app_clock"] is True
    assert plan({"clock_on": "false"}, build_psynet=True).variables["dallinger_app_clock"] is False
    assert plan().variables["dallinger_app_clock"] is False
