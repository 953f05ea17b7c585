"""Generated invalid input for every command, counted: how many were tried, and how many
misbehaved (anything but exit 1 or 2 with one `Error:` line, no traceback, and nothing
reached: no process, socket or ansible-runner, no file under ~/.dallinger).

    .venv/bin/python -m benchmarks.bad_input [--examples 3000] [--seed N]

The generator is tests/unit/bad_input.py, the one `make test` runs with 300 cases and a
fixed seed; the server is fake (nothing is reachable), so this needs no test bed.
"""

import argparse
import collections
import secrets
import sys
import tempfile
from pathlib import Path

import pytest

from tests.unit import bad_input


def generated(examples: int, seed: int) -> list:
    """The outcomes of `examples` generated invalid inputs (a fake server, a throwaway HOME)."""
    with tempfile.TemporaryDirectory() as home, pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", home)
        patch.delenv("XDG_DATA_HOME", raising=False)
        patch.chdir(home)
        bad_input.setup_home(Path(home))
        return bad_input.run(Path(home), bad_input.Guard(patch), examples, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=secrets.randbelow(2**32))
    args = parser.parse_args()
    outcomes = generated(args.examples, args.seed)
    tried = collections.Counter(o.kind for o in outcomes)
    bad = collections.Counter(o.kind for o in outcomes if o.problem)
    print(f"seed {args.seed}, {len(outcomes)} cases (asked for {args.examples})")
    print(f"{'input':<14} {'tried':>6} {'misbehaved':>10}")
    for kind in bad_input.CASES:
        print(f"{kind:<14} {tried[kind]:>6} {bad[kind]:>10}")
    print(f"{'total':<14} {len(outcomes):>6} {sum(bad.values()):>10}")
    for outcome in [o for o in outcomes if o.problem][:20]:
        print(f"  {outcome.kind}: {outcome.argv!r}: {outcome.problem}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
