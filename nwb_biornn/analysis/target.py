"""Gradient-targeted micro-stimulation (method.md §5): which recorded neurons to stimulate to move behaviour.

The objective ``Y`` of a trial (:data:`OBJECTIVES`) is read from the behaviour readout in the session's response
window: the expected number of licks there (``behaviour``), or, in a two-choice task, the probability that the
first lick is on the right (``lick_right``) or at the instructed port (``correct``), by the choice rule of
:mod:`nwb_biornn.model.choice` with the bout size learned from the recording
(:class:`~nwb_biornn.analysis.perturb.ResponseRule`). Its gradient with respect to a
current ``I[k, t, i]`` injected into neuron ``i`` at step ``t`` of trial ``k`` flows through the surrogate
gradient of the spiking network. Stimulating a set ``S`` with a current ``power`` during the window ``W``
changes ``Y`` by, to first order::

    ΔY_k ≈ power * sum_{t in W, i in S} dY_k / dI[k, t, i]

Sets are chosen for the population, as an experimenter can apply them: neurons are ranked by their gradient
summed over the window and averaged over trials; the ``positive`` set holds the K highest, the ``negative``
set the K lowest, the ``random`` set K neurons drawn at random (the control). Only neurons fitted to a recorded
unit are targetable unless hidden neurons are asked for. Every simulation (gradient, light-off and stimulated
runs) uses the same seed, so effects are differences under common random numbers.

The sets chosen on the fitted model can also be applied to another network's neurons that stand for the same
recorded units (the transfer check of the paper's Fig. 5, method.md §5): the ground-truth circuit of a synthetic
session, or a second model fitted to the same recording (:func:`on_session_units`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from nwb_biornn.analysis.perturb import DEFAULT_TRIALS, ResponseRule, replay_trials
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import Session, instructed_ports
from nwb_biornn.model.choice import first_bout_probabilities
from nwb_biornn.model.fitted import FittedNetwork
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.network import BioRNN
from nwb_biornn.model.threads import single_thread_if_small

OBJECTIVES = {
    "behaviour": "expected licks in the response window (the readout of every port summed, times the bin width)",
    "lick_right": "P(first lick on the right) in the response window",
    "correct": "P(first lick at the instructed port) in the response window",
}
"""Objective name -> what it measures; ``lick_right`` and ``correct`` need a two-choice session."""
DEFAULT_NEURONS = 10
"""Neurons per set (the paper stimulated 20-40 of several hundred neurons; the demo records 40 units)."""
DEFAULT_POWER = 0.1
"""Stimulation current in model units (the threshold gap is 0.1), as in the paper."""
DEFAULT_WINDOW_LENGTH = 0.1
"""The default window is the last 100 ms before the response window (clipped to the session's start)."""
SET_NAMES = ("positive", "negative", "random")


@dataclass
class TargetSet:
    """One stimulated neuron set and its effect on the objective, per simulated trial.

    Attributes
    ----------
    name : str
        ``"positive"``, ``"negative"`` or ``"random"``.
    neurons : ndarray of int
        Model neurons of the set.
    predicted, simulated : ndarray, shape (trials,)
        First-order predicted and simulated change of the objective in each trial.
    objective : str
        What the effect is measured on, in words.
    onset, offset : float
        Stimulation window, seconds relative to the alignment event.
    power : float
        Stimulation current (model units).
    """

    name: str
    neurons: np.ndarray
    predicted: np.ndarray
    simulated: np.ndarray
    objective: str
    onset: float
    offset: float
    power: float

    @property
    def predicted_effect(self) -> float:
        """Mean predicted change of the objective over trials."""
        return float(np.mean(self.predicted))

    @property
    def simulated_effect(self) -> float:
        """Mean simulated change of the objective over trials."""
        return float(np.mean(self.simulated))


@dataclass
class Targeting:
    """The outcome of :func:`target`.

    Attributes
    ----------
    objective : str
    window : tuple of float
        Stimulation window (s relative to the alignment event).
    power : float
    seed : int
    baseline : ndarray, shape (trials,)
        Objective of each light-off trial.
    mean_gradient : ndarray, shape (time, neurons)
        ``dY/dI`` averaged over trials.
    sets : dict of str to TargetSet
    transfer : dict of str to TargetSet
        The same sets applied to the ground-truth circuit (``neurons`` are circuit neurons); empty without one.
    transfer_baseline : ndarray or None
        Objective of the circuit's light-off trials.
    """

    objective: str
    window: tuple
    power: float
    seed: int
    baseline: np.ndarray
    mean_gradient: np.ndarray
    sets: dict
    transfer: dict = field(default_factory=dict)
    transfer_baseline: np.ndarray | None = None


def default_window(session: Session) -> tuple[float, float]:
    """The last :data:`DEFAULT_WINDOW_LENGTH` seconds before the response window, clipped to the session start."""
    stop = float(session.response_window[0])
    start = max(stop - DEFAULT_WINDOW_LENGTH, float(session.t_start))
    if not stop > start:
        raise UserError(f"the response window starts at {stop:g} s, at the session's start; give --window START,STOP")
    return start, stop


def window_mask(time: np.ndarray, dt: float, window) -> np.ndarray:
    """Bins (by their centre) inside ``[start, stop)``.

    Examples
    --------
    >>> window_mask(np.array([0.0, 0.1, 0.2, 0.3]), 0.1, (0.1, 0.3)).tolist()
    [False, True, True, False]
    """
    centre = np.asarray(time) + dt / 2
    return (centre >= window[0]) & (centre < window[1])


def default_objective(session: Session) -> str:
    """``correct`` for a two-choice session, ``behaviour`` otherwise."""
    return "correct" if session.behaviour_kind == "choice" else "behaviour"


def objective_function(name: str, session: Session, trials: np.ndarray):
    """The objective ``name`` of the replayed ``trials`` (indices): behaviour readout (K, T, P) -> (K,).

    Raises
    ------
    UserError
        For an unknown objective, or a choice objective on a go/no-go session.
    """
    if name not in OBJECTIVES:
        raise UserError(f"unknown objective {name!r}; use one of {', '.join(OBJECTIVES)}")
    rule = ResponseRule.learn(session, session.unperturbed)
    window = slice(rule.start, rule.stop)
    if name == "behaviour":
        return lambda behaviour: behaviour[:, window].sum(dim=(1, 2)) * session.dt
    if session.behaviour_kind != "choice":
        raise UserError(f"objective {name!r} needs a two-choice session; this one is go/no-go (use behaviour)")
    if name == "lick_right":
        column = np.full(len(trials), session.ports.index("right"))
    else:
        column = instructed_ports(session.trial_type[trials], session.ports)
        if (column < 0).all():
            raise UserError("objective 'correct' needs trial types that name a port (e.g. 'lick left')")

    def probability(behaviour):
        probabilities = first_bout_probabilities(behaviour[:, window], session.dt, rule.licks_per_bout)
        index = torch.as_tensor(column, device=behaviour.device)
        picked = probabilities.gather(1, index.clamp(min=0)[:, None])[:, 0]
        return torch.where(index >= 0, picked, torch.zeros_like(picked))
    return probability


def light_gradient(model: BioRNN, inputs: torch.Tensor, objective, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial gradient of the objective with respect to a current injected into every neuron at every step.

    Parameters
    ----------
    model : BioRNN
    inputs : Tensor, shape (K, T, n_inputs)
    objective : callable
        Behaviour readout (K, T, P) -> objective per trial (K,).
    seed : int

    Returns
    -------
    value : ndarray, shape (K,)
        The objective without stimulation.
    gradient : ndarray, shape (K, T, N)
        ``dY_k / dI[k, t, i]`` (trials are simulated independently, so the gradient of the sum is per trial).
    """
    parameter = next(model.parameters())
    light = torch.zeros(*inputs.shape[:2], model.n_neurons, device=parameter.device, dtype=parameter.dtype,
                        requires_grad=True)
    with single_thread_if_small(model, len(inputs)):
        value = objective(model.simulate(inputs.to(parameter.device), light, seed=seed).behaviour)
        (gradient,) = torch.autograd.grad(value.sum(), light)
    return value.detach().cpu().numpy(), gradient.cpu().numpy()


def choose_sets(score: np.ndarray, targetable: np.ndarray, n_neurons: int, rng: np.random.Generator) -> dict:
    """The ``positive`` (highest score), ``negative`` (lowest) and ``random`` sets of ``n_neurons`` neurons.

    Examples
    --------
    >>> sets = choose_sets(np.array([3.0, -1.0, 9.0, -5.0, 0.0]), np.array([1, 1, 1, 1, 0], bool), 1,
    ...                    np.random.default_rng(0))
    >>> sets["positive"].tolist(), sets["negative"].tolist()
    ([2], [3])
    """
    candidates = np.flatnonzero(targetable)
    if n_neurons < 1 or 2 * n_neurons > len(candidates):
        raise UserError(f"--neurons must be between 1 and {len(candidates) // 2} (half of the {len(candidates)} "
                        f"targetable neurons), not {n_neurons}")
    order = candidates[np.argsort(score[candidates], kind="stable")]
    return {"positive": np.sort(order[::-1][:n_neurons]), "negative": np.sort(order[:n_neurons]),
            "random": np.sort(rng.choice(candidates, n_neurons, replace=False))}


def stimulation(n_time: int, n_neurons: int, neurons: np.ndarray, steps: np.ndarray, power: float) -> torch.Tensor:
    """Current (T, N): ``power`` into ``neurons`` during the boolean ``steps``, zero elsewhere."""
    light = torch.zeros(n_time, n_neurons)
    light[np.ix_(np.flatnonzero(steps), np.asarray(neurons, dtype=np.int64))] = power
    return light


def simulated_change(model: BioRNN, inputs: torch.Tensor, light: torch.Tensor, objective, baseline: np.ndarray,
                     seed: int) -> np.ndarray:
    """Change of the objective per trial under ``light``, against the light-off ``baseline`` of the same seed."""
    device = next(model.parameters()).device
    with torch.no_grad():
        lit = objective(model.simulate(inputs.to(device), light.to(device), seed=seed).behaviour)
    return lit.cpu().numpy() - baseline


def target(network: FittedNetwork, session: Session, *, n_neurons: int = DEFAULT_NEURONS, window=None,
           power: float = DEFAULT_POWER, n_trials: int = DEFAULT_TRIALS, seed: int = 0, objective: str | None = None,
           include_hidden: bool = False, transfer_to: FittedNetwork | None = None) -> Targeting:
    """Choose neuron sets by the gradient of the objective and measure their predicted and simulated effects.

    Parameters
    ----------
    network : FittedNetwork
        The fitted model and which of its sessions ``session`` is.
    session : Session
        Its light-off usable trials provide the task inputs (cycled to ``n_trials``) and the response window.
    n_neurons : int
        Neurons per set.
    window : (float, float), optional
        Stimulation window in seconds; default :func:`default_window`.
    power : float
        Stimulation current (model units, threshold gap 0.1).
    objective : str, optional
        A name of :data:`OBJECTIVES`; default :func:`default_objective`.
    include_hidden : bool
        Also target neurons that stand for no recorded unit.
    transfer_to : FittedNetwork, optional
        Another network whose layout maps its neurons to the session's units (session 0, unit columns of
        ``session``): the ground-truth circuit (:mod:`nwb_biornn.nwbio.ground_truth`) or a second fitted model
        (:func:`on_session_units`). The chosen sets are applied to its neurons of the same units as well.
    """
    objective = default_objective(session) if objective is None else objective
    if not power > 0:
        raise UserError(f"--power must be a positive current, not {power}")
    window = default_window(session) if window is None else (float(window[0]), float(window[1]))
    steps = window_mask(session.time, session.dt, window)
    if not steps.any():
        raise UserError(f"the window {window[0]:g}..{window[1]:g} s holds no bin of the session "
                        f"({session.t_start:g}..{session.time[-1] + session.dt:g} s)")
    control = np.flatnonzero(session.unperturbed)
    if not len(control):
        raise UserError("the session has no usable light-off trials to take task inputs from")
    replayed = replay_trials(control, n_trials)
    inputs = torch.as_tensor(session.inputs[replayed], dtype=torch.float32)
    score = objective_function(objective, session, replayed)
    described = (f"{objective}: {OBJECTIVES[objective]} "
                 f"{session.response_window[0]:g}..{session.response_window[1]:g} s")

    model, layout = network.model, network.layout
    baseline, gradient = light_gradient(model, inputs, score, seed)
    window_gradient = gradient[:, steps, :].sum(axis=1)
    targetable = np.ones(layout.n_neurons, bool) if include_hidden else layout.session == network.session_index
    chosen = choose_sets(window_gradient.mean(axis=0), targetable, n_neurons, np.random.default_rng(seed))
    sets, transfer, transfer_baseline = {}, {}, None
    if transfer_to is not None:
        with torch.no_grad():
            transfer_baseline = score(transfer_to.model.simulate(inputs, seed=seed).behaviour).numpy()
    for name, neurons in chosen.items():
        predicted = power * window_gradient[:, neurons].sum(axis=1)
        light = stimulation(session.n_time, layout.n_neurons, neurons, steps, power)
        sets[name] = TargetSet(name, neurons, predicted, simulated_change(model, inputs, light, score, baseline, seed),
                               described, window[0], window[1], power)
        if transfer_to is not None:
            matched = matching_neurons(neurons, layout, network.session_index, transfer_to.layout)
            light = stimulation(session.n_time, transfer_to.layout.n_neurons, matched, steps, power)
            transfer[name] = TargetSet(name, matched, predicted,
                                       simulated_change(transfer_to.model, inputs, light, score, transfer_baseline,
                                                        seed), described, window[0], window[1], power)
    return Targeting(objective, window, power, seed, baseline, gradient.mean(axis=0), sets, transfer,
                     transfer_baseline)


def matching_neurons(neurons: np.ndarray, layout: NeuronLayout, session_index: int,
                     other: NeuronLayout) -> np.ndarray:
    """Neurons of ``other`` (whose session 0 is ``session_index`` of ``layout``) recorded as the same units.

    Neurons without a recorded unit, or whose unit ``other`` does not have, have no match and are left out.

    Examples
    --------
    >>> a = NeuronLayout.hidden({"A": 3})
    >>> a = NeuronLayout(a.area, a.cell_type, np.array([0, 0, -1]), np.array([1, 0, -1]), a.areas)
    >>> b = NeuronLayout(a.area, a.cell_type, np.array([0, -1, 0]), np.array([0, -1, 1]), a.areas)
    >>> matching_neurons(np.array([0, 1, 2]), a, 0, b).tolist()
    [2, 0]
    """
    neuron_of_unit = {int(u): i for i, u in enumerate(other.unit) if other.session[i] == 0 and u >= 0}
    matched = [neuron_of_unit.get(int(layout.unit[n])) for n in neurons if layout.session[n] == session_index]
    return np.array([m for m in matched if m is not None], dtype=np.int64)


def on_session_units(network: FittedNetwork, own_unit_ids: np.ndarray, unit_ids: np.ndarray) -> FittedNetwork:
    """``network`` with its layout mapped onto the units of another loading of its session.

    Each neuron fitted to a unit (``own_unit_ids``: the unit ids of the columns of the session ``network`` was
    fitted to) stands, in the result, for the column of ``unit_ids`` with the same id, as session 0; neurons of
    units that ``unit_ids`` lacks, and hidden neurons, stand for nothing. This is how a second model fitted to the
    same recording receives sets chosen on the first (:func:`target`'s ``transfer_to``).

    Examples
    --------
    >>> layout = NeuronLayout.hidden({"A": 3})
    >>> layout = NeuronLayout(layout.area, layout.cell_type, np.array([1, 1, -1]), np.array([0, 1, -1]), layout.areas)
    >>> mapped = on_session_units(FittedNetwork(None, layout, 1), np.array([7, 9]), np.array([9, 8, 7]))
    >>> mapped.layout.session.tolist(), mapped.layout.unit.tolist(), mapped.session_index
    ([0, 0, -1], [2, 0, -1], 0)
    """
    layout = network.layout
    column_of_id = {int(u): column for column, u in enumerate(np.asarray(unit_ids).tolist())}
    session_of = np.full(layout.n_neurons, -1, dtype=np.int64)
    unit_of = np.full(layout.n_neurons, -1, dtype=np.int64)
    for neuron in np.flatnonzero(layout.session == network.session_index):
        column = column_of_id.get(int(own_unit_ids[layout.unit[neuron]]))
        if column is not None:
            session_of[neuron], unit_of[neuron] = 0, column
    return FittedNetwork(network.model, dataclasses.replace(layout, session=session_of, unit=unit_of), 0)


def gradient_map(mean_gradient: np.ndarray, layout: NeuronLayout) -> tuple[list, np.ndarray]:
    """Mean gradient per neuron of each area × cell type group, per step.

    Returns
    -------
    groups : list of str
        ``"AREA-E"`` / ``"AREA-I"`` labels of the non-empty groups.
    values : ndarray, shape (groups, time)
    """
    groups, rows = [], []
    for area in layout.areas:
        for cell_type in ("E", "I"):
            members = (layout.area == area) & (layout.cell_type == cell_type)
            if members.any():
                groups.append(f"{area}-{cell_type}")
                rows.append(mean_gradient[:, members].mean(axis=1))
    return groups, np.array(rows)


def _set_entry(target_set: TargetSet, layout: NeuronLayout, session_index: int, unit_ids: np.ndarray) -> dict:
    mapped = layout.session[target_set.neurons] == session_index
    units = [int(unit_ids[layout.unit[n]]) if m else None for n, m in zip(target_set.neurons, mapped)]
    n = len(target_set.simulated)
    return {
        "neurons": {"model_ids": target_set.neurons.tolist(), "areas": layout.area[target_set.neurons].tolist(),
                    "cell_types": layout.cell_type[target_set.neurons].tolist(), "unit_ids": units},
        "predicted": target_set.predicted_effect, "predicted_std": float(np.std(target_set.predicted)),
        "simulated": target_set.simulated_effect, "simulated_std": float(np.std(target_set.simulated)),
        "simulated_sem": float(np.std(target_set.simulated, ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
    }


def targeting_document(targeting: Targeting, network: FittedNetwork, session: Session,
                       transfer_to: FittedNetwork | None = None, transfer_name: str = "ground-truth circuit") -> dict:
    """The JSON document of ``nwb-biornn target``.

    Keys: ``objective``, ``objective_description``, ``window``, ``power``, ``n_trials``, ``seed``, ``baseline``
    (mean objective without stimulation), ``sets`` and, with a network to transfer to, ``transfer_to`` (its
    name), ``transfer`` and ``transfer_baseline``. ``sets`` and ``transfer`` map ``positive``/``negative``/
    ``random`` to ``neurons`` (``model_ids``, ``areas``, ``cell_types``, ``unit_ids``; the other network's
    neurons under ``transfer``), ``predicted``
    and ``simulated`` (mean change of the objective over trials; ``transfer`` repeats the fitted model's
    prediction) with ``predicted_std``, ``simulated_std`` (over trials) and ``simulated_sem``.
    ``gradient_map`` holds the mean gradient per neuron of each area × cell type group per step.
    """
    layout = network.layout
    groups, values = gradient_map(targeting.mean_gradient, layout)
    document = {
        "objective": targeting.objective, "objective_description": next(iter(targeting.sets.values())).objective,
        "window": list(targeting.window), "power": targeting.power,
        "n_trials": len(targeting.baseline), "seed": targeting.seed,
        "baseline": float(np.mean(targeting.baseline)),
        "sets": {name: _set_entry(s, layout, network.session_index, session.unit_ids)
                 for name, s in targeting.sets.items()},
        "gradient_map": {"groups": groups, "time": session.time.tolist(), "mean_gradient": values.tolist()},
    }
    if targeting.transfer:
        document["transfer_to"] = transfer_name
        document["transfer"] = {name: _set_entry(s, transfer_to.layout, 0, session.unit_ids)
                                for name, s in targeting.transfer.items()}
        document["transfer_baseline"] = float(np.mean(targeting.transfer_baseline))
    return document


def stored_sets(targeting: Targeting, transfer_name: str = "ground-truth circuit") -> list:
    """The sets to store in a model file: the fitted model's, then (same neurons) their effect on the network
    they were transferred to."""
    stored = list(targeting.sets.values())
    for name, transferred in targeting.transfer.items():
        own = targeting.sets[name]
        stored.append(TargetSet(f"{name} ({transfer_name})", own.neurons, own.predicted, transferred.simulated,
                                own.objective, own.onset, own.offset, own.power))
    return stored
