"""Participants' requests at a steady rate, through Caddy, while something else runs.

    with ParticipantLoad("bench.localhost", context) as load:
        ...  # e.g. an update
    print(load.failed, load.total)

Each tick sends one request on a new connection, as a participant's browser arriving
would: the ad (GET /ad?generate_tokens=1, answered with a redirect) and a new
participant (POST /participant/<worker>/<hit>/<assignment>/debug, a database write, ids
starting with WORKER_PREFIX), in turn. A request fails when it gets no answer (connection refused or reset, timeout) or
a 5xx status: what a participant sees as the experiment being down.
"""

from __future__ import annotations

import http.client
import itertools
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# Worker, HIT and assignment ids of the participants it makes start with this.
WORKER_PREFIX = "load-"


@dataclass(frozen=True)
class Outcome:
    at: float  # seconds since the load started
    method: str
    path: str
    status: int | None  # None: no answer
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500


class ParticipantLoad:
    def __init__(
        self,
        host: str,
        context: ssl.SSLContext,
        rate: float = 20.0,
        port: int = 443,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.context, self.rate = host, context, rate
        self.port, self.timeout = port, timeout
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._run = uuid.uuid4().hex[:8]  # participants of different runs never collide
        self._pool = ThreadPoolExecutor(max_workers=max(4, int(rate * 2)))
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> ParticipantLoad:
        self._started = time.monotonic()
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._ticker.join()
        self._pool.shutdown(wait=True)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.failed]

    @property
    def failed(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        """`failed/total`, and the first failures with when they happened."""
        text = f"{self.failed}/{self.total}"
        shown = [
            f"{f.at:.1f}s {f.method} /{f.path.split('/')[1].split('?')[0]}: {f.status or f.error}"
            for f in self.failures[:5]
        ]
        return text + (f" ({'; '.join(shown)})" if shown else "")

    def _tick(self) -> None:
        interval = 1.0 / self.rate
        for number in itertools.count():
            # Ticks keep to the schedule even when answers are slow, as arrivals would.
            due = self._started + number * interval
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            if number % 2:
                who = f"{WORKER_PREFIX}{self._run}-{number}"
                request = ("POST", f"/participant/{who}/{who}/{who}/debug")
            else:
                request = ("GET", "/ad?generate_tokens=1")
            self._pool.submit(self._send, *request)

    def _send(self, method: str, path: str) -> None:
        at = time.monotonic() - self._started
        connection = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=self.timeout
        )
        try:
            connection.request(method, path)
            response = connection.getresponse()
            response.read()
            outcome = Outcome(at, method, path, response.status)
        except (OSError, http.client.HTTPException) as error:
            outcome = Outcome(at, method, path, None, f"{type(error).__name__}: {error}")
        finally:
            connection.close()
        with self._lock:
            self.outcomes.append(outcome)
