import pytest

from dlgr_ansible import validate
from dlgr_ansible.validate import ValidationError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.11", "127.0.0.11"),
        ("::1", "::1"),
        ("Experiments.Example.org.", "experiments.example.org"),
        ("server-1", "server-1"),
    ],
)
def test_host_accepts(value, expected):
    assert validate.host(value) == expected


@pytest.mark.parametrize(
    "value", ["", "bad host", "-leading", "a;rm -rf /", "$(id)", "1.2.3", "a..b", "x" * 64 + ".org"]
)
def test_host_rejects_with_advice(value):
    with pytest.raises(ValidationError, match=r"DNS name|empty"):
        validate.host(value)


@pytest.mark.parametrize("value", ["dallinger", "ubuntu", "_svc", "first.last", "a-b_c"])
def test_user_accepts(value):
    assert validate.user(value) == value


@pytest.mark.parametrize("value", ["", "root;id", "-x", "a b", "x" * 33, "1abc"])
def test_user_rejects(value):
    with pytest.raises(ValidationError, match="not a valid user name"):
        validate.user(value)


@pytest.mark.parametrize(("value", "expected"), [(22, 22), ("2222", 2222), (65535, 65535)])
def test_port_accepts(value, expected):
    assert validate.port(value) == expected


@pytest.mark.parametrize("value", [0, 65536, "22x", "", None, -1, "0x16"])
def test_port_rejects(value):
    with pytest.raises(ValidationError, match="1 to 65535"):
        validate.port(value)


@pytest.mark.parametrize("value", ["a", "stroop-pilot", "dlgr-1a2b3c4d", "x" * 63])
def test_app_name_accepts_dns_labels(value):
    assert validate.app_name(value) == value


@pytest.mark.parametrize(
    "value", ["", "1abc", "Stroop", "a_b", "ends-", "x" * 64, "a.b", "a;b", "a b", "é"]
)
def test_app_name_rejects(value):
    with pytest.raises(ValidationError, match="lowercase letters, digits and hyphens"):
        validate.app_name(value)


@pytest.mark.parametrize(
    "value",
    [
        "nginx",
        "ghcr.io/my-lab/stroop:1.0",
        "localhost:5000/exp",
        "registry.example.org:443/a/b/c:v1.2-rc_3",
        "dlgr-test/target:trixie",
        "busybox@sha256:" + "a" * 64,
        "ghcr.io/x/y:tag@sha256:" + "0" * 64,
    ],
)
def test_image_accepts_docker_references(value):
    assert validate.image(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Upper/case",
        "a b",
        "img:",
        "img:tag with space",
        "img;rm",
        "$(id)",
        "-x",
        "a//b",
        "img:tagÄ",  # Docker's tags are ASCII; found by benchmarks/bad_input.py
    ],
)
def test_image_rejects(value):
    with pytest.raises(ValidationError, match="valid Docker image reference"):
        validate.image(value)


def test_dns_host():
    assert validate.dns_host("nip.io") == "nip.io"
    assert validate.dns_host("Exp.Example.ORG") == "exp.example.org"
    assert validate.dns_host("localhost") == "localhost"  # a rehearsal server
    for bad in ["host", "a b.org", "", "-x.org"]:
        with pytest.raises(ValidationError):
            validate.dns_host(bad)


def test_config_keys_and_values():
    assert validate.config_key("aws_region") == "aws_region"
    for bad in ["", "1x", "a-b", "a b", "a=b", "x;y"]:
        with pytest.raises(ValidationError, match="not a valid config key"):
            validate.config_key(bad)
    tricky = 'it\'s "quoted" $HOME `id`; echo\nsecond line'
    assert validate.config_value("k", tricky) == tricky
    with pytest.raises(ValidationError, match="carriage return"):
        validate.config_value("k", "windows\r\n")
    with pytest.raises(ValidationError, match="NUL"):
        validate.config_value("k", "a\0b")


@pytest.mark.parametrize("value", sorted(validate.RESERVED_APP_NAMES))
def test_app_name_refuses_the_shared_services_names(value):
    with pytest.raises(ValidationError, match="reserved"):
        validate.app_name(value)


def test_numbers_and_flags_from_the_config():
    assert validate.whole_number("num_dynos_worker", None, 1, 0) == 1
    assert validate.whole_number("num_dynos_worker", "3", 1, 0) == 3
    with pytest.raises(ValidationError, match="at least 2"):
        validate.whole_number("docker_worker_cpu_shares", "1", 1024, 2)
    assert validate.flag("clock_on", " Yes ") is True
    assert validate.flag("clock_on", None) is False
    with pytest.raises(ValidationError, match="use true or false"):
        validate.flag("clock_on", "sometimes")


def test_server_settings():
    assert validate.tls("internal") == "internal"
    with pytest.raises(ValidationError, match="'acme' or 'internal'"):
        validate.tls("self-signed")
    assert validate.docker_source("distribution") == "distribution"
    with pytest.raises(ValidationError, match="'official'"):
        validate.docker_source("snap")


def test_logs_options():
    assert validate.tail_lines(None) is None
    assert validate.tail_lines(0) == 0
    with pytest.raises(ValidationError, match="--tail -1"):
        validate.tail_lines(-1)
    with pytest.raises(ValidationError, match="Which app"):
        validate.required_app_name("")
    assert validate.required_app_name("demo1") == "demo1"


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "a\0b", "x" * 73, "é" * 37])
def test_dozzle_passwords_bcrypt_can_hash_whole(bad):
    with pytest.raises(ValidationError):
        validate.dozzle_password(bad)
    assert validate.dozzle_password("x" * 72) == "x" * 72


def test_image_base_names_have_no_tag():
    assert validate.image_base_name("ghcr.io/lab/stroop") == "ghcr.io/lab/stroop"
    assert validate.image_base_name("localhost:5000/stroop") == "localhost:5000/stroop"
    with pytest.raises(ValidationError, match="Set docker_image_base_name"):
        validate.image_base_name(None)
    with pytest.raises(ValidationError, match=r"leave out the tag \('lab/stroop'\)"):
        validate.image_base_name("lab/stroop:1")


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (validate.app_name, "stroop\n"),
        (validate.user, "dallinger\n"),
        (validate.config_key, "recruiter\n"),
        (validate.service_name, "web\n"),
    ],
)
def test_a_trailing_newline_is_refused(check, value):
    """`$` matches before a final newline; the checks must not let one into a Caddyfile,
    a YAML file or a shell command."""
    with pytest.raises(validate.ValidationError):
        check(value)


def test_an_email_with_a_trailing_newline_is_not_one():
    assert not validate.is_email("me@example.org\n")


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (validate.host, "example.org\n"),
        (validate.dns_host, "example.org\n"),
        (validate.image, "lab/stroop:1\n"),
    ],
)
def test_values_trimmed_of_white_space_come_back_without_the_newline(check, value):
    assert check(value) == value.strip()
