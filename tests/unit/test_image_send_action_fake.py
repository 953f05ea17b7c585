"""The docker_images role's action plugin `docker_images_send` as Ansible loads it, run
against fakes: a fake Docker SDK on the controller (its `docker save` is an archive made
here) and a fake server behind `_low_level_execute_command` and `put_file`. No Docker, no
SSH. Also its documentation, as ansible-doc shows it."""

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.loader import action_loader
from docker.errors import DockerException, ImageNotFound

from dlgr_ansible.images import delivery_lines
from tests.unit.fake_saved_image import ROLE, names_in, saved_image

SETTINGS = '[["PATH=/bin"],["run","it"],null,null,"/experiment",""]'
NAME = "lab/exp:2"
OVERLAY = '[["Storage Driver","overlay2"]]'
CONTAINERD = '[["driver-type","io.containerd.snapshotter.v1"]]'


class FakeEngine:
    """The controller's Docker engine, as much of the SDK as the plugin uses."""

    def __init__(self, saved: Path, driver=OVERLAY):
        self.saved = saved
        self.driver = driver
        config_name = json.loads(self._read("manifest.json"))[0]["Config"]
        self.diff_ids = json.loads(self._read(config_name))["rootfs"]["diff_ids"]
        self.images = self  # client.images.get

    def _read(self, member: str) -> bytes:
        with tarfile.open(self.saved) as tar:
            return tar.extractfile(member).read()

    def info(self):
        return {"DriverStatus": json.loads(self.driver)}

    def get(self, name):
        if name != NAME:
            raise ImageNotFound(f"No such image: {name}")
        attrs = {
            "Created": "2026-11-21T10:00:00Z",
            "RootFS": {"Layers": self.diff_ids},
            "Config": {"Env": ["PATH=/bin"], "Cmd": ["run", "it"], "WorkingDir": "/experiment"},
        }
        return SimpleNamespace(id="sha256:local", attrs=attrs, save=self.save)

    def save(self, named):
        assert named is False  # only layers and config: the name is given on the server
        data = self.saved.read_bytes()
        return (data[i : i + 4096] for i in range(0, len(data), 4096))


class FakeServer:
    """Answers the plugin's shell commands as a server with these images would."""

    def __init__(self, tmp: Path, driver=OVERLAY, named="", listing=()):
        self.tmp, self.driver, self.named, self.listing = tmp, driver, named, listing
        self.commands: list[str] = []
        self.uploads: dict[str, bytes] = {}
        self.drop_on = None  # a command start where the connection drops

    def execute(self, command, sudoable=True, in_data=None):
        self.commands.append(command)
        if self.drop_on and command.startswith(self.drop_on):
            raise AnsibleConnectionFailure("Connection reset by peer")
        if command.startswith("cat >"):  # an upload, piece by piece, as the SSH user
            assert not sudoable
            redirect, path = command.split()[1:]
            before = self.uploads.get(path, b"") if redirect == ">>" else b""
            self.uploads[path] = before + in_data
            return {"rc": 0, "stdout": ""}
        if command.startswith("find "):
            listing = "".join(f"{line}\n" for line in self.listing)
            marks = "--dlgr-images--"
            # `named` is the first wanted image's line; the others have none.
            wanted = [self.named] + [""] * (command.count(f"echo {marks}") - 2)
            named = "".join(f"{each}\n{marks}\n" for each in wanted)
            return {"rc": 0, "stdout": f"{self.driver}\n{marks}\n{named}{listing}"}
        if command.startswith("umask 077"):
            assert not sudoable  # the upload goes in as the SSH user
            return {"rc": 0, "stdout": "/var/tmp/dlgr-image-AbC12345\n"}
        return {"rc": 0, "stdout": ""}


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "saved.tar"
    return path, saved_image(path, [b"base" * 1000, b"deps", b"experiment"])


@pytest.fixture
def controller_tmp(tmp_path, monkeypatch):
    """The controller's $TMPDIR, where the plugin keeps its copy of the image."""
    where = tmp_path / "controller-tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def load_plugin(server: FakeServer, engine: FakeEngine, monkeypatch, **args):
    monkeypatch.setattr(docker, "from_env", lambda: engine)
    action_loader.add_directory(str(ROLE / "action_plugins"))
    task = SimpleNamespace(
        args={"name": NAME, **args}, async_val=0, check_mode=False, action="docker_images_send"
    )
    connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/fake"))
    action = action_loader.get("docker_images_send", task, connection, None, None, None, None)
    action._low_level_execute_command = server.execute
    return action


def run_plugin(server: FakeServer, engine: FakeEngine, monkeypatch, **args) -> dict:
    return load_plugin(server, engine, monkeypatch, **args).run(task_vars={})


def line(image_id: str, layers: list[str]) -> str:
    return f"{image_id} 2026-11-21T10:00:00Z {json.dumps(layers)} {SETTINGS}"


def test_the_missing_layers_are_sent_and_loaded_then_both_copies_removed(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, diff_ids = saved
    server = FakeServer(tmp_path, listing=[line("sha256:base", diff_ids[:2])])
    result = run_plugin(server, FakeEngine(path), monkeypatch)
    assert result["changed"] is True
    assert result["whole"] is False
    assert [layer["sent"] for layer in result["layers"]] == [False, False, True]
    (upload,) = server.uploads
    assert upload == "/var/tmp/dlgr-image-AbC12345/image.tar.gz"
    assert result["sent_bytes"] == len(server.uploads[upload])
    assert {n for n in names_in(server.uploads[upload]) if n.endswith("layer.tar")} == {
        "v1-2/layer.tar"
    }
    assert result["msg"] == f"{NAME}: sent 1 of 3 layers, {result['sent_bytes']} bytes compressed"
    assert [command.split()[0] for command in server.commands] == [
        "find",
        "umask",
        "cat",
        "loaded=$(docker",
        "rm",
    ]
    assert server.commands[-1] == "rm -rf /var/tmp/dlgr-image-AbC12345"
    assert list(controller_tmp.iterdir()) == []
    assert result["seconds"] >= 0


def plugin_with_pack(saved, tmp_path, monkeypatch, pack):
    """The plugin against a server that lacks the image's last layer, with `pack`
    (given the real one) in place of the real pack and a keepalive every 0.05 s."""
    path, diff_ids = saved
    server = FakeServer(tmp_path, listing=[line("sha256:base", diff_ids[:2])])
    action = load_plugin(server, FakeEngine(path), monkeypatch)
    plugin = sys.modules[type(action).__module__]
    monkeypatch.setattr(plugin, "KEEPALIVE_SECONDS", 0.05)
    monkeypatch.setattr(plugin.local, "pack", pack(plugin.local.pack))
    return action, server


def slowly(seconds: float, done: list):
    """A pack that takes `seconds` longer and notes each result in `done`."""

    def wrap(pack):
        def slow_pack(*args):
            time.sleep(seconds)
            done.append(pack(*args))
            return done[-1]

        return slow_pack

    return wrap


def test_a_slow_pack_keeps_the_ssh_connection_busy(saved, controller_tmp, tmp_path, monkeypatch):
    """The deploy lock's holder is alive while its SSH connection is; a pack longer than
    ControlPersist must not let that connection close."""
    action, server = plugin_with_pack(saved, tmp_path, monkeypatch, slowly(0.5, []))
    result = action.run(task_vars={})
    assert result["changed"] is True
    keepalives = [command for command in server.commands if command == "true"]
    assert len(keepalives) >= 2  # about 9; fewer on a loaded machine
    upload = next(command for command in server.commands if command.startswith("umask"))
    assert server.commands.index("true") < server.commands.index(upload)


def test_a_connection_lost_while_packing_fails_once_the_pack_is_done_and_cleans_up(
    saved, controller_tmp, tmp_path, monkeypatch
):
    packed = []
    action, server = plugin_with_pack(saved, tmp_path, monkeypatch, slowly(0.3, packed))
    server.drop_on = "true"
    with pytest.raises(AnsibleActionFail, match="the SSH connection dropped"):
        action.run(task_vars={})
    assert packed  # the pack ended before its directory was removed
    assert list(controller_tmp.iterdir()) == []


def test_a_pack_that_fails_in_its_thread_fails_the_send(
    saved, controller_tmp, tmp_path, monkeypatch
):
    def broken(pack):
        def broken_pack(*args):
            raise OSError("No space left on device")

        return broken_pack

    action, _ = plugin_with_pack(saved, tmp_path, monkeypatch, broken)
    with pytest.raises(AnsibleActionFail, match="Sending lab/exp:2 failed: No space left"):
        action.run(task_vars={})
    assert list(controller_tmp.iterdir()) == []


def test_a_save_made_beforehand_is_waited_for_used_and_left(
    saved, controller_tmp, tmp_path, monkeypatch
):
    """The CLI saves the image while the playbook starts (dlgr_ansible.presave): the
    plugin waits while that save is written, then cuts it instead of saving again."""
    path, diff_ids = saved
    engine = FakeEngine(path)
    engine.save = None  # a second save would fail
    saved_dir = tmp_path / "saved"
    saved_dir.mkdir()
    part = saved_dir / "local.tar.part"  # the fake engine's id is sha256:local
    part.write_bytes(b"half of it")

    def finish_writing():
        time.sleep(0.3)
        shutil.copyfile(path, part)
        part.rename(saved_dir / "local.tar")

    writer = threading.Thread(target=finish_writing)
    writer.start()
    server = FakeServer(tmp_path, listing=[line("sha256:base", diff_ids[:2])])
    result = run_plugin(server, engine, monkeypatch, saved_dir=str(saved_dir))
    writer.join()
    assert result["presaved"] is True
    assert [layer["sent"] for layer in result["layers"]] == [False, False, True]
    assert (saved_dir / "local.tar").read_bytes() == path.read_bytes()  # the CLI's to remove
    assert list(controller_tmp.iterdir()) == []


@pytest.mark.parametrize("left", [None, "local.tar.part", "other-image.tar"])
def test_without_a_save_of_this_image_made_beforehand_the_plugin_saves_it(
    saved, controller_tmp, tmp_path, monkeypatch, left
):
    path, diff_ids = saved
    saved_dir = tmp_path / "saved"
    saved_dir.mkdir()
    if left:
        (saved_dir / left).write_bytes(b"not this image")
    if left == "local.tar.part":  # a save that gave up removes its part
        threading.Timer(0.2, (saved_dir / left).unlink).start()
    server = FakeServer(tmp_path, listing=[line("sha256:base", diff_ids[:2])])
    result = run_plugin(server, FakeEngine(path), monkeypatch, saved_dir=str(saved_dir))
    assert result["presaved"] is False
    assert [layer["sent"] for layer in result["layers"]] == [False, False, True]
    assert list(controller_tmp.iterdir()) == []


def test_an_upload_goes_in_pieces_and_says_how_far_it_got(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, diff_ids = saved
    server = FakeServer(tmp_path, listing=[line("sha256:base", diff_ids[:2])])
    progress = tmp_path / "progress.json"
    seen = []
    execute = server.execute

    def watching(command, sudoable=True, in_data=None):
        if command.startswith("cat >") or command.startswith("loaded="):
            seen.append(json.loads(progress.read_text()) if progress.exists() else None)
        return execute(command, sudoable, in_data)

    server.execute = watching
    action = load_plugin(server, FakeEngine(path), monkeypatch, progress_file=str(progress))
    plugin = sys.modules[type(action).__module__]
    monkeypatch.setattr(plugin, "UPLOAD_CHUNK", 100)
    monkeypatch.setattr(sys.modules["docker_images_delivery.progress"], "INTERVAL", 0)
    result = action.run(task_vars={})
    (upload,) = server.uploads.values()
    total = result["sent_bytes"]
    assert len(upload) == total > 200
    pieces = [command for command in server.commands if command.startswith("cat ")]
    assert len(pieces) == -(-total // 100)
    assert pieces[0].startswith("cat > ")
    assert pieces[1].startswith("cat >> ")
    # Before each piece, where it had got to; then, before the load, "loading".
    assert seen[0] == {"image": NAME, "step": "preparing", "done": 0, "total": 0}
    assert [report["done"] for report in seen[1:-1]] == [*range(100, total, 100)]
    assert {report["total"] for report in seen[1:-1]} == {total}
    assert seen[-1] == {"image": NAME, "step": "loading", "done": 0, "total": 0}
    assert not progress.exists()  # the send is over


def test_the_cli_reads_the_plugins_result_layer_by_layer(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, diff_ids = saved
    server = FakeServer(tmp_path, listing=[line("sha256:base", diff_ids[:2])])
    result = run_plugin(server, FakeEngine(path), monkeypatch)
    lines = delivery_lines({"dlgr_images": {"lab": {NAME: result}}})
    assert lines[0] == f"lab: {result['msg']}"
    assert [entry.split()[-1] for entry in lines[1:]] == ["server", "server", "sent"]


def test_nothing_is_sent_when_the_server_has_the_build_under_that_name(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, diff_ids = saved
    server = FakeServer(tmp_path, named=line("sha256:local", diff_ids))
    result = run_plugin(server, FakeEngine(path), monkeypatch)
    assert result["changed"] is False
    assert result["msg"] == f"{NAME} is already there"
    assert (result["sent_bytes"], result["layers"]) == (0, [])
    assert len(server.commands) == 1
    assert server.uploads == {}


def test_a_build_the_server_holds_under_another_name_is_only_named(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, diff_ids = saved
    server = FakeServer(tmp_path, listing=[line("sha256:local", diff_ids)])
    result = run_plugin(server, FakeEngine(path), monkeypatch)
    assert result["changed"] is True
    assert server.commands[1] == "docker tag sha256:local lab/exp:2"
    assert server.uploads == {}


def test_several_images_are_looked_up_at_once_and_again_only_after_a_change(
    saved, controller_tmp, tmp_path, monkeypatch
):
    """The second name is the same build: once the first is loaded, it is only named."""
    path, diff_ids = saved
    engine = FakeEngine(path)
    engine_get = engine.get
    engine.get = lambda name: engine_get(NAME if name == "lab/same:2" else name)
    server = FakeServer(tmp_path)
    fake_execute = server.execute

    def execute(command, sudoable=True, in_data=None):
        if command.startswith("loaded="):
            server.listing = [line("sha256:local", diff_ids)]
        return fake_execute(command, sudoable, in_data)

    server.execute = execute
    result = run_plugin(server, engine, monkeypatch, name=None, names=[NAME, "lab/same:2"])
    assert result["changed"] is True
    assert list(result["images"]) == [NAME, "lab/same:2"]
    assert result["images"][NAME]["sent_bytes"] > 0
    assert (
        result["images"]["lab/same:2"]["msg"] == "lab/same:2: the server had this build; named it"
    )
    looks = [command for command in server.commands if command.startswith("find ")]
    assert len(looks) == 2
    assert "lab/same:2" in looks[1]
    assert NAME not in looks[1]
    assert server.commands[-1] == "docker tag sha256:local lab/same:2"
    # The first already there: no second look before the second.
    server.commands.clear()
    server.named = line("sha256:local", diff_ids)
    again = run_plugin(server, engine, monkeypatch, name=None, names=[NAME, "lab/same:2"])
    assert again["images"][NAME]["changed"] is False
    assert [command.split()[0] for command in server.commands] == ["find", "docker"]


def test_a_containerd_store_gets_the_whole_image(saved, controller_tmp, tmp_path, monkeypatch):
    path, diff_ids = saved
    server = FakeServer(tmp_path, driver=CONTAINERD, listing=[line("sha256:x", diff_ids[:2])])
    result = run_plugin(server, FakeEngine(path), monkeypatch)
    assert result["whole"] is True
    assert all(layer["sent"] for layer in result["layers"])


def test_a_connection_dropped_during_the_load_says_so_and_cleans_up(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, _ = saved
    server = FakeServer(tmp_path)
    server.drop_on = "loaded="
    with pytest.raises(AnsibleActionFail, match="the SSH connection dropped") as failure:
        run_plugin(server, FakeEngine(path), monkeypatch)
    assert "The image under way was not named; run the command again" in str(failure.value)
    assert server.commands[-1] == "rm -rf /var/tmp/dlgr-image-AbC12345"
    assert list(controller_tmp.iterdir()) == []


def test_a_failed_command_gives_its_own_words_not_ssh_s(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, _ = saved
    server = FakeServer(tmp_path)

    def refuse(command, sudoable=True, in_data=None):
        return {
            "rc": 1,
            "stdout": "Shared connection to 10.0.0.1 closed.\n",
            "stderr": "permission denied while trying to connect to the Docker daemon\n",
        }

    server.execute = refuse
    with pytest.raises(AnsibleActionFail) as failure:
        run_plugin(server, FakeEngine(path), monkeypatch)
    assert str(failure.value) == (
        "Listing the images on the server failed: "
        "permission denied while trying to connect to the Docker daemon"
    )


def test_a_full_disk_during_the_upload_says_nothing_was_loaded(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, _ = saved
    server = FakeServer(tmp_path)
    execute = server.execute

    def full(command, sudoable=True, in_data=None):
        if command.startswith("cat >"):
            return {"rc": 1, "stdout": "", "stderr": "cat: write error: No space left on device\n"}
        return execute(command, sudoable, in_data)

    server.execute = full
    with pytest.raises(AnsibleActionFail) as failure:
        run_plugin(server, FakeEngine(path), monkeypatch)
    assert str(failure.value) == (
        f"Uploading {NAME} failed, nothing was loaded: cat: write error: No space left on device"
    )
    assert server.commands[-1] == "rm -rf /var/tmp/dlgr-image-AbC12345"


def test_an_unreadable_answer_points_at_docker_on_the_server(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, _ = saved
    server = FakeServer(tmp_path)
    server.execute = lambda command, sudoable=True, in_data=None: {"rc": 0, "stdout": "hello\n"}
    with pytest.raises(AnsibleActionFail, match="is Docker installed there"):
        run_plugin(server, FakeEngine(path), monkeypatch)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": ""}, "name, names: an image is a non-empty string"),
        ({"name": None}, r"name \(one image\) or names \(a list of them\) is required"),
        ({"name": None, "names": []}, "names: a list of one or more images is required"),
        ({"upload_parent": ["/var/tmp"]}, "upload_parent: a directory on the server is required"),
        ({"name": "lab/other:1"}, "The image lab/other:1 is not in the controller's Docker"),
        ({"colour": "red"}, "Invalid options for docker_images_send: colour"),
    ],
)
def test_bad_arguments_and_a_missing_image_read_plainly(
    saved, controller_tmp, tmp_path, monkeypatch, args, message
):
    server = FakeServer(tmp_path)
    with pytest.raises(AnsibleActionFail, match=message):
        run_plugin(server, FakeEngine(saved[0]), monkeypatch, **args)
    assert server.commands == []


def test_dockers_own_words_follow_the_message_once(saved, controller_tmp, tmp_path, monkeypatch):
    with pytest.raises(AnsibleActionFail) as failure:
        run_plugin(FakeServer(tmp_path), FakeEngine(saved[0]), monkeypatch, name="lab/other:1")
    message = str(failure.value)
    assert message.count("is not in the controller's Docker engine") == 1
    assert message.count("No such image: lab/other:1") == 1


def test_a_failed_docker_save_fails_the_send(saved, controller_tmp, tmp_path, monkeypatch):
    engine = FakeEngine(saved[0])

    def broken_save(named):
        yield b"partial"
        raise DockerException("the engine went away")

    engine.save = broken_save
    server = FakeServer(tmp_path)
    with pytest.raises(AnsibleActionFail, match=f"Sending {NAME} failed: the engine went away"):
        run_plugin(server, engine, monkeypatch)
    assert server.uploads == {}
    assert list(controller_tmp.iterdir()) == []


def test_an_archive_docker_save_cut_short_fails_the_send(
    saved, controller_tmp, tmp_path, monkeypatch
):
    path, _ = saved
    path.write_bytes(path.read_bytes()[:1000])
    engine = FakeEngine.__new__(FakeEngine)
    engine.saved, engine.driver, engine.diff_ids, engine.images = path, OVERLAY, [], engine
    with pytest.raises(AnsibleActionFail, match=f"Sending {NAME} failed"):
        run_plugin(FakeServer(tmp_path), engine, monkeypatch)
    assert list(controller_tmp.iterdir()) == []


def test_the_cli_lists_each_layer_from_the_roles_stats():
    stats = {
        "dlgr_images": {
            "lab": {
                "exp:2": {
                    "msg": "exp:2: sent 1 of 2 layers, 2048 bytes compressed",
                    "layers": [
                        {"diff_id": "sha256:" + "a" * 64, "size": 74_100_000, "sent": False},
                        {"diff_id": "sha256:" + "b" * 64, "size": 1_536, "sent": True},
                    ],
                }
            }
        }
    }
    lines = delivery_lines(stats)
    assert lines[0] == "lab: exp:2: sent 1 of 2 layers, 2048 bytes compressed"
    assert lines[1].split() == ["layer", "1/2", "a" * 12, "74.1", "MB", "on", "the", "server"]
    assert lines[2].split() == ["layer", "2/2", "b" * 12, "1.5", "kB", "sent"]
    assert delivery_lines({}) == []


def test_ansible_doc_shows_the_options_and_what_it_returns():
    """The exact command the role's README gives."""
    ansible_doc = shutil.which("ansible-doc", path=str(Path(sys.executable).parent))
    shown = subprocess.run(
        [ansible_doc, "-M", str(ROLE / "library"), "docker_images_send"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": str(Path(sys.executable).parent), "ANSIBLE_NOCOLOR": "1"},
    ).stdout
    assert "MODULE docker_images_send" in shown
    for option in ("name", "upload_parent", "default: /var/tmp", "sent_bytes", "layers"):
        assert option in shown
