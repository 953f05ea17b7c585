"""A participant's browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
driven by Selenium, as Dallinger's own bots (`dallinger.bots.BotBase`) drive one.

TLS is verified against a root given here: Chromium reads no CA file, so the root goes
into an NSS database (`certutil`, Debian's libnss3-tools) in a HOME of the browser's own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver

from tests.testbed.targets import TestbedError

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


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
    # Chromium inherits chromedriver's environment: its HOME has the NSS database.
    service = webdriver.ChromeService(
        executable_path=CHROMEDRIVER, env={**os.environ, "HOME": str(home)}
    )
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
