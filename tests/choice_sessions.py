"""Small two-choice sessions simulated by a known two-hemisphere BioRNN, built in memory (no NWB).

The "lick left" instruction drives the right area, whose excitatory neurons drive the left port, and the
"lick right" instruction the left area, which drives the right port (each area drives the contralateral port).
Import with ``from choice_sessions import make_choice_session, choice_teacher``.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import torch
from synthetic_sessions import instruction_pulses

from nwb_biornn.core.config import ModelConfig
from nwb_biornn.core.session import CHOICE_PORTS, UNPERTURBED, Condition, Session, Source
from nwb_biornn.model.choice import first_bout_probabilities
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.light import light_current
from nwb_biornn.model.network import BioRNN

AREAS = ("L", "R")
INPUT_NAMES = ("lick left", "lick right")
INACTIVATE_LEFT = Condition("L", "I", -0.02, 0.1, 0.3, power_unit="model")
"""Light on the left area's inhibitory neurons over the response: fewer right licks."""


def choice_teacher(layout: NeuronLayout, dt: float = 0.002, seed: int = 0) -> BioRNN:
    """The two-hemisphere teacher of :func:`make_choice_session` (two ports)."""
    model = BioRNN(ModelConfig(), layout, len(INPUT_NAMES), dt, seed=seed, n_ports=2)
    arrays = model.to_arrays()
    left, right, excitatory = layout.area == "L", layout.area == "R", layout.excitatory
    arrays["input_weights"][:] = 0
    arrays["input_weights"][right & excitatory, 0] = 0.6     # "lick left" -> right area
    arrays["input_weights"][left & excitatory, 1] = 0.6      # "lick right" -> left area
    arrays["readout_weights"][:] = 0
    arrays["readout_weights"][right & excitatory, 0] = 1.0 / max(int((right & excitatory).sum()), 1)
    arrays["readout_weights"][left & excitatory, 1] = 1.0 / max(int((left & excitatory).sum()), 1)
    arrays["readout_bias"][:] = -2.0
    arrays["resting_potential"][:] = -0.03
    return BioRNN.from_arrays(ModelConfig(), layout, dt, arrays)


def make_choice_session(n_trials: int = 60, n_time: int = 150, dt: float = 0.002, units_per_area=(8, 2),
                        traces: bool = True, light_fraction: float = 0.0, seed: int = 0) -> Session:
    """A two-choice :class:`Session` of :func:`choice_teacher`; every model neuron is a recorded unit.

    Trials alternate "lick left" and "lick right"; the instruction pulse (height 1, 10 ms) starts at a quarter of
    the trial, which is the alignment event, and the response window is the 100 ms after it. Each trial's choice
    is drawn from the first-bout rule (:mod:`nwb_biornn.model.choice`, one lick per bout) of the simulated
    lick rates. With ``traces`` the per-port lick rates are the recorded behaviour; without, the session knows
    the choices only (``behaviour_name`` ``"none"``). The last ``light_fraction`` of the trials are lit with
    :data:`INACTIVATE_LEFT`.
    """
    n_e, n_i = units_per_area
    layout = NeuronLayout.hidden({area: n_e + n_i for area in AREAS}, excitatory_fraction=n_e / (n_e + n_i))
    model = choice_teacher(layout, dt, seed)
    trial_type = np.array([INPUT_NAMES[i % 2] for i in range(n_trials)])
    inputs, time = instruction_pulses(trial_type, INPUT_NAMES, n_time, dt)
    t_start = float(time[0])
    condition = np.full(n_trials, UNPERTURBED)
    condition[n_trials - int(round(light_fraction * n_trials)):] = 0
    light = torch.zeros(n_trials, n_time, layout.n_neurons)
    light[condition == 0] = light_current(INACTIVATE_LEFT, layout, time)
    with torch.no_grad():
        simulation = model.simulate(torch.as_tensor(inputs), light, seed=seed)
    behaviour = simulation.behaviour.numpy().astype(np.float32)
    window = (0.0, 0.1)
    in_window = (time + dt / 2 >= window[0]) & (time + dt / 2 < window[1])
    probabilities = first_bout_probabilities(torch.as_tensor(behaviour[:, in_window], dtype=torch.float64), dt)
    rng = np.random.default_rng(seed)
    outcomes = np.array([*CHOICE_PORTS, "none"])
    choice = np.array([rng.choice(outcomes, p=p / p.sum()) for p in probabilities.numpy()])
    return Session(
        spikes=simulation.spikes.numpy().astype(np.uint8), dt=dt, t_start=t_start, align_event="sample",
        unit_ids=np.arange(layout.n_neurons), unit_area=layout.area.copy(), unit_cell_type=layout.cell_type.copy(),
        trial_ids=np.arange(n_trials), trial_type=trial_type, inputs=inputs, input_names=INPUT_NAMES,
        behaviour=behaviour if traces else np.zeros_like(behaviour), behaviour_name="lick_rate" if traces else "none",
        ports=CHOICE_PORTS, choice=choice, response_window=window, condition=condition,
        conditions=(INACTIVATE_LEFT,) if light_fraction else (), excluded=np.array([""] * n_trials),
        subject={"subject_id": "m1", "species": "Mus musculus", "sex": "U", "age": "P90D", "date_of_birth": None},
        session_id="choice-0", identifier="synthetic-choice-0", session_description="synthetic two-choice session",
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc), source=Source(path="memory"))
