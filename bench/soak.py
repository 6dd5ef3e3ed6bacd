"""Soak: kill -9 a real server at random moments during jobs, many times, and check
after every restart that nothing was lost (the trials of tests/test_faults_kill.py,
which runs 50 of them in CI; see there for what each checks).

    python bench/soak.py [--json OUT] [--trials 200] [--seed 1] [--delay 0.03]

Figures: trials and restarts, jobs asked, done before the kill, and reported interrupted
(running: with the windows they kept; waiting: not started), windows checked whole,
kills that landed while jobs were under way, restart times, and the wall time. Any
broken promise stops the run with an AssertionError naming the canvas and what broke.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import report  # noqa: E402
from test_faults_kill import Trials  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--delay", type=float, default=0.03, help="s each window paints (default 0.03)")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        figures = Trials(Path(folder) / "data", random.Random(args.seed), delay=args.delay).run(args.trials)
    figures["seconds"] = time.monotonic() - started
    report(figures, args.json)


if __name__ == "__main__":
    main()
