#!/usr/bin/python
"""The server's deploy lock and deploy history: one module, so that taking the lock,
recognising a dead holder and recording its run happen under one file lock."""

import datetime
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
import time

DOCUMENTATION = r"""
module: dallinger_run_lock
short_description: Take or release the server's deploy lock; record a run in the history
description:
  - The lock is a JSON record of its holder (user, machine, command, app, since) in a
    file that only this module writes, under an flock so that two runs cannot both take
    it.
  - A holder is alive while the SSH session it took the lock over is (Ansible keeps one
    connection per run), and after that while commands it started still run on the
    server (a killed run's remote commands go on to their end), for up to I(stale_after)
    seconds after it took the lock. Then the holder died, and the lock is taken over,
    with a line for the dead run (result interrupted) in the history. Only the user's
    own processes are seen; one run as root is seen through the user's shell that ran
    sudo.
  - Holders that came over no SSH session (a local or docker connection) count as alive
    for I(stale_after) seconds.
  - The history is one JSON line per run, appended with O_APPEND.
options:
  state:
    description: held takes the lock (once: retry the task to wait); released gives it back.
    type: str
    choices: [held, released]
    required: true
  lock_file:
    description: The lock's file. Its folder is created when missing.
    type: path
    required: true
  log_file:
    description: The history, one JSON line per run.
    type: path
    required: true
  holder:
    description: With state=held, who takes the lock (user, machine, tool, command, app).
    type: dict
    default: {}
  token:
    description: With state=released, the token state=held returned; another run's lock is left alone.
    type: str
    default: ""
  record:
    description: With state=released, the run's history line (result, image, ...); nothing when empty.
    type: dict
    default: {}
  started:
    description: With state=released, the server's clock when the run took the lock, for the line's duration.
    type: int
    default: 0
  stale_after:
    description: >-
      Seconds after which a lock taken over no SSH session counts as abandoned, and after
      which commands a dead holder left running no longer keep its lock.
    type: int
    default: 21600
author: dlgr-ansible developers
"""

RETURN = r"""
acquired:
  description: Whether this run holds the lock now (state=held).
  type: bool
token:
  description: The lock's token, to give back with state=released.
  type: str
holder:
  description: The lock's holder record (this run's when acquired).
  type: dict
took_over:
  description: The record of a dead holder whose lock was taken over, or null.
  type: dict
started:
  description: The server's clock (epoch seconds) when this run took the lock.
  type: int
"""


def proc_stat(pid, proc="/proc"):
    """(command name, parent pid, start time in clock ticks) of a process, or None."""
    try:
        with open(f"{proc}/{pid}/stat", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    # comm is in parentheses and may hold spaces or parentheses itself.
    try:
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        return name, int(fields[1]), fields[19]
    except (ValueError, IndexError):
        return None


def ssh_session(pid, proc="/proc"):
    """The sshd (or OpenSSH 9.8's sshd-session) process this one runs under, as
    {pid, start}; None when it came over no SSH session."""
    while pid > 1:
        stat = proc_stat(pid, proc)
        if stat is None:
            return None
        name, parent, start = stat
        if name.startswith("sshd"):
            return {"pid": pid, "start": start}
        pid = parent
    return None


def ssh_connection(pid, proc="/proc"):
    """The SSH_CONNECTION of the session a process runs in: its own, or under become
    (sudo leaves it out) the nearest ancestor's that has it; "" when none has."""
    while pid > 1:
        try:
            with open(f"{proc}/{pid}/environ", "rb") as handle:
                for entry in handle.read().split(b"\0"):
                    if entry.startswith(b"SSH_CONNECTION="):
                        return entry.partition(b"=")[2].decode("utf-8", "replace")
        except OSError:
            pass
        stat = proc_stat(pid, proc)
        if stat is None or stat[0].startswith("sshd"):
            return ""
        pid = stat[1]
    return ""


def caller_gone(session, environ, pid, proc="/proc"):
    """Whether this came over SSH and was left to init: the run that asked was stopped
    while the module started (closing its connection ends the session, so the shell that
    runs the module passes to init). A lock taken now would name no session, and so look
    alive for stale_after. Servers whose SSH daemon is not sshd (Dropbear) have no
    session either, but their module's shell keeps its parent."""
    if session is not None or not environ.get("SSH_CONNECTION"):
        return False
    parent = proc_stat(pid, proc)
    if parent is None or parent[1] == 1:
        return True
    shell = proc_stat(parent[1], proc)
    return shell is None or shell[1] == 1


def session_alive(session, proc="/proc"):
    stat = proc_stat(session["pid"], proc)
    return stat is not None and stat[2] == session["start"]


def leftovers(connection, proc="/proc"):
    """Processes a run left when its SSH session ended, as "name (pid N)": their
    environment names its connection (client and server address and port) and no sshd
    is above them any more. Other users' environments cannot be read."""
    if not connection:
        return []
    mark = f"SSH_CONNECTION={connection}".encode()
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:
            continue
        if mark not in environ:
            continue
        stat = proc_stat(int(entry), proc)
        if stat and ssh_session(int(entry), proc) is None:
            found.append(f"{stat[0]} (pid {entry})")
    return sorted(found)


def is_stale(holder, now, mine, stale_after):
    """Whether the holder died, and what it left running. A holder sharing this run's
    own SSH session (two plain ansible-playbook runs from one machine share Ansible's
    connection) looks alive: waiting too long is safe, taking a live run's lock is not.
    A killed run's commands (a hand-over, a compose up) go on after its session ended;
    the next run waits for them rather than work beside them, for up to stale_after
    from when the run took the lock (a command that hangs must not block every run)."""
    session = holder.get("session")
    expired = now - holder.get("since_epoch", 0) > stale_after
    if not session:
        return expired, []
    if session == mine or session_alive(session):
        return False, []
    left = [] if expired else leftovers(session.get("connection"))
    return not left, left


def utc(epoch):
    # timezone.utc, not datetime.UTC: servers may run Python 3.10 (Ubuntu 22.04).
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(  # noqa: UP017
        "%Y-%m-%dT%H:%M:%SZ"
    )


def describe(holder, now):
    """Who holds the lock, for a person: user, machine, command, app, since."""
    app = f" of {holder['app']}" if holder.get("app") else ""
    minutes = max(0, now - holder.get("since_epoch", now)) // 60
    return (
        f"{holder.get('user') or '?'} on {holder.get('machine') or '?'} "
        f"({holder.get('command') or '?'}{app}), since {holder.get('since', '?')} "
        f"({minutes} min ago)"
    )


def history_line(fields, now):
    """One line of the history: the run's fields, time first; empty values left out."""
    line = {"time": utc(now)}
    line.update({key: value for key, value in fields.items() if value not in ("", None)})
    return json.dumps(line, sort_keys=False) + "\n"


def interrupted_record(holder, now):
    """The history line of a run that died holding the lock."""
    record = {key: holder.get(key) for key in ("user", "machine", "tool", "command", "app")}
    record.update(
        started=holder.get("since"),
        result="interrupted",
        duration=now - holder.get("since_epoch", now),
    )
    return record


def append(log_file, line):
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def read_holder(handle):
    handle.seek(0)
    text = handle.read().strip()
    if not text:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return None  # half-written by a run killed mid-write: nobody holds it
    return holder if isinstance(holder, dict) else None


def write_holder(handle, holder):
    handle.seek(0)
    handle.truncate()
    if holder is not None:
        handle.write(json.dumps(holder))
    handle.flush()
    os.fsync(handle.fileno())


def take(handle, params, now, mine):
    holder = read_holder(handle)
    result = {"acquired": False, "took_over": None, "started": now}
    stale, left = is_stale(holder, now, mine, params["stale_after"]) if holder else (True, [])
    if not stale:
        others = {key: value for key, value in holder.items() if key != "token"}
        msg = f"The server's deploy lock is held by {describe(holder, now)}."
        if left:
            msg += (
                " Its SSH connection has closed, but commands it started still run on the "
                f"server: {', '.join(left)}. The lock is free once they have ended."
            )
        result.update(holder=others, msg=msg)
        return result
    if holder is not None:
        append(params["log_file"], history_line(interrupted_record(holder, now), now))
        result["took_over"] = holder
    wanted = ("user", "machine", "tool", "command", "app")
    ours = {key: str(params["holder"].get(key) or "") for key in wanted}
    ours.update(token=secrets.token_hex(8), since=utc(now), since_epoch=now, session=mine)
    write_holder(handle, ours)
    result.update(acquired=True, token=ours["token"], holder=ours)
    if holder is not None:
        result["msg"] = (
            f"Took over the deploy lock of a run that is gone: {describe(holder, now)}; "
            "its SSH connection closed without giving the lock back. Recorded it as "
            "interrupted in the history."
        )
    return result


def release(handle, params, now, facts):
    holder = read_holder(handle)
    result = {"acquired": False, "holder": holder, "took_over": None}
    if holder is not None and holder.get("token") == params["token"]:
        write_holder(handle, None)
    elif params["token"]:
        result["msg"] = (
            "This run's deploy lock was taken over while it ran "
            + (f"(now held by {describe(holder, now)})" if holder else "")
            + ": its SSH connection was idle long enough to close."
        )
    if params["record"]:
        record = dict(params["record"])
        if params["started"]:
            record["duration"] = now - params["started"]
        record.update(facts)
        append(params["log_file"], history_line(record, now))
    return result


def image_facts(module, image):
    """The image's id and registry digests on the server; nothing when Docker does not
    know it (a run that stopped before the image came) or cannot be asked (no Docker yet)."""
    docker = module.get_bin_path("docker")
    if not image or not docker:
        return {}
    rc, out, _ = module.run_command(
        [docker, "image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", image]
    )
    image_id, _, digests = out.strip().partition(" ")
    try:
        digests = json.loads(digests)
    except ValueError:
        return {}
    if rc != 0 or not image_id.startswith("sha256:"):
        return {}
    return {"image_id": image_id, "digests": digests if isinstance(digests, list) else []}


# Shared with the action plugin, which checks the arguments on the controller.
ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["held", "released"], "required": True},
    "lock_file": {"type": "path", "required": True},
    "log_file": {"type": "path", "required": True},
    "holder": {"type": "dict", "default": {}},
    "token": {"type": "str", "default": "", "no_log": False},
    "record": {"type": "dict", "default": {}},
    "started": {"type": "int", "default": 0},
    "stale_after": {"type": "int", "default": 21600},
}


def locked(params, facts):
    """Takes or gives back the lock as `params` say; the result, with "failed" when the
    run that asked has gone."""
    # As the dallinger_server role makes it, for a server that has only been prepared.
    os.makedirs(os.path.dirname(params["lock_file"]), mode=0o750, exist_ok=True)
    now = int(time.time())
    fd = os.open(params["lock_file"], os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        # Held for a few milliseconds: the lock itself is the record in the file.
        fcntl.flock(handle, fcntl.LOCK_EX)
        if params["state"] == "released":
            return release(handle, params, now, facts)
        mine = ssh_session(os.getpid())
        if mine is not None:
            mine["connection"] = ssh_connection(os.getpid())
        if caller_gone(mine, os.environ, os.getpid()):
            return {"failed": True, "msg": "The run that asked for the deploy lock has gone."}
        return take(handle, params, now, mine)


def warning(result, state):
    """What a person must hear of the result: a dead run's lock taken over, or this run's
    lost while it ran; None otherwise."""
    if result.get("msg") and (result.get("took_over") or state == "released"):
        return result["msg"]
    return None


class Plain:
    """What image_facts asks of AnsibleModule, for the file run as a plain script."""

    @staticmethod
    def get_bin_path(name):
        return shutil.which(name)

    @staticmethod
    def run_command(argv):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr


def run_as_script():
    """The module run as a plain Python script (the action plugin's way: no AnsiballZ,
    no Ansible on the server): its arguments, checked on the controller, come as JSON on
    stdin (a release's token must not show in the process list); prints the result."""
    defaults = {key: option.get("default") for key, option in ARGUMENT_SPEC.items()}
    params = {**defaults, **json.load(sys.stdin)}
    for key in ("lock_file", "log_file"):  # as Ansible's type "path" does, on the server
        params[key] = os.path.expanduser(os.path.expandvars(params[key]))
    record = params.get("record") or {}
    facts = image_facts(Plain, record.get("image")) if record else {}
    print(json.dumps(locked(params, facts)))


def main():
    # Imported here: the action plugin runs this file without Ansible on the server.
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=False)
    params = module.params
    facts = image_facts(module, params["record"].get("image")) if params["record"] else {}
    result = locked(params, facts)
    if result.get("failed"):
        module.fail_json(msg=result["msg"])
    said = warning(result, params["state"])
    if said:
        module.warn(said)
    # Taking or giving back the lock leaves the server as it was: nothing changed.
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--script"]:
        run_as_script()
    else:
        main()
