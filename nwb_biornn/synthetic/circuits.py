"""The ground-truth reference circuits RefCirc1 (feedforward) and RefCirc2 (with feedback).

Both are two-area spiking networks of the project's own :class:`~nwb_biornn.model.network.BioRNN` (escape-noise
LIF neurons, Dale's law, local inhibition) that solve a go/no-go task: a stimulus pulse drives area ``A`` (the
teachers also pass part of it to ``B`` directly), ``A`` drives area ``B`` through excitatory synapses, and the
lick rate follows ``B``. They differ in one block of weights only:

* ``refcirc1``: ``A -> B``, no synapse from ``B`` back to ``A``;
* ``refcirc2``: the same plus excitatory ``B -> A`` feedback, which prolongs ``A``'s response to the go
  stimulus, so that silencing ``B`` also changes ``A``.

A model that cannot tell a feedforward from a recurrent circuit therefore fails on one of the two.

Each circuit comes at two sizes (:class:`Scale`): the demo's (``refcirc1``, ``refcirc2``: 75 neurons per area,
2 ms steps) and the paper's synthetic benchmark (``paper-refcirc1``, ``paper-refcirc2``: 250 neurons per area,
1 ms steps, synaptic delays of 2 to 3 ms; method.md §1a). The hand-set strengths scale with the population
sizes and the step (:class:`Wiring`), so both sizes wire the same circuit.

They are made in two stages, as the paper's were (method.md §1a). :func:`hand_built_circuit` wires each circuit
by hand (:class:`Wiring`); :mod:`nwb_biornn.synthetic.teachers` then fits a bioRNN *teacher* to every neuron of it,
with its connectivity imposed, and that teacher, shipped with the package, is the reference circuit
(:func:`reference_circuit`) that ``demo`` records. ``docs/demo.md`` has the construction and the measured
effect sizes.

Examples
--------
>>> model, layout = reference_circuit("refcirc2")
>>> trials = simulate_trials(model, layout, ["go"] * 4, [None] * 4, seed=0)
>>> trials.spikes.shape
(4, 200, 150)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nwb_biornn.core.config import ModelConfig, from_dict, to_dict
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.files import atomic_path
from nwb_biornn.model.layout import HIDDEN, NeuronLayout
from nwb_biornn.model.light import light_current
from nwb_biornn.model.network import BioRNN
from nwb_biornn.recordings.binning import PULSE_DURATION

AREAS = ("A", "B")
PAPER_PREFIX = "paper-"
"""Prefix of the paper-size circuits' names: ``paper-refcirc1`` is ``refcirc1`` at :data:`PAPER_SCALE`."""
CIRCUITS = ("refcirc1", "refcirc2", f"{PAPER_PREFIX}refcirc1", f"{PAPER_PREFIX}refcirc2")


@dataclass(frozen=True)
class Scale:
    """Size, simulation step and synaptic delays of a reference circuit.

    Attributes
    ----------
    excitatory_per_area, inhibitory_per_area : int
    dt : float
        Simulation step in seconds.
    delays : (float, float)
        Shortest and longest synaptic delay in seconds; each synapse's is drawn uniformly in whole steps.
    """

    excitatory_per_area: int
    inhibitory_per_area: int
    dt: float
    delays: tuple

    @property
    def per_area(self) -> int:
        """Neurons per area."""
        return self.excitatory_per_area + self.inhibitory_per_area

    @property
    def config(self) -> ModelConfig:
        """Neuron dynamics of the hand-built circuits: the bioRNN defaults (method.md §2.3) with these delays."""
        return ModelConfig(delay_min=self.delays[0], delay_max=self.delays[1])


DEMO_SCALE = Scale(excitatory_per_area=60, inhibitory_per_area=15, dt=0.002, delays=(0.002, 0.002))
"""The demo's circuits: 75 neurons per area, 2 ms steps, every synaptic delay one step."""
PAPER_SCALE = Scale(excitatory_per_area=200, inhibitory_per_area=50, dt=0.001, delays=(0.002, 0.003))
"""The paper's synthetic circuits (method.md §1a): 250 neurons per area, 1 ms steps, delays of 2 to 3 ms."""
TRIAL_DURATION = 0.4
"""Seconds simulated per trial, from trial start."""
STIMULUS_ONSET = 0.1
"""Stimulus onset in seconds from trial start."""
STIMULUS_DURATION = PULSE_DURATION
"""Length of the stimulus pulse (height 1), as in ``Session.inputs``."""
RESPONSE_WINDOW = TRIAL_DURATION - STIMULUS_ONSET
"""Seconds after stimulus onset in which a lick counts as the response: the rest of the trial."""
INPUT_NAMES = ("go", "nogo")
"""Input channels: one pulse channel per trial instruction."""
CIRCUIT_FILES = Path(__file__).parent / "reference_circuits"
"""Folder of the shipped reference circuits, ``<name>.npz`` (written by :func:`save_circuit`)."""


@dataclass(frozen=True)
class CircuitTrials:
    """Simulated trials of a reference circuit, on the grid ``dt * arange(T)`` from trial start.

    Attributes
    ----------
    spikes : ndarray, shape (trials, T, N), uint8
    lick_rate : ndarray, shape (trials, T, ports), float
        Behaviour readout: lick rate in Hz at each lick port (one port for the go/no-go circuits).
    licks : ndarray, shape (trials, T, ports), bool
        Lick events, a Bernoulli draw per step and port with probability ``lick_rate * dt``.
    dt : float
        Simulation step in seconds.
    """

    spikes: np.ndarray
    lick_rate: np.ndarray
    licks: np.ndarray
    dt: float


@dataclass(frozen=True)
class Wiring:
    """The hand-set strengths of the reference circuits (the defaults are the documented circuits).

    A block strength ``J`` is the steady depolarization (model units, threshold gap 0.1) that one Hz of rate of
    the whole presynaptic population causes in a postsynaptic neuron: each of the ``p * n_pre`` synapses gets
    ``J * dt_ms / (p * n_pre * dt)`` times a log-normal factor of mean 1 (``jitter``), so that
    ``sum_i W_ji r_i dt / dt_ms`` (the recurrent current of :class:`~nwb_biornn.model.network.BioRNN`) equals
    ``J * r`` on average.

    Attributes
    ----------
    ee_a, ee_b : float
        E -> E inside area A and inside area B (B's is stronger: it turns A's brief response into a longer one).
    ie, ei, ii : float
        E -> I, I -> E and I -> I inside each area.
    ab_e, ab_i : float
        A's E -> B's E and A's E -> B's I.
    ba_e, ba_i : float
        B's E -> A's E and B's E -> A's I; ``refcirc2`` only.
    go_input_e, go_input_i : float
        Weight of the go pulse onto A's E and I neurons (an input of 1 moves the steady potential by 1).
    nogo_input : float
        The no-go pulse's weights as a fraction of the go pulse's.
    resting_e, resting_i : float
        Resting potentials (threshold 0.1); with ``noise`` they set baseline rates of about 3 Hz (E) and 8 Hz (I).
    noise : float
        Membrane noise, as ``ModelConfig.noise``.
    readout_gain, readout_bias : float
        Lick rate = ``softplus(readout_bias + readout_gain * mean rate of B's E neurons in Hz)``.
    connection_probability, jitter : float
        Probability of each possible synapse; standard deviation of the log of its weight.
    """

    ee_a: float = 0.012
    ee_b: float = 0.015
    ie: float = 0.010
    ei: float = 0.012
    ii: float = 0.006
    ab_e: float = 0.010
    ab_i: float = 0.006
    ba_e: float = 0.008
    ba_i: float = 0.003
    go_input_e: float = 2.0
    go_input_i: float = 1.0
    nogo_input: float = 0.15
    resting_e: float = -0.02
    resting_i: float = 0.0
    noise: float = 0.14
    readout_gain: float = 1.0
    readout_bias: float = -12.0
    connection_probability: float = 0.3
    jitter: float = 0.3


PAPER_WIRING = Wiring(ba_e=0.006)
"""The strengths of the paper-size circuits: the demo's, but for a weaker ``B -> A`` feedback. At 1 ms steps and
2 to 3 ms delays the demo's feedback (0.008) holds both areas of ``refcirc2`` near 180 Hz for the rest of a go
trial; at 0.006 area A's response decays within 100 ms of the stimulus, as in the demo's circuit
(docs/demo.md)."""


DELAY_STREAM = 1
"""Second word of the seed of the generator that draws a hand-built circuit's synaptic delays."""


def wiring_of(name: str) -> Wiring:
    """The hand-set strengths of circuit ``name``: :data:`PAPER_WIRING` for the ``paper-`` circuits, else the
    :class:`Wiring` defaults."""
    return PAPER_WIRING if scale(name) == PAPER_SCALE else Wiring()


def circuit_arrays(name: str, seed: int = 0, wiring: Wiring | None = None) -> tuple[dict, NeuronLayout]:
    """The parameters of a reference circuit as :meth:`BioRNN.to_arrays` arrays, and its layout.

    Each area has the E and I neurons of the circuit's :func:`scale`. Inside an area every
    pair of populations is connected with probability ``wiring.connection_probability``; ``A``'s E neurons
    project to ``B``'s E and I neurons; in ``refcirc2`` ``B``'s E neurons also project back to ``A``'s E and I
    neurons; these feedback synapses are drawn last, so both circuits share every other synapse for the same
    ``seed``. Inhibition stays local. The go input drives ``A`` only; the readout weights are
    ``readout_gain / n_E`` on ``B``'s E neurons, so the lick rate is ``softplus(bias + gain * rate_B,E)``.
    Synaptic delays are drawn from a generator of their own, so both circuits have the same.
    """
    size = scale(name)
    layout = NeuronLayout.hidden({area: size.per_area for area in AREAS},
                                 excitatory_fraction=size.excitatory_per_area / size.per_area)
    rng = np.random.default_rng(seed)
    w = wiring if wiring is not None else wiring_of(name)
    recurrence = {"A": w.ee_a, "B": w.ee_b}
    blocks = [((area, post), (area, pre), strength) for area in AREAS
              for post, pre, strength in (("E", "E", recurrence[area]), ("I", "E", w.ie), ("E", "I", w.ei),
                                          ("I", "I", w.ii))]
    blocks += [(("B", "E"), ("A", "E"), w.ab_e), (("B", "I"), ("A", "E"), w.ab_i)]
    if base_circuit(name) == "refcirc2":
        blocks += [(("A", "E"), ("B", "E"), w.ba_e), (("A", "I"), ("B", "E"), w.ba_i)]
    weights = wire_blocks(layout, blocks, w.connection_probability, w.jitter, rng, size.dt)
    excitatory = layout.excitatory
    a_area = layout.area == "A"
    input_weights = np.zeros((layout.n_neurons, len(INPUT_NAMES)))
    input_weights[a_area & excitatory, 0] = w.go_input_e
    input_weights[a_area & ~excitatory, 0] = w.go_input_i
    input_weights[a_area, 1] = w.nogo_input * input_weights[a_area, 0]
    readout = np.where((layout.area == "B") & excitatory, w.readout_gain / size.excitatory_per_area, 0.0)
    arrays = network_arrays(layout, weights, input_weights, readout[:, None], np.array([w.readout_bias]),
                            (w.resting_e, w.resting_i), w.noise, size, seed)
    return arrays, layout


def wire_blocks(layout: NeuronLayout, blocks, connection_probability: float, jitter: float,
                rng: np.random.Generator, dt: float) -> np.ndarray:
    """Recurrent weights ``[post, pre]`` of hand-set population blocks (the scaling of :class:`Wiring`).

    ``blocks`` holds ``((post area, post cell type), (pre area, pre cell type), strength)``; each possible synapse
    of a block exists with probability ``connection_probability`` and gets ``strength * dt_ms / (p * n_pre * dt)``
    times a log-normal factor of mean 1, negative from I neurons. Blocks are drawn in order from ``rng``.
    """
    population = {(area, cell): (layout.area == area) & (layout.cell_type == cell)
                  for area in layout.areas for cell in ("E", "I")}
    weights = np.zeros((layout.n_neurons, layout.n_neurons))
    p, dt_ms = connection_probability, dt * 1000
    for post, pre, strength in blocks:
        rows, cols = np.flatnonzero(population[post]), np.flatnonzero(population[pre])
        connected = rng.random((len(rows), len(cols))) < p
        factor = np.exp(jitter * rng.standard_normal(connected.shape) - jitter ** 2 / 2)
        magnitude = strength * dt_ms / (p * len(cols) * dt) * factor
        weights[np.ix_(rows, cols)] = magnitude * connected * (1 if pre[1] == "E" else -1)
    np.fill_diagonal(weights, 0)
    return weights


def network_arrays(layout: NeuronLayout, weights, input_weights, readout_weights, readout_bias, resting: tuple,
                   noise: float, size: Scale, seed: int) -> dict:
    """:meth:`BioRNN.to_arrays` arrays of a hand-built circuit: the given weights, ``resting`` = (E, I) resting
    potentials, the dynamics of ``size.config`` and its delays, each drawn uniformly in whole steps (``seed``)."""
    n, excitatory, config = layout.n_neurons, layout.excitatory, size.config
    shortest, longest = (round(delay / size.dt) for delay in size.delays)
    rng = np.random.default_rng([seed, DELAY_STREAM])
    return {
        "recurrent_weights": weights.astype(np.float32),
        "connectivity_mask": weights != 0,
        "delays": rng.integers(shortest, longest + 1, (n, n)),
        "input_weights": input_weights.astype(np.float32),
        "readout_weights": readout_weights.astype(np.float32),
        "readout_bias": readout_bias.astype(np.float32),
        "resting_potential": np.where(excitatory, *resting).astype(np.float32),
        "threshold": np.full(n, config.threshold, np.float32),
        "tau": np.where(excitatory, config.tau_e, config.tau_i).astype(np.float32),
        "noise": np.full(n, noise, np.float32),
        "refractory_steps": np.full(n, round(config.refractory / size.dt), np.int64),
    }


def hand_built_circuit(name: str, seed: int = 0, wiring: Wiring | None = None) -> tuple[BioRNN, NeuronLayout]:
    """Hand-built circuit ``"refcirc1"`` (feedforward) or ``"refcirc2"`` (feedback), or their ``paper-`` sizes,
    as a :class:`BioRNN`.

    ``seed`` draws which synapses exist and their log-normal jitter; the strengths are fixed (:func:`wiring_of`).
    The teachers of :mod:`nwb_biornn.synthetic.teachers` are fitted to these circuits.
    """
    arrays, layout = circuit_arrays(name, seed, wiring)
    size = scale(name)
    return BioRNN.from_arrays(size.config, layout, size.dt, arrays), layout


def reference_circuit(name: str) -> tuple[BioRNN, NeuronLayout]:
    """Reference circuit ``"refcirc1"`` (feedforward) or ``"refcirc2"`` (feedback), or their ``paper-`` sizes:
    the shipped teacher."""
    _check_name(name)
    return load_circuit(CIRCUIT_FILES / f"{name}.npz")


def scale(name: str) -> Scale:
    """The size of circuit ``name``: :data:`PAPER_SCALE` for the ``paper-`` circuits, else :data:`DEMO_SCALE`.

    Examples
    --------
    >>> scale("paper-refcirc2").per_area, scale("refcirc2").dt
    (250, 0.002)
    """
    _check_name(name)
    return PAPER_SCALE if name.startswith(PAPER_PREFIX) else DEMO_SCALE


def base_circuit(name: str) -> str:
    """The wiring that circuit ``name`` has, whatever its size: ``"refcirc1"`` or ``"refcirc2"``.

    Examples
    --------
    >>> base_circuit("paper-refcirc1"), base_circuit("refcirc2")
    ('refcirc1', 'refcirc2')
    """
    _check_name(name)
    return name.removeprefix(PAPER_PREFIX)


def save_circuit(model: BioRNN, path) -> None:
    """Write a network to ``path`` (``.npz``, atomically, its folder created): :meth:`BioRNN.to_arrays`, its
    layout, configuration and step."""
    layout = model.layout
    with atomic_path(path) as tmp, open(tmp, "wb") as stream:
        np.savez_compressed(stream, **model.to_arrays(), area=layout.area.astype(str),
                            cell_type=layout.cell_type.astype(str), areas=np.asarray(layout.areas, dtype=str),
                            dt=np.float64(model.dt), model_config=json.dumps(to_dict(model.config)))


def load_circuit(path) -> tuple[BioRNN, NeuronLayout]:
    """The network written by :func:`save_circuit`, and its layout (every neuron hidden)."""
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    n = len(arrays["area"])
    layout = NeuronLayout(area=arrays["area"], cell_type=arrays["cell_type"], session=np.full(n, HIDDEN),
                          unit=np.full(n, HIDDEN), areas=tuple(arrays["areas"].tolist()))
    config = from_dict(ModelConfig, json.loads(str(arrays["model_config"])))
    model = BioRNN.from_arrays(config, layout, float(arrays["dt"]), arrays)
    return model, model.layout


def _check_name(name: str) -> None:
    if name not in CIRCUITS:
        raise UserError(f"unknown reference circuit {name!r}; choose one of {', '.join(CIRCUITS)}")


def stimulus_inputs(instructions, dt: float = DEMO_SCALE.dt) -> np.ndarray:
    """Input pulses of trials with the given instructions (``"go"`` / ``"nogo"``) on steps of ``dt`` seconds;
    shape (K, T, 2)."""
    instructions = np.asarray(instructions)
    unknown = set(instructions.tolist()) - set(INPUT_NAMES)
    if unknown:
        raise ValueError(f"unknown trial instructions {sorted(unknown)}; expected {INPUT_NAMES}")
    n_time = round(TRIAL_DURATION / dt)
    start = round(STIMULUS_ONSET / dt)
    inputs = np.zeros((len(instructions), n_time, len(INPUT_NAMES)), np.float32)
    for channel, instruction in enumerate(INPUT_NAMES):
        inputs[instructions == instruction, start:start + round(STIMULUS_DURATION / dt), channel] = 1.0
    return inputs


def simulate_trials(model: BioRNN, layout: NeuronLayout, instructions, lights, seed: int) -> CircuitTrials:
    """Simulate one go/no-go trial per instruction, each with its light condition or none.

    Parameters
    ----------
    model, layout
        A reference circuit (:func:`reference_circuit`).
    instructions : sequence of str
        ``"go"`` or ``"nogo"`` per trial.
    lights : sequence of Condition or None
        Light per trial; onset and offset in seconds relative to the stimulus onset, power in mW
        (converted with :data:`nwb_biornn.model.light.MW_TO_CURRENT`, as when a fitted model is perturbed).
    seed : int
        Makes membrane noise, spikes and licks a deterministic function of it.
    """
    return simulate(model, layout, stimulus_inputs(instructions, model.dt), lights, seed, STIMULUS_ONSET)


def simulate(model: BioRNN, layout: NeuronLayout, inputs: np.ndarray, lights, seed: int,
             light_origin: float) -> CircuitTrials:
    """Simulate trials of a circuit from their inputs (K, T, channels), each with its light condition or none.

    Light onsets and offsets are seconds from ``light_origin`` seconds after trial start; licks are drawn per step
    and port from the readout's rates. ``seed`` makes noise, spikes and licks a deterministic function of it.
    """
    inputs = torch.as_tensor(inputs)
    n_trials, n_time, _ = inputs.shape
    if len(lights) != n_trials:
        raise ValueError(f"{len(lights)} light conditions for {n_trials} trials")
    light = None
    if any(condition is not None for condition in lights):
        time = model.dt * np.arange(n_time) - light_origin
        currents = {c: light_current(c, layout, time) for c in set(lights) if c is not None}
        light = torch.stack([currents[c] if c is not None else torch.zeros(n_time, layout.n_neurons)
                             for c in lights])
    with torch.no_grad():
        simulation = model.simulate(inputs, light, seed=seed)
    lick_rate = simulation.behaviour.numpy().astype(np.float64)
    licks = np.random.default_rng(seed).random(lick_rate.shape) < lick_rate * model.dt
    return CircuitTrials(spikes=simulation.spikes.numpy().astype(np.uint8), lick_rate=lick_rate, licks=licks,
                         dt=model.dt)


def population_rate(trials: CircuitTrials, layout: NeuronLayout, area: str, cell_type: str = "E",
                    window: tuple = (0.0, 0.1)) -> float:
    """Mean rate (Hz) over trials and neurons of one population in ``window`` (seconds from the stimulus onset)."""
    dt = trials.dt
    onset = round(STIMULUS_ONSET / dt)
    start, stop = (onset + round(t / dt) for t in window)
    neurons = (layout.area == area) & (layout.cell_type == cell_type)
    return float(trials.spikes[:, max(start, 0):stop, neurons].mean() / dt)


def lick_probability(trials: CircuitTrials) -> float:
    """Expected probability of at least one lick (at any port) in the response window, from the readout rates
    (mean over trials)."""
    dt = trials.dt
    onset = round(STIMULUS_ONSET / dt)
    window = trials.lick_rate[:, onset:onset + round(RESPONSE_WINDOW / dt)]
    return float(np.mean(-np.expm1(-window.sum((1, 2)) * dt)))


def describe(name: str) -> str:
    """One paragraph on what a reference circuit is (for file metadata)."""
    feedback = ("with excitatory feedback from B's excitatory neurons back to A" if base_circuit(name) == "refcirc2"
                else "without any synapse from B back to A (purely feedforward)")
    size = scale(name)
    return (f"Reference circuit {name}: a two-area spiking network (escape-noise LIF neurons, "
            f"{size.excitatory_per_area} excitatory and {size.inhibitory_per_area} inhibitory per area, "
            f"{size.dt * 1000:g} ms steps, Dale's law, local "
            f"inhibition), a bioRNN teacher fitted to a hand-built circuit of that wiring. A go (strong) or no-go "
            f"(weak) stimulus pulse drives area A (and part of B); A's excitatory neurons drive area B, "
            f"{feedback}; the lick rate is read out from the network. Optogenetic inactivation injects current into an area's inhibitory "
            f"neurons, activation into its excitatory neurons. See nwb-biornn docs/demo.md.")
