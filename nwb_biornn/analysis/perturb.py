"""Simulate a fitted model (or a reference circuit) on a session's trials, with or without light.

The behavioural outcome of a simulated trial (a lick, or the correct port) is given a probability by a
:class:`ResponseRule` learned from the recording alone, so that predicted and recorded changes in P(lick) or
P(correct) are measured alike.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from nwb_biornn.core.session import LICK_PORTS, Condition, Session, instructed_ports
from nwb_biornn.model.choice import first_bout_probabilities
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.light import light_current
from nwb_biornn.model.network import BioRNN

DEFAULT_TRIALS = 200
"""Simulated trials per condition unless asked otherwise."""


@dataclass(frozen=True)
class ResponseRule:
    """Probability of each simulated trial's outcome (:attr:`Session.outcome`) from its behaviour traces.

    The behaviour readout is one lick rate (Hz) per port, fitted to the recorded ones. A simulated trial's choice
    is the port of its first lick bout in the response window, and no bout is no response
    (:func:`~nwb_biornn.model.choice.first_bout_probabilities`); its outcome is a response (go/no-go, one port:
    ``1 - exp(-n / b)`` for ``n`` expected licks) or the instructed port (two-choice: P(correct)). The bout
    size ``b`` is learned from the recorded trials alone, per trial type: ``b = sum_t N_t / sum_t -ln(1 - P_t)``
    with ``N_t`` the mean lick count in the window (all ports) and ``P_t`` the fraction of responding trials of
    type ``t``; without recorded traces (behaviour from trial labels) the readout was fitted to the choices
    themselves and ``b = 1``. Recorded and simulated trials are thus scored on the same footing: the recorded
    outcomes are observed, the simulated ones are their expected value.

    Attributes
    ----------
    start, stop : int
        Bins of the response window.
    dt : float
        Bin width in seconds.
    licks_per_bout : float
    ports : tuple of str
        :attr:`Session.ports`.

    Examples
    --------
    >>> rule = ResponseRule(start=1, stop=3, dt=0.5, licks_per_bout=1.0)
    >>> rule.outcome_probability(np.array([[0.0, 2.0, 2.0, 0.0], [9.0, 0.0, 0.0, 9.0]])[..., None],
    ...                          np.array(["go", "go"])).round(3)
    array([0.865, 0.   ])
    """

    start: int
    stop: int
    dt: float
    licks_per_bout: float
    ports: tuple = LICK_PORTS

    @classmethod
    def learn(cls, session: Session, trials: np.ndarray) -> "ResponseRule":
        """The rule of ``session``, with the bout size estimated on ``trials`` (a boolean mask)."""
        window = session.response_bins
        rule = cls(window.start, window.stop, session.dt, 1.0, session.ports)
        if session.behaviour_name == "none":
            return rule
        trials = trials & (session.choice != "")
        counts = rule.expected_licks(session.behaviour[trials])
        responded = session.response[trials]
        licks, bouts = 0.0, 0.0
        for trial_type in np.unique(session.trial_type[trials]):
            of_type = session.trial_type[trials] == trial_type
            fraction = min(responded[of_type].mean(), 1 - 0.5 / of_type.sum())
            licks, bouts = licks + counts[of_type].mean(), bouts - np.log1p(-fraction)
        return dataclasses.replace(rule, licks_per_bout=float(licks / bouts) if licks > 0 and bouts > 0 else 1.0)

    def expected_licks(self, behaviour: np.ndarray) -> np.ndarray:
        """Expected lick count (all ports) in the response window of traces of shape (trials, time, ports)."""
        return behaviour[:, self.start:self.stop].sum(axis=(1, 2)) * self.dt

    def choice_probabilities(self, behaviour: np.ndarray) -> np.ndarray:
        """Probability of each port, then of no response, for traces (trials, time, ports); (trials, ports + 1)."""
        window = torch.as_tensor(np.asarray(behaviour[:, self.start:self.stop], dtype=np.float64))
        return first_bout_probabilities(window, self.dt, self.licks_per_bout).numpy()

    def outcome_probability(self, behaviour: np.ndarray, trial_type: np.ndarray) -> np.ndarray:
        """Probability of each trial's outcome: P(lick), or P(correct) with the port its type instructs (NaN for
        a type that instructs none)."""
        probabilities = self.choice_probabilities(behaviour)
        if self.ports == LICK_PORTS:
            return probabilities[:, 0]
        instructed = instructed_ports(trial_type, self.ports)
        picked = probabilities[np.arange(len(instructed)), np.maximum(instructed, 0)]
        return np.where(instructed >= 0, picked, np.nan)


@dataclass
class SimulatedTrials:
    """Simulated trials on the session's grid, restricted to the units the model was fitted to.

    Attributes
    ----------
    spikes : ndarray, shape (trials, time, units)
        Spikes of the model neuron standing for each unit of the session (zero for units without one).
    behaviour : ndarray, shape (trials, time, ports)
    trial_type : ndarray, shape (trials,)
        Trial type of the recorded trial whose inputs were replayed.
    """

    spikes: np.ndarray
    behaviour: np.ndarray
    trial_type: np.ndarray


def replay_trials(source_trials: np.ndarray, n_trials: int) -> np.ndarray:
    """Indices of ``n_trials`` recorded trials to replay, cycling through ``source_trials`` in order.

    Examples
    --------
    >>> replay_trials(np.array([4, 7]), 5)
    array([4, 7, 4, 7, 4])
    """
    if len(source_trials) == 0:
        raise ValueError("no recorded trials to take inputs from")
    return np.resize(np.asarray(source_trials), n_trials)


def simulate_trials(model: BioRNN, layout: NeuronLayout, session: Session, session_index: int,
                    source_trials: np.ndarray, n_trials: int, condition: Condition | None = None,
                    seed: int = 0, mw_to_current: float | None = None) -> SimulatedTrials:
    """Simulate ``n_trials`` trials that replay the task inputs of ``source_trials``.

    Parameters
    ----------
    model, layout
        The network and its neuron layout (``layout.session == session_index`` marks this session's neurons).
    source_trials : ndarray of int
        Recorded trials whose inputs (and trial types) are replayed, cycled to ``n_trials``.
    condition : Condition, optional
        Light to apply; none for light-off trials. A replayed trial recorded under this very condition keeps its
        own light window (:meth:`Session.trial_light`: delays of different lengths), the others get the
        condition's window.
    seed : int
        Noise and spikes are a deterministic function of the seed, so light-on and light-off runs with the
        same seed share their random numbers.
    """
    picked = replay_trials(source_trials, n_trials)
    device = next(model.parameters()).device
    inputs = torch.as_tensor(session.inputs[picked], dtype=torch.float32, device=device)
    light = None
    if condition is not None:
        extra = {} if mw_to_current is None else {"mw_to_current": mw_to_current}
        own = [_own_light(session, int(t), condition) for t in picked]
        currents = {c: light_current(c, layout, session.time, **extra) for c in dict.fromkeys(own)}
        light = (next(iter(currents.values())) if len(currents) == 1
                 else torch.stack([currents[c] for c in own])).to(device)
    with torch.no_grad():
        simulation = model.simulate(inputs, light, seed=seed)
    neurons, units = layout.neurons_of(session_index)
    spikes = np.zeros((n_trials, session.n_time, session.n_units), dtype=np.float32)
    spikes[..., units] = simulation.spikes[..., torch.as_tensor(neurons, device=device)].cpu().numpy()
    return SimulatedTrials(spikes, simulation.behaviour.cpu().numpy(), session.trial_type[picked])


def _own_light(session: Session, trial: int, condition: Condition) -> Condition:
    """``condition`` with the window of ``trial`` when the trial was recorded under it, else ``condition``."""
    index = int(session.condition[trial])
    if index >= 0 and (session.conditions[index] is condition or session.conditions[index] == condition):
        return session.trial_light(trial)
    return condition
