"""A TCP port on 127.0.0.1 that forwards to a target's port: a server reached as
`localhost`, as researchers who run the tool on the server itself (or through an SSH
tunnel) reach theirs."""

import contextlib
import socket
import threading
from collections.abc import Iterator


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
    with contextlib.suppress(OSError):
        source.shutdown(socket.SHUT_RD)


def _serve(listener: socket.socket, address: str, port: int) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # the listener was closed
        try:
            upstream = socket.create_connection((address, port), timeout=10)
        except OSError:
            client.close()  # this connection fails as the target's would; others go on
            continue
        upstream.settimeout(None)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


@contextlib.contextmanager
def forwarded(address: str, port: int) -> Iterator[int]:
    """A free port on 127.0.0.1 whose connections go to address:port, while open."""
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_serve, args=(listener, address, port), daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
