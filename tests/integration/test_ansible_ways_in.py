"""The two ways in without the CLI's commands: plain ansible-playbook with the rendered
inventory, and the roles reused from a playbook outside this repository.

One target, its HTTPS published on a free port of 127.0.0.1, so `<app>.localhost:<port>`
reaches its Caddy from here (for /launch and for these checks) as it would in a browser.
"""

import http.client
import re
import subprocess
import textwrap

import pytest
import yaml

from dlgr_ansible.resources import playbooks_dir, share_dir
from tests.integration.conftest import BIN_DIR
from tests.testbed import experiment_image, service_images, targets

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web_server(testbed, ssh_key):
    service_images.build_service_images()
    experiment_image.build_experiment_images()
    port = targets.free_port()
    target = targets.start_target(
        "dlgr-ways-in",
        targets.free_loopback_address(),
        ssh_key.with_suffix(".pub").read_text(),
        web_address="127.0.0.1",
        web_ports=(targets.free_port(), port),
    )
    yield target, port
    targets.stop_target(target)


@pytest.fixture
def inventory(researcher, web_server):
    target, _ = web_server
    added = researcher.run("servers", "add", "--host", target.address, "--user", "dallinger")
    assert added.returncode == 0, added.stderr
    path = researcher.home / "inventory.yml"
    assert researcher.run("inventory", "--output", str(path)).returncode == 0
    return path


def app_variables(name: str, port: int) -> dict:
    """A test server's stack (stand-in images sent from here) and one app on it."""
    images = [
        service_images.POSTGRES_IMAGE,
        service_images.CADDY_IMAGE,
        service_images.REDIS_IMAGE,
        service_images.PGBOUNCER_IMAGE,
        "dlgr-test/experiment:1",
    ]
    return {
        "docker_engine_source": "distribution",
        "dallinger_server_tls": "internal",
        "dallinger_server_postgresql_image": service_images.POSTGRES_IMAGE,
        "dallinger_server_caddy_image": service_images.CADDY_IMAGE,
        "dallinger_server_dozzle_image": "",
        "dallinger_server_images_from_controller": images[:2],
        "dallinger_app_name": name,
        "dallinger_app_image": images[-1],
        "dallinger_app_redis_image": service_images.REDIS_IMAGE,
        "dallinger_app_pgbouncer_image": service_images.PGBOUNCER_IMAGE,
        "dallinger_app_images_from_controller": images[2:],
        "dallinger_app_dns_host": "localhost",
        "dallinger_app_https_port": port,
        "dallinger_app_tls": "internal",
        "dallinger_app_environment": {"mode": "sandbox", "dashboard_password": "ways-in"},
    }


def play(researcher, inventory, playbook, variables_file, cwd, env=None):
    done = subprocess.run(
        [BIN_DIR / "ansible-playbook", "-i", inventory, playbook, "-e", f"@{variables_file}"],
        env=env or researcher.env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    recap = done.stdout.split("PLAY RECAP")[-1]
    return sum(int(n) for n in re.findall(r"changed=(\d+)", recap)), done.stdout


def served(target, port: int, host: str) -> int:
    """GET /ad through Caddy, TLS verified against Caddy's own root."""
    context = targets.caddy_tls(target)
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=30)
    try:
        connection.request("GET", "/ad?generate_tokens=1")
        return connection.getresponse().status
    finally:
        connection.close()


def test_plain_ansible_playbook_deploys_and_reruns_clean(researcher, inventory, web_server):
    target, port = web_server
    variables = researcher.home / "plain.yml"
    variables.write_text(yaml.safe_dump(app_variables("plain1", port)))
    deploy = playbooks_dir() / "deploy.yml"
    _, output = play(researcher, inventory, deploy, variables, share_dir())
    assert "POST /launch until the app answers" in output  # launched through Caddy
    assert served(target, port, "plain1.localhost") in (200, 302)
    assert play(researcher, inventory, deploy, variables, share_dir())[0] == 0


def test_roles_work_from_a_playbook_elsewhere(researcher, inventory, web_server, tmp_path):
    """As another team would use them: their own playbook, roles_path pointing at roles/."""
    target, port = web_server
    project = tmp_path / "their-project"
    project.mkdir()
    (project / "site.yml").write_text(
        textwrap.dedent(
            """\
            - name: Our experiments
              hosts: dallinger_servers
              roles:
                - role: docker_engine
                - role: dallinger_server
                - role: dallinger_app
                - role: dallinger_export
                  vars:
                    dallinger_export_app: "{{ dallinger_app_name }}"
                    dallinger_export_dest: "{{ playbook_dir }}/backup.zip"
            """
        )
    )
    variables = project / "vars.yml"
    variables.write_text(yaml.safe_dump(app_variables("ext1", port)))
    env = dict(researcher.env, ANSIBLE_ROLES_PATH=str(share_dir() / "roles"))
    play(researcher, inventory, "site.yml", variables, project, env)
    assert served(target, port, "ext1.localhost") in (200, 302)
    assert (project / "backup.zip").is_file()
    assert play(researcher, inventory, "site.yml", variables, project, env)[0] == 0
