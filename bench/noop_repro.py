"""Time of a `dvc repro` with nothing to do, against DVC's own start-up, measured in the same run.

Run it in a reproduced project (after `dvc repro`). The baseline is `dvc version`:
DVC's imports and start-up, what no pipeline can avoid. The rest is DVC
checking each stage's deps and outputs. Target: the no-op repro in 2 s or less.

    python bench/noop_repro.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def _best_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds; the best of each is kept")
    repeats = parser.parse_args().repeats
    dvc = [sys.executable, "-m", "dvc"]
    status = subprocess.run([*dvc, "status", "--json"], capture_output=True, text=True)
    if status.stdout.strip() not in ("{}", ""):
        raise SystemExit("the pipeline has changes; run `dvc repro` first, then time the no-op")
    startup = _best_seconds([*dvc, "version"], repeats)
    noop = _best_seconds([*dvc, "repro"], repeats)
    print(f"dvc version (start-up):  {startup:6.2f} s")
    print(f"dvc repro, nothing to do: {noop:6.2f} s (target <= 2 s)")
    print(f"ratio no-op / start-up:   {noop / startup:6.2f}")


if __name__ == "__main__":
    main()
