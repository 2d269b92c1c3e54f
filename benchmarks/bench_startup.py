"""Start-up cost of the command line against bare Python, measured in the same run.

Each command runs in a fresh interpreter (subprocess), ``--repeats`` times; the figure is the
median wall time. Baselines: ``python -c pass`` and ``python -c "import numpy"``.
``build_registry()`` is timed inside one interpreter after its imports, and with them.

    python benchmarks/bench_startup.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

REGISTRY = (
    "import time; t = time.perf_counter();"
    "from astraguard_train.plugins import build_registry;"
    "i = time.perf_counter(); build_registry(); e = time.perf_counter();"
    "import sys; heavy = {'sklearn', 'pyarrow', 'pyod', 'torch', 'scipy', 'joblib'};"
    "print(i - t, e - i, ','.join(sorted(heavy & {m.split('.')[0] for m in sys.modules})))"
)


def wall(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    repeats = parser.parse_args().repeats
    py = sys.executable
    rows = {
        "python -c pass": wall([py, "-c", "pass"], repeats),
        "python -c 'import numpy'": wall([py, "-c", "import numpy"], repeats),
        "astraguard-train --version": wall([py, "-m", "astraguard_train", "--version"], repeats),
        "astraguard-train --help": wall([py, "-m", "astraguard_train", "--help"], repeats),
        "python -c 'build_registry()'": wall([py, "-c", REGISTRY], repeats),
    }
    inside = []
    for _ in range(repeats):
        out = subprocess.run([py, "-c", REGISTRY], check=True, capture_output=True, text=True)
        imports, build, heavy = out.stdout.split()
        inside.append((float(imports), float(build), heavy))
    base, numpy = rows["python -c pass"], rows["python -c 'import numpy'"]
    print(f"median of {repeats} fresh interpreters each")
    print(f"{'command':<32} {'seconds':>8} {'x pass':>8} {'x numpy':>8}")
    for name, seconds in rows.items():
        print(f"{name:<32} {seconds:>8.3f} {seconds / base:>8.1f} {seconds / numpy:>8.1f}")
    imports = statistics.median(i for i, _, _ in inside)
    build = statistics.median(b for _, b, _ in inside)
    print(f"import astraguard_train.plugins {imports:.3f}s, then build_registry() {build:.3f}s "
          f"(the built-in plugin modules it imports load: {inside[0][2]})")


if __name__ == "__main__":
    main()
