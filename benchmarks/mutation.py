"""Mutation testing of the modules whose numbers users read: do their tests notice when the code is wrong?

For each module, `mutmut <https://mutmut.readthedocs.io>`_ (3.x) makes small changes to the code (``<`` for
``<=``, ``+ 1`` for ``+ 2``, a dropped argument...) and runs the module's test files against each changed copy; a
change that no test notices *survives*. Every surviving mutant should be either killed by a new test or written
down as equivalent (the change cannot alter any behaviour) in docs/development.md.

Not part of CI (minutes per module). Run from the repository root, with the test dependencies and mutmut installed::

    pip install mutmut
    python benchmarks/mutation.py metrics            # one module
    python benchmarks/mutation.py                    # metrics, losses and adapters
    python benchmarks/mutation.py losses --max-children 1 --workdir /tmp/mut
    python benchmarks/mutation.py metrics --rerun-survivors   # after adding tests: only the last survivors
    python benchmarks/mutation.py adapters --functions _photo_stim_columns _power_traces   # part of a module

The working tree (tracked files and untracked, not ignored ones) is copied to ``--workdir/<module>`` (default: a
folder under the system's temporary folder) and mutmut runs there, so the checkout itself is never changed and
other people's test runs in it are not disturbed. Each module's summary (counts per status, the score, every
surviving mutant's diff) is printed and written to ``<workdir>/<module>/mutation-report.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODULES = {
    "metrics": ("nwb_biornn/analysis/metrics.py",
                ["tests/test_metrics.py", "tests/test_metrics_closed_forms.py"]),
    "losses": ("nwb_biornn/fit/losses.py",
               ["tests/test_losses.py", "tests/test_losses_properties.py"]),
    "adapters": ("nwb_biornn/recordings/adapters.py",
                 ["tests/test_adapters.py", "tests/test_adapter_fields.py"]),
}
"""Module name -> (source file, its test files)."""

DETECTED = ("killed", "timeout", "segfault", "caught by type check")
"""Statuses of mutants the tests noticed (a mutant that hangs or crashes the tests is noticed too)."""
NOT_RUN = ("skipped", "not checked", "check was interrupted by user")


def copy_working_tree(destination: Path, under: str | None = None) -> None:
    """Copy the tracked and untracked-but-not-ignored files of the checkout (or of its folder ``under``) to
    ``destination``, replacing what was there."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                             *([under] if under else [])], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    if destination.exists() and under is None:
        shutil.rmtree(destination)
    elif under is not None and (destination / under).exists():
        shutil.rmtree(destination / under)
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def write_config(folder: Path, source: str, tests: list) -> None:
    """mutmut's configuration (``setup.cfg``, read when ``pyproject.toml`` has no ``[tool.mutmut]``)."""
    lines = ["[mutmut]", "source_paths = nwb_biornn", f"only_mutate = {source}",
             "pytest_add_cli_args_test_selection ="] + [f"    {test}" for test in tests] + [
        # torch's thread pools are not fork-safe: fork the mutants from a process that never ran a test
        "process_isolation = forkserver",
        "use_git_change_detection = false",
    ]
    (folder / "setup.cfg").write_text("\n".join(lines) + "\n")


def mutmut(folder: Path, *args, log=None) -> str:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-c", "from mutmut.__main__ import cli; cli()", *args]
    if log is None:
        return subprocess.run(command, cwd=folder, env=environment, check=True, capture_output=True,
                              text=True).stdout
    with open(log, "w") as stream:
        subprocess.run(command, cwd=folder, env=environment, check=True, stdout=stream, stderr=subprocess.STDOUT)
    return ""


def statuses(folder: Path) -> dict:
    """Mutant name -> status, from ``mutmut results --all true``."""
    found = {}
    for line in mutmut(folder, "results", "--all", "true").splitlines():
        match = re.match(r"\s+(\S+): (.+)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def summarize(name: str, source: str, tests: list, folder: Path, seconds: float) -> dict:
    status = statuses(folder)
    counts = {}
    for value in status.values():
        counts[value] = counts.get(value, 0) + 1
    checked = sum(n for s, n in counts.items() if s not in NOT_RUN)
    detected = sum(n for s, n in counts.items() if s in DETECTED)
    survivors = sorted((m for m, s in status.items() if s not in DETECTED and s not in NOT_RUN),
                       key=lambda m: (m.rsplit("__mutmut_", 1)[0], int(m.rsplit("_", 1)[1])))
    diffs = {m: mutmut(folder, "show", m) for m in survivors}
    summary = {"module": name, "source": source, "tests": tests, "mutants": len(status), "counts": counts,
               "score": detected / checked if checked else float("nan"), "seconds": round(seconds),
               "survivors": survivors}
    lines = [f"# Mutation report: {source}", "",
             f"tests: {' '.join(tests)}", f"score: {detected}/{checked} = {summary['score']:.1%} "
             f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}; {summary['seconds']} s)", ""]
    for mutant in survivors:
        lines += [f"## {mutant} ({status[mutant]})", "", "```diff", diffs[mutant].strip(), "```", ""]
    (folder / "mutation-report.md").write_text("\n".join(lines))
    (folder / "mutation-summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate (default: all of {', '.join(MODULES)})")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "nwb-biornn-mutation")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="reuse the last run's folder: refresh tests/ from the checkout and test only the mutants "
                             "that survived it (the source must not have changed since)")
    parser.add_argument("--functions", nargs="+", default=[],
                        help="test only the mutants of these functions or methods (the others count as not checked "
                             "and are left out of the score), e.g. for a module too big to mutate whole")
    arguments = parser.parse_args(argv)
    modules = arguments.modules or list(MODULES)
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose among {', '.join(MODULES)}")
    results = []
    for name in modules:
        source, tests = MODULES[name]
        folder = arguments.workdir / name
        rerun = []
        if arguments.rerun_survivors:
            if (folder / source).read_bytes() != (ROOT / source).read_bytes():
                parser.error(f"{source} changed since the last run of {name}; run it again without --rerun-survivors")
            rerun = json.loads((folder / "mutation-summary.json").read_text())["survivors"]
            print(f"[{name}] refreshing {folder / 'tests'}; rerunning {len(rerun)} survivors", file=sys.stderr)
            copy_working_tree(folder, "tests")
            if not rerun:
                continue
        else:
            print(f"[{name}] copying the working tree to {folder}", file=sys.stderr)
            copy_working_tree(folder)
        write_config(folder, source, tests)
        dotted = source.removesuffix(".py").replace("/", ".")
        rerun += [f"{dotted}.*{function}__mutmut_*" for function in arguments.functions]
        start = time.monotonic()
        print(f"[{name}] mutmut run (log: {folder / 'mutmut-run.log'})", file=sys.stderr)
        mutmut(folder, "run", "--max-children", str(arguments.max_children), *rerun, log=folder / "mutmut-run.log")
        summary = summarize(name, source, tests, folder, time.monotonic() - start)
        results.append(summary)
        print(f"[{name}] {source}: score {summary['score']:.1%} of {summary['mutants']} mutants "
              f"{summary['counts']} in {summary['seconds']} s; survivors: {len(summary['survivors'])} "
              f"(see {folder / 'mutation-report.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
