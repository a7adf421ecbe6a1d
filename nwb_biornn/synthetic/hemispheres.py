"""The ground truth of ``demo:2afc``: a two-hemisphere circuit that solves a delayed two-choice task.

Each trial is lick-left or lick-right: an instruction pulse at the sample onset, a delay in which the
instruction must be held, and a go cue after which the first lick's side is the mouse's choice. Two ALM-like
areas, ``ALM_L`` and ``ALM_R`` (left and right hemisphere), each drive the contralateral lick port, as in mouse
ALM (Li, Daie et al. 2016; Guo, Inagaki et al. 2017). Every block of :class:`HemisphereWiring` has a reason:

* the instruction drives the contralateral hemisphere's E neurons strongly and the ipsilateral one's weakly
  (``contra_input``, ``ipsi_input``), so both hemispheres know the instruction, with a contralateral preference;
* E -> E inside a hemisphere (``ee``) holds that activity through the delay (the memory of the instruction);
* excitatory callosal synapses onto the other hemisphere's E neurons (``callosal_e``) let the intact hemisphere
  bring a silenced one back after the light, so silencing one side is partly compensated (Li, Daie et al. 2016);
  callosal synapses onto the other side's I neurons (``callosal_i``) make the hemispheres compete, so the
  instructed side wins at the go cue;
* E <-> I inside a hemisphere (``ie``, ``ei``, ``ii``) keep it stable; inhibition is local, as in cortex;
* the go cue drives the E neurons of both hemispheres (``go_input``): the hemisphere that held the memory fires
  most, and its contralateral port's lick rate, ``softplus(readout_bias + readout_gain * its E rate in Hz)``,
  wins.

So silencing one hemisphere in the delay biases the choice to the ipsilateral port, and silencing both makes
the choice a coin flip. As for ``demo``, the shipped circuit is a bioRNN *teacher* fitted to every neuron of this
hand-built circuit (:mod:`nwb_biornn.synthetic.teachers`); ``docs/demo.md`` has the measured effects.

Examples
--------
>>> model, layout = hand_built_circuit()
>>> inputs = task_inputs(["left", "right"])
>>> inputs.shape, layout.areas
((2, 250, 3), ('ALM_L', 'ALM_R'))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nwb_biornn.model.choice import first_bout_probabilities
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.network import BioRNN
from nwb_biornn.recordings.binning import PULSE_DURATION
from nwb_biornn.synthetic.circuits import DEMO_SCALE, network_arrays, wire_blocks

AREAS = ("ALM_L", "ALM_R")
PORTS = ("left", "right")
"""Lick ports, in the readout order of the circuit (as :data:`nwb_biornn.core.session.CHOICE_PORTS`)."""
DRIVES = {"left": "ALM_R", "right": "ALM_L"}
"""The hemisphere whose activity each port's lick rate reads: the contralateral one."""
INSTRUCTIONS = ("left", "right")
"""Trial types: the port that is rewarded."""
INPUT_NAMES = ("left", "right", "go_cue")
"""Input channels, in the order the loader makes them: one pulse per trial type at the sample onset, the go cue."""
DT = DEMO_SCALE.dt
TRIAL_DURATION = 0.5
"""Seconds simulated per trial, from trial start."""
SAMPLE_ONSET = 0.1
"""Instruction pulse onset, seconds from trial start."""
GO_ONSET = 0.3
"""Go cue onset, seconds from trial start; the delay is the time between the sample pulse and it."""
RESPONSE_WINDOW = (0.0, TRIAL_DURATION - GO_ONSET)
"""Seconds from the go cue in which the first lick is the choice: the rest of the trial."""


@dataclass(frozen=True)
class HemisphereWiring:
    """The hand-set strengths of the two-hemisphere circuit (units as in :class:`~circuits.Wiring`).

    Attributes
    ----------
    ee, ie, ei, ii : float
        E -> E, E -> I, I -> E and I -> I inside each hemisphere.
    callosal_e, callosal_i : float
        A hemisphere's E -> the other hemisphere's E, and -> its I.
    contra_input, ipsi_input : float
        Instruction pulse onto the E neurons of the contralateral and of the ipsilateral hemisphere.
    go_input : float
        Go-cue pulse onto the E neurons of both hemispheres.
    resting_e, resting_i, noise : float
        Resting potentials (threshold 0.1) and membrane noise; I neurons rest further from threshold, so that
        they follow strong E activity (and light) more than weak.
    readout_gain, readout_bias : float
        Lick rate of a port = ``softplus(readout_bias + readout_gain * mean E rate in Hz of its hemisphere)``.
    connection_probability, jitter : float
        Probability of each possible synapse; standard deviation of the log of its weight.
    """

    ee: float = 0.027
    ie: float = 0.008
    ei: float = 0.025
    ii: float = 0.002
    callosal_e: float = 0.003
    callosal_i: float = 0.010
    contra_input: float = 2.0
    ipsi_input: float = 0.3
    go_input: float = 2.0
    resting_e: float = -0.02
    resting_i: float = -0.05
    noise: float = 0.14
    readout_gain: float = 0.8
    readout_bias: float = -6.0
    connection_probability: float = 0.3
    jitter: float = 0.3


def circuit_arrays(seed: int = 0, wiring: HemisphereWiring = HemisphereWiring()) -> tuple[dict, NeuronLayout]:
    """The parameters of the hand-built two-hemisphere circuit as :meth:`BioRNN.to_arrays` arrays, and its layout."""
    per_area, n_excitatory = DEMO_SCALE.per_area, DEMO_SCALE.excitatory_per_area
    layout = NeuronLayout.hidden({area: per_area for area in AREAS}, excitatory_fraction=n_excitatory / per_area)
    w = wiring
    blocks = [((area, post), (area, pre), strength) for area in AREAS
              for post, pre, strength in (("E", "E", w.ee), ("I", "E", w.ie), ("E", "I", w.ei), ("I", "I", w.ii))]
    for area, other in (AREAS, AREAS[::-1]):
        blocks += [((other, "E"), (area, "E"), w.callosal_e), ((other, "I"), (area, "E"), w.callosal_i)]
    weights = wire_blocks(layout, blocks, w.connection_probability, w.jitter, np.random.default_rng(seed), DT)
    mirror = np.concatenate([np.flatnonzero(layout.area == AREAS[1]), np.flatnonzero(layout.area == AREAS[0])])
    right = layout.area == AREAS[1]
    weights[right] = weights[mirror][right][:, mirror]  # the right hemisphere is the left one's mirror image
    excitatory = layout.excitatory
    input_weights = np.zeros((layout.n_neurons, len(INPUT_NAMES)))
    for channel, port in enumerate(INSTRUCTIONS):
        contralateral = layout.area == DRIVES[port]
        input_weights[:, channel] = np.where(contralateral, w.contra_input, w.ipsi_input) * excitatory
    input_weights[:, INPUT_NAMES.index("go_cue")] = w.go_input * excitatory
    readout = np.column_stack([np.where((layout.area == DRIVES[port]) & excitatory,
                                        w.readout_gain / n_excitatory, 0.0) for port in PORTS])
    arrays = network_arrays(layout, weights, input_weights, readout, np.full(len(PORTS), w.readout_bias),
                            (w.resting_e, w.resting_i), w.noise, DEMO_SCALE, seed)
    return arrays, layout


def hand_built_circuit(seed: int = 0, wiring: HemisphereWiring = HemisphereWiring()) -> tuple[BioRNN, NeuronLayout]:
    """The hand-built two-hemisphere circuit as a :class:`BioRNN` (``seed`` draws its synapses)."""
    arrays, layout = circuit_arrays(seed, wiring)
    return BioRNN.from_arrays(DEMO_SCALE.config, layout, DT, arrays), layout


def task_inputs(instructions) -> np.ndarray:
    """Input pulses of trials with the given instructions (``"left"`` / ``"right"``); shape (K, T, 3).

    Each trial has its instruction's pulse at :data:`SAMPLE_ONSET` and the go cue at :data:`GO_ONSET`, both
    ``PULSE_DURATION`` long, as the loader makes them from a recorded file.
    """
    instructions = np.asarray(instructions)
    unknown = set(instructions.tolist()) - set(INSTRUCTIONS)
    if unknown:
        raise ValueError(f"unknown trial instructions {sorted(unknown)}; expected {INSTRUCTIONS}")
    n_time, width = round(TRIAL_DURATION / DT), round(PULSE_DURATION / DT)
    sample, go = round(SAMPLE_ONSET / DT), round(GO_ONSET / DT)
    inputs = np.zeros((len(instructions), n_time, len(INPUT_NAMES)), np.float32)
    for channel, instruction in enumerate(INSTRUCTIONS):
        inputs[instructions == instruction, sample:sample + width, channel] = 1.0
    inputs[:, go:go + width, INPUT_NAMES.index("go_cue")] = 1.0
    return inputs


def describe() -> str:
    """One paragraph on what the two-hemisphere circuit is (for file metadata)."""
    return (f"Ground-truth circuit 2afc: two ALM-like areas ({', '.join(AREAS)}; left and right hemisphere) of "
            f"{DEMO_SCALE.excitatory_per_area} excitatory and {DEMO_SCALE.inhibitory_per_area} inhibitory escape-noise LIF neurons each "
            "(Dale's law, local inhibition), a bioRNN teacher fitted to a hand-built circuit. A lick-left or "
            "lick-right instruction pulse drives mainly the contralateral hemisphere, whose recurrent excitation "
            "holds it through the delay while callosal excitation onto the other side's inhibitory neurons makes "
            "the hemispheres compete; at the go cue each hemisphere's excitatory neurons drive the contralateral "
            "lick port, and the first lick is the choice. Optogenetic inactivation injects current into an area's "
            "inhibitory neurons, activation into its excitatory neurons. See nwb-biornn docs/demo.md.")


def correct_probability(trials, instructions) -> float:
    """Expected P(correct) of simulated trials (:class:`~circuits.CircuitTrials`): the probability that the first
    lick in the response window is at the instructed port, from the readout's lick rates (each lick its own
    draw, :func:`~nwb_biornn.model.choice.first_bout_probabilities` with one lick per bout), mean over trials."""
    go = round(GO_ONSET / DT)
    window = trials.lick_rate[:, go + round(RESPONSE_WINDOW[0] / DT):go + round(RESPONSE_WINDOW[1] / DT)]
    probabilities = first_bout_probabilities(torch.as_tensor(window), DT, 1.0).numpy()
    instructed = np.asarray([PORTS.index(i) for i in instructions])
    return float(probabilities[np.arange(len(instructed)), instructed].mean())
