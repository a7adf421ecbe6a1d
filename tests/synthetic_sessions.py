"""Shared helpers: small synthetic sessions simulated by a known two-area BioRNN, built in memory (no NWB).

Import them in a test module with ``from synthetic_sessions import make_session, teacher_model``.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import torch

from nwb_biornn.core.config import ModelConfig
from nwb_biornn.core.session import LICK_PORTS, NO_RESPONSE, UNPERTURBED, Session, Source
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.light import light_current
from nwb_biornn.model.network import BioRNN

INPUT_NAMES = ("go", "nogo")


def teacher_model(layout: NeuronLayout, dt: float = 0.002, seed: int = 0) -> BioRNN:
    """A bioRNN in which the go pulse drives area ``layout.areas[0]``, which drives the next area, which drives
    the behaviour readout (the other areas only receive noise)."""
    model = BioRNN(ModelConfig(), layout, len(INPUT_NAMES), dt, seed=seed)
    arrays = model.to_arrays()
    first, second = (layout.area == layout.areas[0]), (layout.area == layout.areas[min(1, len(layout.areas) - 1)])
    excitatory = layout.excitatory
    arrays["input_weights"][:] = 0
    arrays["input_weights"][first & excitatory, 0] = 0.6
    arrays["input_weights"][first, 1] = 0.15
    feedforward = np.outer(second, first & excitatory) * arrays["connectivity_mask"]
    arrays["recurrent_weights"] += feedforward * (4.0 / max(int((first & excitatory).sum()), 1))
    arrays["readout_weights"][:] = np.where(second & excitatory, 0.3 / max(int((second & excitatory).sum()), 1),
                                            0)[:, None]
    arrays["readout_bias"] = np.float32(-3.0)
    arrays["resting_potential"][:] = -0.03
    return BioRNN.from_arrays(ModelConfig(), layout, dt, arrays)


def instruction_pulses(trial_type: np.ndarray, names, n_time: int, dt: float):
    """One pulse channel per name (height 1, 10 ms) at a quarter of the trial on the trials of that type.

    Returns the inputs, shape (trials, n_time, len(names)), and the bin times from the pulse onset, shape (n_time,).
    """
    inputs = np.zeros((len(trial_type), n_time, len(names)), np.float32)
    onset, width = n_time // 4, max(1, round(0.010 / dt))
    for channel, name in enumerate(names):
        inputs[trial_type == name, onset:onset + width, channel] = 1.0
    return inputs, dt * (np.arange(n_time) - onset)


def make_session(n_trials: int = 40, n_time: int = 150, dt: float = 0.002, areas=("A", "B"),
                 units_per_area=(8, 2), model: BioRNN | None = None, seed: int = 0,
                 conditions: tuple = (), light_fraction: float = 0.0, session_id: str = "ses-0") -> Session:
    """A :class:`Session` whose spikes and behaviour are simulated by ``model`` (default :func:`teacher_model`).

    Every model neuron is a recorded unit (``units_per_area`` = (E, I) per area). Trials alternate "go" and
    "nogo"; the go or nogo pulse (height 1, 10 ms) starts at a quarter of the trial. The last
    ``light_fraction`` of the trials are lit with ``conditions`` in turn.
    """
    n_e, n_i = units_per_area
    layout = NeuronLayout.hidden({area: n_e + n_i for area in areas}, excitatory_fraction=n_e / (n_e + n_i))
    model = model if model is not None else teacher_model(layout, dt, seed)
    trial_type = np.array(["go", "nogo"] * (n_trials // 2) + ["go"] * (n_trials % 2))
    inputs, time = instruction_pulses(trial_type, INPUT_NAMES, n_time, dt)
    t_start = float(time[0])
    condition = np.full(n_trials, UNPERTURBED)
    n_lit = int(round(light_fraction * n_trials)) if conditions else 0
    condition[n_trials - n_lit:] = np.arange(n_lit) % max(len(conditions), 1)
    light = torch.zeros(n_trials, n_time, layout.n_neurons)
    for index, cond in enumerate(conditions):
        light[condition == index] = light_current(cond, layout, time)
    with torch.no_grad():
        simulation = model.simulate(torch.as_tensor(inputs), light if n_lit else None, seed=seed)
    behaviour = simulation.behaviour.numpy().astype(np.float32)
    window = (0.0, 0.1)
    in_window = (time >= window[0]) & (time < window[1])
    expected_licks = behaviour[:, in_window, 0].sum(1) * dt
    responded = np.random.default_rng(seed).random(n_trials) < -np.expm1(-expected_licks)
    return Session(
        spikes=simulation.spikes.numpy().astype(np.uint8), dt=dt, t_start=t_start, align_event="stimulus",
        unit_ids=np.arange(layout.n_neurons), unit_area=layout.area.copy(), unit_cell_type=layout.cell_type.copy(),
        trial_ids=np.arange(n_trials), trial_type=trial_type, inputs=inputs, input_names=INPUT_NAMES,
        behaviour=behaviour, behaviour_name="lick_rate", ports=LICK_PORTS,
        choice=np.where(responded, LICK_PORTS[0], NO_RESPONSE),
        response_window=window, condition=condition, conditions=tuple(conditions),
        excluded=np.array([""] * n_trials), subject={"subject_id": "m0", "species": "Mus musculus", "sex": "U",
                                                    "age": "P90D", "date_of_birth": None},
        session_id=session_id, identifier=f"synthetic-{session_id}", session_description="synthetic test session",
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc), source=Source(path="memory"))
