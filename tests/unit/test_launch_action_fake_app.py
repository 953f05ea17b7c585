"""The dallinger_app_launch action as Ansible runs it, against a fake app: a local HTTPS
server whose certificate a throwaway CA signed, as Caddy's own CA does for tls internal."""

import datetime
import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "dallinger_app"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def _certificate(subject, issuer, key, signing_key, *, ca: bool):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = x509.SubjectAlternativeName([x509.DNSName("localhost")])
        builder = builder.add_extension(names, critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A fake app on https://localhost:PORT that answers 503 once, then 200 with JSON."""
    where = tmp_path_factory.mktemp("app")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("fake Caddy root", "fake Caddy root", ca_key, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate("localhost", "fake Caddy root", key, ca_key, ca=False)
    (where / "leaf.pem").write_text(_pem(leaf))
    (where / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    posts, gets = [], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            posts.append(self.path)
            ready = self.path == "/launch" and len(posts) > 1  # any other path: busy
            body = json.dumps({"recruitment_msg": "go"} if ready else {}).encode()
            self.send_response(200 if ready else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            gets.append(self.path)
            self.send_response(200 if self.path == "/robots.txt" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(where / "leaf.pem", where / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _certificate("another root", "another root", other_key, other_key, ca=True)
    yield {
        "url": f"https://localhost:{server.server_address[1]}/launch",
        "ca": _pem(ca),
        "other_ca": _pem(other),
        "posts": posts,
        "gets": gets,
    }
    server.shutdown()


def _launch(
    tmp_path: Path, url: str, ca: str, retries: int | str = 0, *options: str, method="POST"
) -> tuple[int, dict, str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - dallinger_app_launch: {url: '{{ url }}', ca: '{{ ca }}', retries: '{{ n }}',"
        " delay: 0, timeout: 5, method: '{{ method }}'}\n"
        "      register: launched\n"
        "      ignore_errors: true\n"
        "    - ansible.builtin.copy: {content: '{{ launched | to_json }}', dest: '{{ out }}'}\n"
        "      check_mode: false\n"
    )
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "ANSIBLE_ACTION_PLUGINS": str(ROLE / "action_plugins"),
        "ANSIBLE_LIBRARY": str(ROLE / "library"),
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "NO_PROXY": "localhost",
    }
    extra = {"url": url, "ca": ca, "n": retries, "out": str(out), "method": method}
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(playbook), "-e", json.dumps(extra), *options],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    result = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, result, done.stdout + done.stderr


def test_it_retries_until_the_app_answers_and_trusts_only_the_given_root(tmp_path, app):
    app["posts"].clear()
    rc, result, output = _launch(tmp_path, app["url"], app["ca"], retries=3)
    assert rc == 0, output
    assert result["status"] == 200
    assert result["attempts"] == 2
    assert result["json"] == {"recruitment_msg": "go"}
    assert result["changed"] is True
    assert app["posts"] == ["/launch", "/launch"]


@pytest.mark.parametrize("which", ["other_ca", "none"])
def test_a_certificate_it_cannot_verify_is_a_failure(tmp_path, app, which):
    app["posts"].clear()
    rc, result, output = _launch(tmp_path, app["url"], app.get(which, ""), retries=1)
    assert rc == 0, output  # ignore_errors: the result is what is checked
    assert result["failed"] is True
    assert result["status"] == -1
    assert result["attempts"] == 2
    assert "CERTIFICATE_VERIFY_FAILED" in result["msg"], result["msg"]
    assert app["posts"] == []


def test_an_app_that_never_answers_200_fails_naming_its_last_answer(tmp_path, app):
    app["posts"].clear()
    busy = app["url"].replace("/launch", "/busy")
    rc, result, output = _launch(tmp_path, busy, app["ca"], "1")  # as a template gives it
    assert rc == 0, output
    assert result["failed"] is True
    assert result["status"] == 503
    assert result["msg"] == f"POST {busy} answered HTTP 503 after 2 attempts."
    assert app["posts"] == ["/busy", "/busy"]


def test_a_dry_run_launches_nothing(tmp_path, app):
    app["posts"].clear()
    rc, result, output = _launch(tmp_path, app["url"], app["ca"], 3, "--check")
    assert rc == 0, output
    assert result.get("skipped") is True
    assert app["posts"] == []


def test_a_moved_app_is_only_read_and_nothing_is_posted(tmp_path, app):
    app["posts"].clear()
    health = app["url"].replace("/launch", "/robots.txt")
    rc, result, output = _launch(tmp_path, health, app["ca"], 1, method="GET")
    assert rc == 0, output
    assert result["status"] == 200
    assert result["changed"] is False
    assert app["gets"] == ["/robots.txt"]
    assert app["posts"] == []
    rc, result, output = _launch(tmp_path, app["url"], app["ca"], 0, method="PUT")
    assert result["failed"] is True
    assert "method: POST or GET" in result["msg"]
