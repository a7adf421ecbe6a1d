"""Time ``load_session`` on a local 30-unit, 160-trial file in the DANDI:000363 layout (target: <= 2 s), and on
the DANDI:000009 layout of the layout corpus (412 trials, 4 units, text columns read back as bytes, per-trial
light windows, warnings; ``tests/dandi_layouts.py``).

Run: ``python benchmarks/bench_load.py``. Units fire at 10 Hz inside the trials; a fifth of the trials have light.
"""
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import dandi_layouts  # noqa: E402
import nwb_factories  # noqa: E402

from nwb_biornn.recordings.nwbfile import load_session  # noqa: E402

N_UNITS, N_TRIALS, REPEATS = 30, 160, 3


def main():
    with tempfile.TemporaryDirectory() as folder:
        units = [("Secondary motor area, layer 5", "E" if u % 5 else "I") for u in range(N_UNITS)]
        path = nwb_factories.write_000363(Path(folder) / "bench.nwb", n_trials=N_TRIALS,
                                          lit=tuple(range(0, N_TRIALS, 5)), licked=tuple(range(0, N_TRIALS, 2)),
                                          units=units, background_rate=10.0)
        times, session = _timed(path)
        print(f"load_session: {N_UNITS} units x {N_TRIALS} trials, {session.n_time} bins of "
              f"{session.dt * 1000:g} ms, {int(session.spikes.sum())} spikes: best {min(times):.3f} s, median "
              f"{sorted(times)[1]:.3f} s (target <= 2 s)")
        guo = dandi_layouts.write_guo_inagaki_000009(Path(folder) / "guo.nwb")
        times, session = _timed(guo)
        print(f"load_session (DANDI:000009 layout): {session.n_units} units x {session.n_trials} trials, "
              f"{session.n_time} bins, {len(session.conditions)} condition(s): best {min(times):.3f} s, median "
              f"{sorted(times)[1]:.3f} s")


def _timed(path):
    times = []
    for _ in range(REPEATS):
        begin = time.perf_counter()
        session = load_session(path)
        times.append(time.perf_counter() - begin)
    return times, session


if __name__ == "__main__":
    main()
