"""The reliability suite's full counts in one table: runs killed at random moments that
converged on one plain re-run, dependency faults handled, reboot recovery, generated bad
input refused, and participant load on one app and on three at once.

    .venv/bin/python -m benchmarks.reliability [--rounds 10] [--seed N]
        [--clients 50] [--seconds 60] [--bad-inputs 3000]

Uses the test bed (tests/testbed/reliability.py): a fresh target whose apps' names
resolve to it through /etc/hosts (root), the offline service images and the Dallinger
experiment images 1 and 2, with a throwaway HOME. The seed (printed) draws every kill
moment, signal order and fault moment, so `--seed N` replays a run. `make test` runs a
subset: tests/e2e/test_reliability.py (1 round, the faults, 10 participants per app for
15 s) and the bad-input generator's 300 cases. About 45 minutes with the defaults.
"""

import argparse
import random
import secrets
import sys
import tempfile
from pathlib import Path

from benchmarks.bad_input import generated
from tests.testbed import experiment_image, service_images, targets
from tests.testbed.reliability import (
    COMMANDS,
    FAULT_APPS,
    UPDATED,
    Load,
    Suite,
    converged,
    reboot,
    run_faults,
    started_bed,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability")
    parser.add_argument("--rounds", type=int, default=10, help="kills per command")
    parser.add_argument("--seed", type=int, default=secrets.randbelow(10**6))
    parser.add_argument("--clients", type=int, default=50, help="participants per app")
    parser.add_argument("--seconds", type=float, default=60.0, help="of participant load")
    parser.add_argument("--bad-inputs", type=int, default=3000)
    args = parser.parse_args(argv)
    print(f"seed {args.seed} (replay with --seed {args.seed})", file=sys.stderr)
    targets.ensure_docker()
    targets.build_images()
    service_images.build_service_images()
    images = experiment_image.build_experiment_images()
    rng = random.Random(args.seed + 1)  # noqa: S311 fault moments, not secrets
    lines: list[str] = []
    failed = False
    with (
        tempfile.TemporaryDirectory(dir="/tmp") as root,  # short: SSH socket paths
        started_bed(Path(root), images, "dlgr-bench-reliability", args.rounds) as bed,
    ):
        suite = Suite(bed, args.seed)
        suite.calibrate()
        suite.run(args.rounds)
        lines.append("runs killed at a random moment (SIGINT, SIGKILL), then one plain re-run:")
        for command, (ok, tried) in converged(suite.rounds).items():
            took = suite.durations[command]
            first = sum(1 for r in suite.rounds if r.command == command and not r.interrupted)
            lines.append(
                f"  {command:<8} converged {ok}/{tried}  ({first} ended before the kill; "
                f"uninterrupted: {took:g} s)"
            )
        lines += [
            f"    {r.command} {r.signal} at {r.after} s: {r.problem}"
            for r in suite.rounds
            if r.problem
        ]
        failed |= any(r.problem for r in suite.rounds)

        faults = run_faults(bed, suite.durations, rng)
        handled = sum(1 for fault in faults if not fault.problem)
        lines.append(f"dependency faults handled: {handled}/{len(faults)}")
        for fault in faults:
            verdict = fault.problem or "handled"
            lines.append(f"  {fault.name}: {verdict}\n    it said: {fault.outcome}")
        failed |= handled != len(faults)

        loads = []
        for apps in ((UPDATED,), (UPDATED, "rl-load-1", "rl-load-2")):
            for app in apps:
                if not bed.serves(app):
                    rc, report, err = bed.cli(
                        "deploy", "--app", app, "--dns-host", bed.domain, "--image", images[0]
                    )
                    if rc != 0:
                        sys.exit(f"deploy of {app} failed: {report.get('errors') or err}")
            loads.append(Load(bed, apps, clients=args.clients, seconds=args.seconds).run())
        lines.append("participant load (ad, new participant, 3 reads each, in a loop):")
        lines += [f"  {load.summary()}" for load in loads]
        failed |= any(load.failures for load in loads)

        serving = (UPDATED, "rl-load-1", "rl-load-2", FAULT_APPS[0])
        seconds, problems = reboot(bed, serving)
        lines.append(
            f"reboot: all {len(serving)} apps served again with their participants after "
            f"{seconds:g} s" + (f"; PROBLEMS: {'; '.join(problems)}" if problems else "")
        )
        failed |= bool(problems)

    outcomes = generated(args.bad_inputs, args.seed)
    misbehaved = [o for o in outcomes if o.problem]
    lines.append(
        f"bad input (generated, fake server): tried {len(outcomes)}, misbehaved {len(misbehaved)}"
        " (a 1 GB CSV: tests/unit/test_bad_input_generated_fake_server.py)"
    )
    lines += [f"  {o.kind}: {o.argv!r}: {o.problem}" for o in misbehaved[:10]]
    failed |= bool(misbehaved)

    print(f"reliability, seed {args.seed}, {args.rounds} rounds of {', '.join(COMMANDS)}")
    print("\n".join(lines))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
