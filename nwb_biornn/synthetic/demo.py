"""The synthetic ``demo`` dandiset: sessions recorded from a reference circuit, written as real NWB files.

The files follow the DANDI:000363 layout (dandi-layouts.md §1.2) field by field, so the demo exercises the
same loader path as a real optogenetics dandiset::

    <root>/dandiset.yaml
    <root>/sub-refcirc1/sub-refcirc1_ses-20240101T120000_ecephys+ogen.nwb

Each session holds ``n_trials`` go/no-go trials of :mod:`nwb_biornn.synthetic.circuits`, a fraction of them with light
on one area (inactivation: light on its inhibitory neurons; activation: on its excitatory neurons), the spikes of
a random subset of the circuit's neurons as ``Units``, the licks, and the circuit itself (so evaluation can
re-simulate the ground truth). ``docs/demo.md`` lists every field.

Examples
--------
>>> root = demo_dandiset("refcirc1")                          # doctest: +SKIP
>>> sorted(p.name for p in root.glob("sub-*/*.nwb"))          # doctest: +SKIP
['sub-refcirc1_ses-20240101T120000_ecephys+ogen.nwb']
"""
from __future__ import annotations

import dataclasses
import functools
import json
import uuid
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.behavior import BehavioralEvents
from pynwb.file import Subject
from pynwb.misc import Units
from pynwb.ogen import OptogeneticSeries

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.files import atomic_path, write_dandiset_yaml
from nwb_biornn.core.session import UNPERTURBED, Condition
from nwb_biornn.nwbio import add_reference_circuit
from nwb_biornn.recordings.cache import cache_root
from nwb_biornn.synthetic import circuits, hemispheres

CACHE_VERSION = "v6"
"""Bumped whenever the circuits or the protocol change, so stale caches are not reused."""

INTER_TRIAL_INTERVAL = (0.4, 0.8)
"""Range of the uniformly drawn seconds between a trial's stop and the next start (spikes exist only inside
trials, as in 000363)."""

INACTIVATION_POWERS = (5.0, 10.0, 25.0)
"""Light powers in mW on the inhibitory neurons of an area."""
ACTIVATION_POWERS = (0.5, 1.0, 2.0)
"""Light powers in mW on the excitatory neurons of an area."""
LIGHT_WINDOWS = {"stimulus": (-0.02, 0.1), "late": (0.04, 0.16)}
"""Light windows in seconds relative to the stimulus onset: over the stimulus response, and over its late,
recurrent part (where only ``refcirc2``'s feedback keeps area A active)."""

UNITS_PER_AREA = 20
"""Recorded units per area of a demo session (16 E and 4 I); the paper-size circuits record every neuron."""
GO_NOGO_TRIALS = 600
"""Trials of a go/no-go demo session."""
PAPER_TRIALS = 2000
"""Trials of a paper-size demo session (method.md §1a)."""
DEFAULT_BIN_SIZE = 0.002
"""Bin width in seconds that a recording is read at unless told otherwise; a demo's is its circuit's step."""

TWO_CHOICE = "2afc"
"""Name of the two-hemisphere two-choice circuit (:mod:`nwb_biornn.synthetic.hemispheres`): ``demo:2afc``."""
CHOICE_TRIALS = 800
"""Trials of a ``demo:2afc`` session: more than go/no-go's, as a choice is a noisier readout than a lick."""
CHOICE_INACTIVATION_POWERS = (2.0, 5.0)
"""Light powers in mW of ``demo:2afc``'s unilateral inactivation in the early delay (the late delay and the
bilateral conditions use the strongest)."""
CHOICE_ACTIVATION_POWER = 6.0
"""Light power in mW of ``demo:2afc``'s activation conditions (early delay)."""
DELAY_WINDOWS = {"early": (-0.18, -0.10), "late": (-0.10, 0.0)}
"""``demo:2afc``'s light windows in seconds relative to the go cue: early and late delay."""
CHOICE_STEPS = 1000
"""Training steps a fit of ``demo:2afc`` starts from (instead of the preset's 300): its circuit holds the
instruction through a delay, and 300 steps leave the fitted bioRNN's predicted changes in P(correct) about half
as large as the recorded ones (docs/results.md)."""
CIRCUITS = (*circuits.CIRCUITS, TWO_CHOICE)
"""Every circuit a demo dandiset can record."""

_EFFECTS = {"I": "inactivation", "E": "activation"}


def demo_conditions(circuit: str = "refcirc1") -> tuple[Condition, ...]:
    """The light conditions of a circuit's demo, powers in mW.

    Go/no-go circuits (times relative to the stimulus onset), per area: inactivation at every power of
    :data:`INACTIVATION_POWERS` in the ``stimulus`` window plus the strongest one in the ``late`` window, and
    activation at every power of :data:`ACTIVATION_POWERS` in the ``stimulus`` window.

    ``2afc`` (times relative to the go cue): inactivation of each hemisphere at every power of
    :data:`CHOICE_INACTIVATION_POWERS` in the early delay and at the strongest in the late delay, bilateral
    inactivation (area ``"ALM_L+ALM_R"``) in the early and the late delay, and activation of each hemisphere in
    the early delay (:data:`DELAY_WINDOWS`).

    Examples
    --------
    >>> len(demo_conditions("refcirc1")), len(demo_conditions("2afc"))
    (14, 10)
    """
    if circuit == TWO_CHOICE:
        early, late = DELAY_WINDOWS["early"], DELAY_WINDOWS["late"]
        strongest = max(CHOICE_INACTIVATION_POWERS)
        both = "+".join(hemispheres.AREAS)
        conditions = []
        for area in hemispheres.AREAS:
            conditions += [Condition(area, "I", *early, power) for power in CHOICE_INACTIVATION_POWERS]
            conditions += [Condition(area, "I", *late, strongest)]
        conditions += [Condition(both, "I", *window, strongest) for window in (early, late)]
        conditions += [Condition(area, "E", *early, CHOICE_ACTIVATION_POWER) for area in hemispheres.AREAS]
        return tuple(dataclasses.replace(c, site=_site_name(c.area, c.cell_type)) for c in conditions)
    stimulus, late = LIGHT_WINDOWS["stimulus"], LIGHT_WINDOWS["late"]
    inactivation = [(stimulus, power) for power in INACTIVATION_POWERS] + [(late, max(INACTIVATION_POWERS))]
    conditions = []
    for area in circuits.AREAS:
        conditions += [Condition(area, "I", *window, power, site=_site_name(area, "I"))
                       for window, power in inactivation]
        conditions += [Condition(area, "E", *stimulus, power, site=_site_name(area, "E"))
                       for power in ACTIVATION_POWERS]
    return tuple(conditions)


def demo_protocol(n_trials: int, perturbed_fraction: float, rng: np.random.Generator, circuit: str = "refcirc1"):
    """Trial instructions and light conditions of one session.

    Half the trials have each instruction (``"go"``/``"nogo"``, or ``"left"``/``"right"`` for ``2afc``);
    ``round(perturbed_fraction * n_trials)`` trials get a light condition, every condition equally often (as far
    as the count allows), on both trial types alike.

    Returns
    -------
    instructions : ndarray, shape (n_trials,), str
    condition : ndarray, shape (n_trials,), int
        Index into :func:`demo_conditions`, or ``UNPERTURBED``.
    """
    task = _task(circuit)
    instructions = rng.permutation(np.array(task.instructions)[np.arange(n_trials) % 2])
    conditions = demo_conditions(circuit)
    n_perturbed = int(round(perturbed_fraction * n_trials))
    condition = np.full(n_trials, UNPERTURBED)
    condition[rng.choice(n_trials, n_perturbed, replace=False)] = rng.permutation(
        np.arange(n_perturbed) % len(conditions))
    return instructions, condition


@dataclasses.dataclass(frozen=True)
class _Task:
    """What differs between the go/no-go and the two-choice demo: timing, inputs, lick ports, outcomes, columns."""

    kind: str
    instructions: tuple
    inputs: Callable
    """``inputs(instructions) -> (K, T, channels)`` pulses of the circuit's task."""
    dt: float
    """Simulation step in seconds."""
    n_trials: int
    """Trials of a session unless told otherwise."""
    units_per_area: int
    """Recorded units per area unless told otherwise."""
    trial_duration: float
    sample_onset: float
    go_onset: float
    light_origin: float
    response_window: tuple
    lick_series: tuple
    instruction_description: str
    outcome_description: str
    early_lick_column: bool
    """Whether the trials table has 000363's ``early_lick`` column (the loader excludes early-lick trials)."""

    def outcomes(self, instructions, licks) -> list:
        """Per trial, the ``outcome`` column: from the first lick in the response window."""
        onset = round(self.go_onset / self.dt)
        window = licks[:, onset + round(self.response_window[0] / self.dt):
                       onset + round(self.response_window[1] / self.dt)]
        licked = window.any(axis=1)
        if self.kind == "go/no-go":
            names = {("go", True): "hit", ("go", False): "miss", ("nogo", True): "fa", ("nogo", False): "cr"}
            return [names[(str(i), bool(any_lick))] for i, any_lick in zip(instructions, licked[:, 0])]
        first = np.where(window.any(axis=1), window.argmax(axis=1), window.shape[1])   # (trials, ports)
        side = np.asarray(hemispheres.PORTS)[first.argmin(axis=1)]
        return ["ignore" if not licked[i].any() else "hit" if side[i] == instruction else "miss"
                for i, instruction in enumerate(instructions)]


_GO_NOGO = _Task(
    kind="go/no-go", instructions=circuits.INPUT_NAMES, inputs=circuits.stimulus_inputs, dt=circuits.DEMO_SCALE.dt,
    n_trials=GO_NOGO_TRIALS, units_per_area=UNITS_PER_AREA, trial_duration=circuits.TRIAL_DURATION,
    sample_onset=circuits.STIMULUS_ONSET, go_onset=circuits.STIMULUS_ONSET, light_origin=circuits.STIMULUS_ONSET,
    response_window=(0.0, circuits.RESPONSE_WINDOW), lick_series=(("lick_times", "Lick times (single lick port)."),),
    instruction_description="Stimulus of the trial: 'go' (licking is rewarded) or 'nogo' (licking is not).",
    outcome_description="'hit' / 'miss' on go trials and 'fa' (false alarm) / 'cr' (correct rejection) on no-go "
                        f"trials: whether the mouse licked within {circuits.RESPONSE_WINDOW} s of the stimulus onset.",
    early_lick_column=True)
_TWO_CHOICE = _Task(
    kind="two-choice", instructions=hemispheres.INSTRUCTIONS, inputs=hemispheres.task_inputs, dt=hemispheres.DT,
    n_trials=CHOICE_TRIALS, units_per_area=UNITS_PER_AREA, trial_duration=hemispheres.TRIAL_DURATION,
    sample_onset=hemispheres.SAMPLE_ONSET, go_onset=hemispheres.GO_ONSET, light_origin=hemispheres.GO_ONSET,
    response_window=hemispheres.RESPONSE_WINDOW,
    lick_series=(("left_lick_times", "Lick times at the left port."),
                 ("right_lick_times", "Lick times at the right port.")),
    instruction_description="Instructed (rewarded) lick direction of the trial: 'left' or 'right'.",
    outcome_description="'hit' if the first lick after the go cue was at the instructed port, 'miss' if at the "
                        f"other, 'ignore' without a lick within {hemispheres.RESPONSE_WINDOW[1]:g} s of the go cue.",
    early_lick_column=False)
_PAPER_GO_NOGO = dataclasses.replace(
    _GO_NOGO, dt=circuits.PAPER_SCALE.dt, inputs=functools.partial(circuits.stimulus_inputs, dt=circuits.PAPER_SCALE.dt),
    n_trials=PAPER_TRIALS, units_per_area=circuits.PAPER_SCALE.per_area)


def _task(circuit: str) -> _Task:
    if circuit == TWO_CHOICE:
        return _TWO_CHOICE
    return _PAPER_GO_NOGO if circuits.scale(circuit) == circuits.PAPER_SCALE else _GO_NOGO


def default_bin_size(source: str) -> float:
    """The bin width in seconds a source is read at by default: a demo circuit's simulation step, else
    :data:`DEFAULT_BIN_SIZE`.

    Examples
    --------
    >>> default_bin_size("demo:paper-refcirc1"), default_bin_size("demo"), default_bin_size("000363")
    (0.001, 0.002, 0.002)
    """
    if not is_demo_source(source) or demo_circuit(source) not in CIRCUITS:
        return DEFAULT_BIN_SIZE
    return _task(demo_circuit(source)).dt


def reference_network(circuit: str):
    """The shipped ground truth that ``demo:<circuit>`` records: ``(BioRNN, NeuronLayout)``."""
    if circuit == TWO_CHOICE:
        return circuits.load_circuit(circuits.CIRCUIT_FILES / f"{TWO_CHOICE}.npz")
    return circuits.reference_circuit(circuit)


def write_demo_dandiset(out_dir, circuit: str = "refcirc1", seed: int = 0, n_sessions: int = 1,
                        n_trials: int | None = None, perturbed_fraction: float = 0.5,
                        units_per_area: int | None = None, network=None) -> Path:
    """Simulate ``n_sessions`` sessions of a ground-truth circuit and write them as a DANDI-layout folder.

    Parameters
    ----------
    out_dir
        Folder to write (created; existing files of the same names are overwritten).
    circuit
        ``"refcirc1"`` (feedforward A -> B), ``"refcirc2"`` (with B -> A feedback), their paper-size versions
        ``"paper-refcirc1"`` and ``"paper-refcirc2"`` (:data:`~nwb_biornn.synthetic.circuits.PAPER_SCALE`), or
        ``"2afc"`` (the two-hemisphere two-choice circuit of :mod:`nwb_biornn.synthetic.hemispheres`).
    seed
        Seeds the protocol, the choice of recorded neurons and every simulated spike: the same arguments give
        the same spikes, trials and licks.
    n_sessions, n_trials, perturbed_fraction
        Sessions, trials per session (default :data:`GO_NOGO_TRIALS`, :data:`PAPER_TRIALS` for the paper-size
        circuits, :data:`CHOICE_TRIALS` for ``2afc``) and the fraction of trials with light.
    units_per_area
        Recorded units per area per session (80 % excitatory), drawn from the circuit's neurons (default
        :data:`UNITS_PER_AREA`; every neuron of a paper-size circuit).
    network : (BioRNN, NeuronLayout), optional
        The circuit to record, in place of :func:`reference_network` (the teachers are fitted to recordings of
        the hand-built circuits); ``circuit`` still names the files and the task.

    Returns
    -------
    Path
        ``out_dir``.
    """
    _check_circuit(circuit)
    out_dir, task = Path(out_dir), _task(circuit)
    n_trials = task.n_trials if n_trials is None else n_trials
    units_per_area = task.units_per_area if units_per_area is None else units_per_area
    model, layout = network if network is not None else reference_network(circuit)
    _check_arguments(layout, n_sessions, n_trials, perturbed_fraction, units_per_area)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dandiset_yaml(out_dir, f"nwb-biornn demo: ground-truth circuit {circuit}",
                        f"Synthetic {task.kind} sessions with optogenetic inactivation and activation, simulated "
                        "from a known two-area spiking circuit by nwb-biornn (see docs/demo.md).")
    conditions = demo_conditions(circuit)
    for index in range(n_sessions):
        rng = np.random.default_rng([seed, index])
        instructions, condition = demo_protocol(n_trials, perturbed_fraction, rng, circuit)
        lights = [None if c == UNPERTURBED else conditions[c] for c in condition]
        trials = circuits.simulate(model, layout, task.inputs(instructions), lights, int(rng.integers(2**31)),
                                   task.light_origin)
        recorded = _recorded_neurons(layout, units_per_area, rng)
        start_time = datetime(2024, 1, 1 + index, 12, 0, 0, tzinfo=timezone.utc)
        trial_start = 1.0 + np.cumsum(task.trial_duration + rng.uniform(*INTER_TRIAL_INTERVAL, n_trials))
        nwbfile = _session_file(circuit, seed, index, start_time, trial_start, instructions, lights, trials,
                                recorded, layout)
        add_reference_circuit(nwbfile, model, layout, circuit)
        path = out_dir / f"sub-{circuit}" / f"sub-{circuit}_ses-{start_time:%Y%m%dT%H%M%S}_ecephys+ogen.nwb"
        path.parent.mkdir(exist_ok=True)
        with NWBHDF5IO(path, "w") as io:
            io.write(nwbfile)
    return out_dir


def is_demo_source(text: str) -> bool:
    """Whether ``text`` names the synthetic dandiset: ``demo`` or ``demo:<circuit>``.

    Examples
    --------
    >>> is_demo_source("demo"), is_demo_source("demo:refcirc2"), is_demo_source("000363")
    (True, True, False)
    """
    text = text.strip()
    return text == "demo" or text.startswith("demo:")


def demo_circuit(text: str) -> str:
    """The circuit that ``demo`` or ``demo:<circuit>`` names.

    Examples
    --------
    >>> demo_circuit("demo"), demo_circuit("demo:2afc")
    ('refcirc1', '2afc')
    """
    _, _, circuit = text.strip().partition(":")
    return circuit or "refcirc1"


def demo_folder(text: str, cache_dir=None) -> Path:
    """The cached demo dandiset that ``demo`` or ``demo:<circuit>`` names (:func:`demo_dandiset`)."""
    return demo_dandiset(demo_circuit(text), cache_dir)


def _check_circuit(circuit: str) -> None:
    if circuit not in CIRCUITS:
        raise UserError(f"unknown demo circuit {circuit!r}; choose one of {', '.join(CIRCUITS)}")


def demo_dandiset(circuit: str = "refcirc1", cache_dir=None) -> Path:
    """The cached demo dandiset of a circuit, generated on first use.

    The folder is ``<cache>/demo/<circuit>-<CACHE_VERSION>`` where ``<cache>`` is
    :func:`~nwb_biornn.recordings.cache.cache_root` of ``cache_dir``. It is written
    into a temporary sibling folder and renamed into place, so an interrupted generation leaves nothing behind
    and concurrent callers never see a partial dandiset.
    """
    _check_circuit(circuit)
    target = cache_root(cache_dir) / "demo" / f"{circuit}-{CACHE_VERSION}"
    if (target / "dandiset.yaml").exists():
        return target
    try:
        with atomic_path(target, folder=True) as scratch:
            write_demo_dandiset(scratch, circuit)
    except OSError:
        if not (target / "dandiset.yaml").exists():
            raise
    return target


def _unit_counts(units_per_area):
    """Recorded (cell type, count) pairs per area: 80 % excitatory."""
    excitatory = int(round(0.8 * units_per_area))
    return (("E", excitatory), ("I", units_per_area - excitatory))


def _check_arguments(layout, n_sessions, n_trials, perturbed_fraction, units_per_area):
    if n_sessions < 1 or n_trials < 1:
        raise UserError(f"the demo needs at least one session and one trial, not {n_sessions} and {n_trials}")
    if not 0 <= perturbed_fraction <= 1:
        raise UserError(f"perturbed_fraction must lie in [0, 1], not {perturbed_fraction}")
    for area in layout.areas:
        for cell_type, count in _unit_counts(units_per_area):
            available = int(np.sum((layout.area == area) & (layout.cell_type == cell_type)))
            if count > available:
                raise UserError(f"units_per_area={units_per_area} asks for {count} {cell_type} units of area "
                                f"{area} but the circuit has {available}; use a smaller units_per_area")


def _recorded_neurons(layout, units_per_area, rng):
    """Circuit indices of the recorded neurons, ordered by area, E before I."""
    chosen = []
    for area in layout.areas:
        for cell_type, count in _unit_counts(units_per_area):
            pool = np.flatnonzero((layout.area == area) & (layout.cell_type == cell_type))
            chosen.append(np.sort(rng.choice(pool, count, replace=False)))
    return np.concatenate(chosen)


def _site_name(area, cell_type):
    return f"laser_{area.replace('+', '_and_')}_{_EFFECTS[cell_type]}"


def _sites(circuit):
    """(area, targeted cell type) of every stimulation site, in the order of the ``control`` codes."""
    return tuple(dict.fromkeys((c.area, c.cell_type) for c in demo_conditions(circuit)))


def _session_file(circuit, seed, index, start_time, trial_start, instructions, lights, trials, recorded, layout):
    task = _task(circuit)
    session_id = f"{start_time:%Y%m%dT%H%M%S}"
    describe = hemispheres.describe() if circuit == TWO_CHOICE else circuits.describe(circuit)
    nwbfile = NWBFile(
        session_description=f"Synthetic {task.kind} session simulated from ground-truth circuit {circuit} "
                            f"(seed {seed}).",
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"nwb-biornn-demo/{circuit}/{CACHE_VERSION}/{seed}/{index}")),
        session_start_time=start_time,
        session_id=session_id,
        experiment_description=describe,
        institution="nwb-biornn (synthetic data)",
        keywords=["optogenetics", "synthetic", "ground truth", task.kind, "spiking network"],
        source_script="nwb_biornn.synthetic.demo.write_demo_dandiset",
        source_script_file_name="nwb_biornn/synthetic/demo.py",
    )
    nwbfile.subject = Subject(subject_id=circuit, species="Mus musculus", sex="U", age="P90D",
                              description=f"Synthetic subject: the ground-truth circuit {circuit}.")
    trial_stop = trial_start + task.trial_duration
    _add_trials(nwbfile, task, trial_start, trial_stop, instructions, lights, trials.licks)
    _add_behavioural_events(nwbfile, task, circuit, trial_start, lights, trials.licks)
    _add_ogen_sites(nwbfile, task, circuit, trial_start, lights)
    _add_units(nwbfile, trial_start, trial_stop, trials, recorded, layout)
    return nwbfile


def _event_times(trial_start, events, dt):
    """Session times of the True entries of ``events[trials, time]``: the centre of their simulation step."""
    trial, step = np.nonzero(events)
    return trial_start[trial] + (step + 0.5) * dt


def _add_trials(nwbfile, task, trial_start, trial_stop, instructions, lights, licks):
    early = licks[:, :round(task.go_onset / task.dt)].any(axis=(1, 2))
    columns = {
        "trial": "Trial number, from 1.",
        "trial_instruction": task.instruction_description,
        "outcome": task.outcome_description,
        "early_lick": "'early' if the mouse licked between trial start and the go cue, else 'no early'.",
        "photostim_onset": "Light onset in seconds from the trial start (start_time); 'N/A' when no light.",
        "photostim_power": "Light power in mW; 'N/A' when no light.",
        "photostim_duration": "Light duration in seconds; 'N/A' when no light.",
        "photostim_site": "Name of the OptogeneticStimulusSite that was lit; 'N/A' when no light.",
    }
    if not task.early_lick_column:
        del columns["early_lick"]
    for name, description in columns.items():
        nwbfile.add_trial_column(name=name, description=description)
    outcomes = task.outcomes(instructions, licks)
    for i, (instruction, light) in enumerate(zip(instructions, lights)):
        photostim = {"photostim_onset": "N/A", "photostim_power": "N/A", "photostim_duration": "N/A",
                     "photostim_site": "N/A"}
        if light is not None:
            photostim = {"photostim_onset": f"{task.light_origin + light.onset:.4f}",
                         "photostim_power": f"{light.power:.4f}",
                         "photostim_duration": f"{light.offset - light.onset:.4f}",
                         "photostim_site": light.site}
        early_lick = {"early_lick": "early" if early[i] else "no early"} if task.early_lick_column else {}
        nwbfile.add_trial(start_time=trial_start[i], stop_time=trial_stop[i], trial=i + 1,
                          trial_instruction=str(instruction), outcome=outcomes[i], **early_lick, **photostim)


def _add_behavioural_events(nwbfile, task, circuit, trial_start, lights, licks):
    sample, go = trial_start + task.sample_onset, trial_start + task.go_onset
    lit = [i for i, light in enumerate(lights) if light is not None]
    site_names = [_site_name(*site) for site in _sites(circuit)]
    power = np.array([lights[i].power for i in lit], dtype=float)
    site = np.array([site_names.index(lights[i].site) for i in lit], dtype=np.uint8)
    go_description = ("Go signal: in this task the stimulus itself opens the response window, so it equals "
                      "sample_start." if task.go_onset == task.sample_onset else "Go cue: opens the response window.")
    with warnings.catch_warnings():  # 000363 keeps its events in BehavioralEvents, which pynwb now deprecates
        warnings.simplefilter("ignore", UserWarning)
        events = BehavioralEvents(name="BehavioralEvents")
    series = [("sample_start_times", sample, np.ones(len(sample)), "Sample (instruction) onset of every trial."),
              ("sample_stop_times", sample + circuits.STIMULUS_DURATION, np.ones(len(sample)),
               "Sample (instruction) offset of every trial."),
              ("go_start_times", go, np.ones(len(go)), go_description)]
    series += [(name, _event_times(trial_start, licks[..., port], task.dt), None, description)
               for port, (name, description) in enumerate(task.lick_series)]
    for name, times, data, description in series:
        events.add_timeseries(TimeSeries(name=name, data=np.ones(len(times)) if data is None else data,
                                         timestamps=times, unit="a.u.", description=description))
    origin = trial_start[lit] + task.light_origin
    for name, times in (("photostim_start_times", origin + [lights[i].onset for i in lit]),
                        ("photostim_stop_times", origin + [lights[i].offset for i in lit])):
        events.add_timeseries(TimeSeries(
            name=name, data=power, timestamps=np.asarray(times, dtype=float), unit="mW",
            description="Light on/off times; data is the power in mW, control the index of the stimulation site.",
            control=site, control_description=site_names))
    nwbfile.add_acquisition(events)


def _add_ogen_sites(nwbfile, task, circuit, trial_start, lights):
    """One stimulation site per (areas, targeted cell type), each with an OptogeneticSeries of its light power."""
    laser = nwbfile.create_device(name="laser", description="473 nm laser through an optical fiber (simulated).")
    for area, cell_type in _sites(circuit):
        population = "inhibitory (VGAT+)" if cell_type == "I" else "excitatory"
        location = [{"brain_area": area, "target_cell_type": cell_type, "skull_reference": "bregma",
                     "ap_location": 0.0, "ml_location": 0.0, "depth": 0.0, "theta": 0.0, "phi": 0.0}]
        name = _site_name(area, cell_type)
        site = nwbfile.create_ogen_site(
            name=name, device=laser, excitation_lambda=473.0, location=json.dumps(location),
            description=f"{_EFFECTS[cell_type]} of area {area}: ChR2 in its {population} neurons; "
                        "excitation_duration: see the trials' photostim_duration")
        lit = [i for i, light in enumerate(lights) if light is not None and light.site == name]
        if lit:
            origin = trial_start[lit] + task.light_origin
            onset = origin + [lights[i].onset for i in lit]
            offset = origin + [lights[i].offset for i in lit]
            watts = np.array([lights[i].power for i in lit]) / 1000
            nwbfile.add_stimulus(OptogeneticSeries(
                name=f"{name}_power", site=site, data=np.column_stack([watts, np.zeros(len(lit))]).ravel(),
                timestamps=np.column_stack([onset, offset]).ravel(),
                description="Light power: the value at each light onset, back to 0 at its offset."))


def _add_units(nwbfile, trial_start, trial_stop, trials, recorded, layout):
    probes = {}
    for area in layout.areas:
        device = nwbfile.create_device(name=f"probe_{area}", description=f"Simulated probe in area {area}.")
        probes[area] = nwbfile.create_electrode_group(name=f"probe_{area}", description=f"Probe in area {area}.",
                                                      location=area, device=device)
    nwbfile.units = Units(name="units", resolution=trials.dt, electrode_table=nwbfile.electrodes,
                          description="Spike times of the recorded neurons of the reference circuit, placed at the "
                                      "centre of their simulation step.")
    for name, description in (
            ("anno_name", "Brain area of the unit."),
            ("cell_type", "'E' (excitatory) or 'I' (inhibitory) neuron of the circuit."),
            ("circuit_neuron", "Index of the unit's neuron in the reference circuit stored in "
                               "processing/reference_circuit."),
    ):
        nwbfile.add_unit_column(name=name, description=description)
    intervals = np.column_stack([trial_start, trial_stop])
    for row, neuron in enumerate(recorded):
        area = str(layout.area[neuron])
        nwbfile.add_electrode(location=area, group=probes[area])
        nwbfile.add_unit(spike_times=_event_times(trial_start, trials.spikes[:, :, neuron], trials.dt), obs_intervals=intervals,
                         electrodes=[row], electrode_group=probes[area], anno_name=area,
                         cell_type=str(layout.cell_type[neuron]), circuit_neuron=int(neuron))
