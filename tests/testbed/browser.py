"""A participant's browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
driven by Selenium, as Dallinger's own bots (`dallinger.bots.BotBase`) drive one.

TLS is verified against a root given here: Chromium reads no CA file, so the root goes
into an NSS database (`certutil`, Debian's libnss3-tools) in a HOME of the browser's own.

Chromium aborts its requests in flight with ERR_NETWORK_CHANGED whenever an address on
the machine changes; on this test bed the other test worker's containers and compose
networks add and remove bridges all the time. `participate` runs a participant's visit
again, in a new browser, when (and only when) that is what stopped it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import WebDriverException

from tests.testbed.targets import TestbedError

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
NETWORK_CHANGED = "ERR_NETWORK_CHANGED"

T = TypeVar("T")


def _trusting(home: Path, root_pem: bytes) -> None:
    """`home`/.pki/nssdb, where Chromium on Linux looks for roots, holding `root_pem`."""
    if not shutil.which("certutil"):
        raise TestbedError("certutil is missing: run `make deps` (libnss3-tools)")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    root = home / "root.crt"
    root.write_bytes(root_pem)
    for argv in (
        ["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"],
        [
            "certutil",
            "-d",
            f"sql:{nssdb}",
            "-A",
            "-t",
            "C,,",
            "-n",
            "test-bed-root",
            "-i",
            str(root),
        ],
    ):
        subprocess.run(argv, check=True, capture_output=True)


@contextlib.contextmanager
def chromium(root_pem: bytes, workdir: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium that trusts `root_pem` (and the system's roots), closed after."""
    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).exists():
            raise TestbedError(f"{program} is missing: run `make deps` (chromium, chromium-driver)")
    home = workdir / "browser-home"
    _trusting(home, root_pem)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container, as the test bed runs
        "--disable-dev-shm-usage",
        "--window-size=1024,768",
        f"--user-data-dir={workdir / 'browser-profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Chromium inherits chromedriver's environment: its HOME has the NSS database.
    service = webdriver.ChromeService(
        executable_path=CHROMEDRIVER, env={**os.environ, "HOME": str(home)}
    )
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def network_changed(driver: webdriver.Chrome, error: Exception) -> bool:
    """Chromium gave up a page or a request because the machine's addresses changed:
    `driver.get` raises it, a click shows it as an error page, a script's request logs it."""
    if NETWORK_CHANGED in str(error):
        return True
    try:
        logged = [entry.get("message", "") for entry in driver.get_log("browser")]
        return NETWORK_CHANGED in driver.page_source or any(NETWORK_CHANGED in m for m in logged)
    except WebDriverException:  # the browser is gone: the error stands as it is
        return False


def participate(
    root_pem: bytes,
    workdir: Path,
    visit: Callable[[webdriver.Chrome, int], T],
    tries: int = 3,
) -> T:
    """`visit(driver, attempt)` in a fresh browser, again (attempt 2, 3) only when the
    host's network change stopped it; each attempt should be a new participant."""
    for attempt in range(1, tries + 1):
        with chromium(root_pem, workdir / f"attempt{attempt}") as driver:
            try:
                return visit(driver, attempt)
            except Exception as error:
                if attempt < tries and network_changed(driver, error):
                    print(f"attempt {attempt}: {NETWORK_CHANGED}, a new one", file=sys.stderr)
                    continue
                raise
    raise AssertionError("participate needs tries >= 1")
