import pytest

from dlgr_ansible.diagnose import explain
from dlgr_ansible.events import CENSORED, Failure
from dlgr_ansible.hosts import Server

UNREACHABLE = [
    (
        "Failed to connect to the host via ssh: dallinger@127.0.0.11: Permission denied (publickey).",
        "refused the SSH key /k",
    ),
    (
        "Failed to connect to the host via ssh: ssh: connect to host 127.0.0.99 port 22: Connection refused",
        "Cannot reach",
    ),
    (
        "Failed to connect to the host via ssh: ssh: Could not resolve hostname nowhere: Name or service not known",
        "Cannot reach",
    ),
    (
        "Failed to connect to the host via ssh: @@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@@\nHost key verification failed.",
        "ssh-keygen -R h",
    ),
]


@pytest.mark.parametrize(("message", "advice"), UNREACHABLE)
def test_unreachable_advice(message, advice):
    text = explain(Failure("h", "ping", message, unreachable=True), Server("h", "dallinger"), "/k")
    assert advice in text


def test_sudo_advice_names_the_user():
    text = explain(Failure("h", "t", "Missing sudo password"), Server("h", "ana"), "/k")
    assert "ana ALL=(ALL) NOPASSWD: ALL" in text


def test_other_failures_keep_ansible_message():
    text = explain(Failure("h", "Write file", "disk full"), Server("h", "u"), "/k")
    assert text == "Failed on h in task 'Write file': disk full"


def test_changed_key_advice_on_another_port_names_it_as_known_hosts_does():
    failure = Failure("h", "ping", "Host key verification failed.", unreachable=True)
    assert "ssh-keygen -R '[h]:2222'" in explain(failure, Server("h", "u", 2222))


def test_a_connection_lost_in_a_task_with_secrets_says_so_and_what_to_do():
    failure = Failure("h", "Read the app's secrets", CENSORED, unreachable=True)
    text = explain(failure, Server("h", "u"), "/k")
    assert 'SSH connection to h dropped during task "Read the app\'s secrets"' in text
    assert "Run the same command again" in text
