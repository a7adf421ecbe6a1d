"""Simulate a fitted model (or a reference circuit) on a session's trials, with or without light.

The behavioural response of a simulated trial is decided by a :class:`ResponseRule` learned from the
recording alone: the same rule turns recorded and simulated behaviour traces into responses, so predicted and
recorded changes in response probability are measured the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nwb_biornn.data.session import Condition, Session
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.light import light_current
from nwb_biornn.model.network import BioRNN

DEFAULT_TRIALS = 200
"""Simulated trials per condition unless asked otherwise."""


@dataclass(frozen=True)
class ResponseRule:
    """A response happens when the mean behaviour trace inside the response window exceeds ``threshold``.

    Attributes
    ----------
    start, stop : int
        Bins of the response window.
    threshold : float
        Chosen on recorded trials to reproduce their responses as well as possible.

    Examples
    --------
    >>> rule = ResponseRule(start=1, stop=3, threshold=0.5)
    >>> rule.decide(np.array([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]]))
    array([ True, False])
    """

    start: int
    stop: int
    threshold: float

    @classmethod
    def learn(cls, session: Session, trials: np.ndarray) -> "ResponseRule":
        """The threshold that best separates the recorded responses of ``trials`` (a boolean mask)."""
        start, stop = np.searchsorted(session.time + session.dt / 2, session.response_window)
        start, stop = int(start), int(max(stop, start + 1))
        means = session.behaviour[trials, start:stop].mean(axis=1)
        labels = session.response[trials]
        candidates = np.unique(means)
        cuts = np.concatenate([[candidates[0] - 1.0], (candidates[1:] + candidates[:-1]) / 2, [candidates[-1]]]) \
            if candidates.size else np.array([0.0])
        accuracy = [np.mean((means > cut) == labels) for cut in cuts]
        return cls(start, stop, float(cuts[int(np.argmax(accuracy))]))

    def decide(self, behaviour: np.ndarray) -> np.ndarray:
        """Responses (bool per trial) of behaviour traces of shape (trials, time)."""
        return behaviour[:, self.start:self.stop].mean(axis=1) > self.threshold


@dataclass
class SimulatedTrials:
    """Simulated trials on the session's grid, restricted to the units the model was fitted to.

    Attributes
    ----------
    spikes : ndarray, shape (trials, time, units)
        Spikes of the model neuron standing for each unit of the session (zero for units without one).
    behaviour : ndarray, shape (trials, time)
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
        Light to apply; none for light-off trials.
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
        light = light_current(condition, layout, session.time, **extra).to(device)
    with torch.no_grad():
        simulation = model.simulate(inputs, light, seed=seed)
    neurons, units = layout.neurons_of(session_index)
    spikes = np.zeros((n_trials, session.n_time, session.n_units), dtype=np.float32)
    spikes[..., units] = simulation.spikes[..., torch.as_tensor(neurons, device=device)].cpu().numpy()
    return SimulatedTrials(spikes, simulation.behaviour.cpu().numpy(), session.trial_type[picked])
