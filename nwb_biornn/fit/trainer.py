"""Fitting a :class:`~nwb_biornn.model.network.BioRNN` to sessions (method.md §3.2-3.5).

Every step simulates a batch of trials whose task inputs are drawn from the training trials of all sessions,
computes per session the trial-matching, PSTH and baseline-rate losses on the neurons mapped to that session
(the features include the behaviour traces of each port when licks were recorded; a session whose behaviour is
known only from trial labels has the choice loss instead, :func:`~nwb_biornn.fit.losses.choice_loss`),
balances their gradients (:class:`~nwb_biornn.fit.losses.GradientNormalizer`), takes an AdamW step with
gradient clipping and applies the network's constraints. Test trials are scored every ``eval_every`` steps.

Output folder: ``checkpoints/last.pt`` and ``checkpoints/best.pt`` (written atomically, loadable with
``torch.load(weights_only=True)``) and ``metrics.jsonl`` (one JSON object per step).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nwb_biornn.core.config import FitConfig, ModelConfig, to_dict
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.files import atomic_path
from nwb_biornn.core.session import UNPERTURBED
from nwb_biornn.core.split import Split
from nwb_biornn.fit import losses, summaries
from nwb_biornn.model.choice import first_bout_probabilities
from nwb_biornn.model.layout import NeuronLayout, layout_for_sessions
from nwb_biornn.model.light import light_current
from nwb_biornn.model.memory import reuse_freed_memory
from nwb_biornn.model.network import BioRNN
from nwb_biornn.model.threads import single_thread_if_small

TASKS = ("trial", "psth", "rate", "choice")
MAX_RECOVERIES = 5
"""Consecutive non-finite steps (each followed by a reload and a halved learning rate) before giving up."""


@dataclass
class FitResult:
    """A fitted network and how it was fitted.

    ``model`` holds the parameters with the lowest test loss when test trials were scored, else the last ones.
    ``history`` has one entry per step: ``step``, ``lr``, ``trial``, ``psth``, ``rate``, ``behaviour`` (z-scored
    PSTH error of the behaviour traces) or ``choice`` (for sessions known from trial labels only), ``total`` and,
    on evaluation steps, ``test_total``.
    """

    model: BioRNN
    layout: NeuronLayout
    model_config: ModelConfig
    fit_config: FitConfig
    splits: list
    history: list
    steps: int


def split_trials(session, test_fraction: float, seed: int, train_on_perturbed: bool = False) -> np.ndarray:
    """Label every trial with its :class:`~nwb_biornn.core.split.Split` (as a ``str`` array).

    Usable light-off trials (and light trials if ``train_on_perturbed``) are split into train and test, per
    trial type, with ``round(test_fraction * n)`` test trials of each type (at least one train trial kept).

    Examples
    --------
    >>> split_trials(session, 0.25, seed=0)  # doctest: +SKIP
    array(['train', 'test', 'perturbation', 'excluded', ...], dtype='<U12')
    """
    labels = np.full(session.n_trials, Split.TRAIN.value, dtype="<U12")
    labels[~session.usable] = Split.EXCLUDED
    if not train_on_perturbed:
        labels[session.usable & (session.condition != UNPERTURBED)] = Split.PERTURBATION
    rng = np.random.default_rng(seed)
    candidates = labels == Split.TRAIN
    for trial_type in sorted(set(session.trial_type[candidates].tolist())):
        trials = np.flatnonzero(candidates & (session.trial_type == trial_type))
        n_test = min(round(test_fraction * len(trials)), len(trials) - 1)
        labels[rng.permutation(trials)[:n_test]] = Split.TEST
    return labels


def fit(sessions, model_config: ModelConfig, fit_config: FitConfig, out_dir=None, resume: bool = False,
        device: str = "cpu", progress=None) -> FitResult:
    """Fit one network to ``sessions`` (which must share the time grid and input channels).

    Runs are reproducible on the CPU for a given ``fit_config.seed``: every step's trial draws and simulation
    seed are functions of (seed, step), which is also what lets a resumed fit continue exactly. A small network
    runs on one CPU thread (:func:`~nwb_biornn.model.network.single_thread_if_small`).

    Parameters
    ----------
    sessions : sequence of Session
    model_config, fit_config : ModelConfig, FitConfig
    out_dir : path, optional
        Folder for checkpoints and ``metrics.jsonl``; nothing is written without it.
    resume : bool
        Continue from ``out_dir/checkpoints/last.pt`` when it exists (same configuration required).
    device : str
        Torch device.
    progress : callable, optional
        ``progress(step, metrics)`` after every step, and once with ``{"resumed": True}`` when resuming.

    Raises
    ------
    UserError
        If the sessions are incompatible, have no training trials, the checkpoint does not match, or the fit
        keeps diverging.
    """
    trainer = build_trainer(sessions, model_config, fit_config, out_dir, device)
    if out_dir is not None and not resume:
        for name in ("last", "best"):
            (Path(out_dir) / "checkpoints" / f"{name}.pt").unlink(missing_ok=True)
    with single_thread_if_small(trainer.model, fit_config.batch_size):
        if resume:
            trainer.resume(progress)
        trainer.run(progress)
    return FitResult(model=trainer.result_model(), layout=trainer.model.layout, model_config=model_config,
                     fit_config=fit_config, splits=trainer.splits, history=trainer.history, steps=trainer.step)


def build_trainer(sessions, model_config: ModelConfig, fit_config: FitConfig, out_dir=None,
                  device: str = "cpu") -> "Trainer":
    """The :class:`Trainer` that :func:`fit` runs: a fresh network, the trial splits and the objective.

    Call :meth:`Trainer.train_step` to take one training step (what ``nwb-biornn bench`` times).
    """
    sessions = list(sessions)
    _check_compatible(sessions)
    layout = layout_for_sessions(sessions, model_config.hidden_per_area, model_config.excitatory_fraction,
                                 model_config.hidden_areas, model_config.hidden_area_neurons)
    splits = [split_trials(s, fit_config.test_fraction, fit_config.seed, fit_config.train_on_perturbed)
              for s in sessions]
    model = BioRNN(model_config, layout, sessions[0].inputs.shape[2], sessions[0].dt, seed=fit_config.seed,
                   n_ports=len(sessions[0].ports)).to(device)
    objective = _Objective(sessions, splits, layout, fit_config, device)
    return Trainer(model, objective, splits, model_config, fit_config, out_dir)


def evaluate_losses(model: BioRNN, sessions, splits, fit_config: FitConfig, split: Split = Split.TEST) -> dict:
    """Loss terms (``trial``, ``psth``, ``rate``, ``choice``, ``behaviour``) and weighted ``total`` of ``model`` on a
    split.

    Uses up to ``fit_config.batch_size`` simulated trials with inputs drawn from the split's trials and the same
    fixed seed as the evaluation during :func:`fit`, so two models are compared on the same draws.
    """
    if not any(np.any(split_ == split) for split_ in splits):
        raise UserError(f"no {split} trials to evaluate on")
    objective = _Objective(list(sessions), splits, model.layout, fit_config, model.weight.device)
    return objective.score(model, split, fit_config.batch_size)


def _check_compatible(sessions):
    if not sessions:
        raise UserError("no sessions to fit")
    first = sessions[0]
    for s in sessions[1:]:
        same_grid = math.isclose(s.dt, first.dt) and s.n_time == first.n_time
        if not same_grid or tuple(s.input_names) != tuple(first.input_names) or s.ports != first.ports:
            raise UserError(f"session {s.session_id!r} has a different time grid, input channels or response ports "
                            f"than {first.session_id!r}; fit sessions with the same task and binning together")


def _session_neurons(layout: NeuronLayout, index: int):
    """The model neurons of session ``index`` in model order, their units, and their groups (one per area, as
    positions in that order)."""
    neurons, units = layout.neurons_of(index)
    order = np.argsort(neurons)  # in model order the losses can take a view of the model's spikes
    neurons, units = neurons[order], units[order]
    unit_area = layout.area[neurons]
    return neurons, units, [np.flatnonzero(unit_area == area) for area in layout.areas if np.any(unit_area == area)]


class _SessionData:
    """The recorded side of one session's losses, precomputed on the device.

    ``traces`` says whether the session's behaviour traces were recorded (they are then features of the losses);
    ``choices`` holds the recorded choice distributions of the choice loss when they were not.
    """

    def __init__(self, session, trials: np.ndarray, layout: NeuronLayout, index: int, widths, baseline_bins, device,
                 session_neurons: tuple):
        self.index = index
        neurons, units, groups = session_neurons
        every = np.array_equal(neurons, np.arange(layout.n_neurons))
        self.columns = None if every else losses.columns_of(neurons, device)
        spikes = torch.as_tensor(session.spikes[trials][..., units], dtype=torch.float32, device=device)
        self.traces = session.behaviour_name != "none"
        behaviour = torch.as_tensor(session.behaviour[trials], dtype=torch.float32, device=device)
        self.n_ports, self.response_bins = len(session.ports), session.response_bins
        self.psth = losses.psth(torch.cat([spikes, behaviour], -1) if self.traces else spikes, widths[0])
        self.features = losses.population_features(spikes, behaviour if self.traces else None, groups, widths)
        self.rates = losses.baseline_rates(spikes.mean(0), session.dt, baseline_bins)
        self.trial_type = session.trial_type[trials]
        self.choices = ({} if self.traces else
                        losses.choice_distributions(session.choice[trials], self.trial_type, session.ports))


class _Objective:
    """Batches of model inputs and the per-session losses of a simulation."""

    def __init__(self, sessions, splits, layout, config: FitConfig, device):
        self.sessions, self.layout, self.config, self.device = sessions, layout, config, device
        self.dt = sessions[0].dt
        self.widths = losses.filter_widths(config.psth_filter, config.pop_avg_resample, self.dt)
        self.baseline_bins = max(1, round(config.baseline_window / self.dt))
        self.weights = {task: float(config.loss_weights.get(task, 0.0)) for task in TASKS}
        if config.trial_matching == "none":
            self.weights["trial"] = 0.0
        if config.baseline_window == 0:
            self.weights["rate"] = 0.0
        self.train = [(s, t) for s, split in enumerate(splits) for t in np.flatnonzero(split == Split.TRAIN)]
        self.test = [(s, t) for s, split in enumerate(splits) for t in np.flatnonzero(split == Split.TEST)]
        if not self.train:
            raise UserError("no usable unperturbed trials to fit; check the trials table and exclusions")
        per_session = [_session_neurons(layout, i) for i in range(len(sessions))]
        self.data = {name: [_SessionData(session, trials, layout, i, self.widths, self.baseline_bins, device,
                                         per_session[i])
                            for i, session in enumerate(sessions)
                            if len(trials := np.array([t for s, t in pool if s == i], dtype=np.int64))]
                     for name, pool in ((Split.TRAIN, self.train), (Split.TEST, self.test)) if pool}
        if not any(data.choices for data in self.data[Split.TRAIN]):
            self.weights["choice"] = 0.0
        self.tasks = [task for task in TASKS if self.weights[task] > 0]
        if not self.tasks:
            raise UserError("every loss weight is zero; set a positive fit.loss_weights entry")
        groups, self.group_columns = [], []
        for neurons, _, session_groups in per_session:
            self.group_columns.append(slice(len(groups), len(groups) + len(session_groups)))
            groups += [neurons[group] for group in session_groups]
        self.averaging = summaries.group_averaging(groups, layout.n_neurons, device)
        self._lights = {}

    def outputs(self, model: BioRNN, inputs: torch.Tensor, light: torch.Tensor | None, seed: int) -> tuple:
        """Simulate ``model`` and return what the losses read: group rates (K, T, G), neuron means (T, N) and
        behaviour (K, T, P) (:meth:`BioRNN.simulate` with this objective's ``averaging``)."""
        simulation = model.simulate(inputs, light, seed=seed, averaging=self.averaging)
        return simulation.group_rates, simulation.neuron_mean, simulation.behaviour

    def output_metric(self, n_trials: int) -> tuple:
        """The :meth:`GradientNormalizer.split` metric of :meth:`outputs`: norms as on the spikes themselves."""
        return (*summaries.summary_metric(self.averaging, n_trials), 1.0)

    def batch(self, pool: list, rng: np.random.Generator, size: int):
        """Inputs (K, T, n_in), light (K, T, N) or None, and trial types (K,) of ``size`` trials drawn from ``pool``."""
        chosen = rng.choice(len(pool), size, replace=size > len(pool))
        trials = [pool[i] for i in chosen]
        inputs = np.stack([self.sessions[s].inputs[t] for s, t in trials])
        lights = [(s, self.sessions[s].trial_light(t)) for s, t in trials]
        light = None
        if any(c is not None for _, c in lights):
            light = torch.stack([self._light(s, c) for s, c in lights]).to(self.device)
        trial_type = np.array([self.sessions[s].trial_type[t] for s, t in trials])
        return torch.as_tensor(inputs, dtype=torch.float32, device=self.device), light, trial_type

    def _light(self, session_index: int, condition):
        """The light current (T, N) of a trial's own light (a Condition with the trial's window, or None)."""
        if (session_index, condition) not in self._lights:
            session = self.sessions[session_index]
            self._lights[session_index, condition] = (
                torch.zeros(session.n_time, self.layout.n_neurons) if condition is None
                else light_current(condition, self.layout, session.time))
        return self._lights[session_index, condition]

    @torch.no_grad()
    def score(self, model: BioRNN, split: str, size: int) -> dict:
        """Loss terms and their weighted ``total`` on up to ``size`` trials of ``split``, with fixed draws."""
        pool = self.train if split == Split.TRAIN else self.test
        rng = np.random.default_rng([self.config.seed, 0])
        inputs, light, trial_type = self.batch(pool, rng, min(size, len(pool)))
        output = self.outputs(model, inputs, light, _seed(self.config.seed, -1))
        copies = {t: output for t in self.tasks}
        terms = {name: float(value) for name, value in self.losses(copies, trial_type, split, rng).items()}
        terms["total"] = sum(self.weights[task] * terms[task] for task in self.tasks if task in terms)
        return terms

    def losses(self, copies: dict, trial_type: np.ndarray, split: str, rng: np.random.Generator) -> dict:
        """Loss terms averaged over sessions.

        ``copies`` maps each task to the :meth:`outputs` of a simulation of trials of types ``trial_type``; the
        trial-matching loss pairs simulated and recorded trials of the same type only, so it leaves out a session
        none of whose trial types the batch drew (sessions may name their trial types differently; at least the
        session of each drawn trial shares its type).
        """
        terms = {task: [] for task in TASKS + ("behaviour",)}
        for data in self.data[split]:
            for task, (group_rates, neuron_mean, behaviour) in copies.items():
                if data.columns is not None:
                    neuron_mean = neuron_mean[:, data.columns]
                traces = behaviour if data.traces else None
                if task == "trial":
                    if not np.isin(data.trial_type, trial_type).any():
                        continue
                    rates = group_rates[..., self.group_columns[data.index]]
                    model_z, data_z = losses.zscore_features(losses.group_features(rates, traces, self.widths),
                                                             data.features)
                    terms[task].append(losses.trial_matching_loss(model_z, data_z, self.config.trial_matching, rng,
                                                                  trial_type, data.trial_type))
                elif task == "psth":
                    means = neuron_mean if traces is None else torch.cat([neuron_mean, traces.mean(0)], -1)
                    model_psth = losses.psth(means[None], self.widths[0])
                    terms[task].append(losses.psth_loss(model_psth, data.psth))
                    if traces is not None:
                        with torch.no_grad():
                            ports = slice(-data.n_ports, None)
                            terms["behaviour"].append(losses.psth_loss(model_psth[..., ports], data.psth[..., ports]))
                elif task == "choice":
                    if data.choices:
                        probabilities = first_bout_probabilities(behaviour[:, data.response_bins], self.dt)
                        value = losses.choice_loss(probabilities, trial_type, data.choices)
                        if value is not None:
                            terms[task].append(value)
                else:
                    terms[task].append(losses.rate_loss(neuron_mean, data.rates, self.dt, self.baseline_bins))
        return {task: torch.stack(values).mean() for task, values in terms.items() if values}


class Trainer:
    """The training loop of :func:`fit`: steps, evaluation, checkpoints, resume and NaN recovery."""

    def __init__(self, model: BioRNN, objective: _Objective, splits: list, model_config, fit_config: FitConfig,
                 out_dir):
        self.model, self.objective, self.splits, self.config = model, objective, splits, fit_config
        self.model_config, self.tasks = model_config, objective.tasks
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=fit_config.lr, weight_decay=fit_config.weight_decay)
        self.normalizer = (losses.GradientNormalizer({t: objective.weights[t] for t in self.tasks})
                           if fit_config.normalize_gradients else None)
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.step, self.history = 0, []
        self.best, self.since_best, self.best_state = math.inf, 0, None
        self.good = self._state()

    # -- the loop ----------------------------------------------------------------------------------------
    def run(self, progress):
        full_size = max(s.n_time for s in self.objective.sessions) * self.config.batch_size * self.model.n_neurons
        with reuse_freed_memory(full_size):
            self._run(progress)

    def _run(self, progress):
        config, last_save, recoveries = self.config, time.monotonic(), 0
        if self.out_dir is not None:
            self._rewrite_metrics()
        while self.step < config.steps:
            metrics = self.train_step()
            if metrics is None:
                recoveries += 1
                if recoveries > MAX_RECOVERIES:
                    raise UserError(f"the fit diverged (non-finite loss) {MAX_RECOVERIES} times in a row; "
                                    "lower fit.lr or fit.clip_grad")
                self._restore(self.good)
                if self.out_dir is not None:
                    self._rewrite_metrics()
                for group in self.optimizer.param_groups:
                    group["lr"] /= 2
                continue
            recoveries = 0
            self.step += 1
            if self.objective.test and (self.step % config.eval_every == 0 or self.step == config.steps):
                metrics["test_total"] = self._evaluate()
                if metrics["test_total"] < self.best:
                    self.best, self.since_best, self.best_state = metrics["test_total"], 0, self._state()
                    self._save("best")
                else:
                    self.since_best += config.eval_every
            self.history.append(metrics)
            self._log(metrics)
            due = self.step % config.checkpoint_every == 0 or time.monotonic() - last_save >= config.checkpoint_seconds
            if due or self.step == config.steps:
                self.good = self._state()
                self._save("last")
                last_save = time.monotonic()
            if progress is not None:
                progress(self.step, metrics)
            if config.early_stop and self.since_best >= config.early_stop:
                self.good = self._state()
                self._save("last")
                break

    def train_step(self) -> dict | None:
        """One training step (batch, simulation, losses, backward, AdamW, constraints) at ``self.step``.

        Returns the step's metrics, or None if the loss or the updated parameters are not finite. Does not
        advance ``self.step``.
        """
        rng = np.random.default_rng([self.config.seed, self.step + 1])
        inputs, light, trial_type = self.objective.batch(self.objective.train, rng, self.config.batch_size)
        output = self.objective.outputs(self.model, inputs, light, _seed(self.config.seed, self.step))
        if self.normalizer:
            copies = self.normalizer.split(*output, metric=self.objective.output_metric(len(inputs)),
                                           n_trials=len(inputs))
        else:
            copies = {task: output for task in self.tasks}
        terms = self.objective.losses(copies, trial_type, Split.TRAIN, rng)
        weights = self.objective.weights
        total = sum(weights[task] * terms[task] for task in self.tasks if task in terms)
        if not torch.isfinite(total):
            return None
        self.optimizer.zero_grad(set_to_none=True)
        (sum(terms[task] for task in self.tasks if task in terms) if self.normalizer else total).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
        before = self.model.snapshot()
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.model.constrain_(before, lr)
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            return None
        metrics = {"step": self.step + 1, "lr": lr, "total": float(total.detach())}
        metrics.update({task: float(terms[task].detach()) for task in TASKS + ("behaviour",) if task in terms})
        return metrics

    def _evaluate(self) -> float:
        return self.objective.score(self.model, Split.TEST, self.config.batch_size)["total"]

    def result_model(self) -> BioRNN:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state["model"])
        return self.model

    # -- state and files ---------------------------------------------------------------------------------
    def _state(self) -> dict:
        """Everything needed to continue, as tensors and plain containers (``torch.load(weights_only=True)``)."""
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": _clone(self.optimizer.state_dict()),
            "normalizer": self.normalizer.state_dict() if self.normalizer else {},
            "step": self.step, "best": self.best, "since_best": self.since_best,
            "history": [dict(h) for h in self.history],
            "model_config": to_dict(self.model_config), "fit_config": to_dict(self.config),
        }

    def _restore(self, state: dict):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(_clone(state["optimizer"]))
        if self.normalizer:
            self.normalizer.load_state_dict(state["normalizer"])
        self.step, self.best, self.since_best = state["step"], state["best"], state["since_best"]
        self.history = [dict(h) for h in state["history"]]

    def resume(self, progress):
        path = None if self.out_dir is None else self.out_dir / "checkpoints" / "last.pt"
        if path is None or not path.exists():
            return
        state = torch.load(path, weights_only=True, map_location=self.model.weight.device)
        fixed = {k: v for k, v in to_dict(self.config).items() if k not in ("steps", "early_stop")}
        stored = {k: v for k, v in state["fit_config"].items() if k not in ("steps", "early_stop")}
        if state["model_config"] != to_dict(self.model_config) or stored != fixed:
            raise UserError(f"the checkpoint {path} was written with another configuration; "
                            "fit again without --resume or with the original configuration")
        if state["model"]["weight"].shape != self.model.weight.shape:
            raise UserError(f"the checkpoint {path} has another number of neurons; fit again without --resume")
        self._restore(state)
        best = self.out_dir / "checkpoints" / "best.pt"
        if best.exists():
            self.best_state = torch.load(best, weights_only=True, map_location=self.model.weight.device)
        self.good = state
        if progress is not None:
            progress(self.step, {"resumed": True})

    def _save(self, name: str):
        if self.out_dir is None:
            return
        with atomic_path(self.out_dir / "checkpoints" / f"{name}.pt") as tmp:
            torch.save(self.best_state if name == "best" else self._state(), tmp)

    def _log(self, metrics: dict):
        if self.out_dir is not None:
            with open(self.out_dir / "metrics.jsonl", "a") as stream:
                stream.write(json.dumps(metrics) + "\n")

    def _rewrite_metrics(self):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "metrics.jsonl", "w") as stream:
            stream.writelines(json.dumps(h) + "\n" for h in self.history)


def _seed(seed: int, step: int) -> int:
    """Simulation seed of a training step (``step = -1`` for evaluation)."""
    return int(np.random.default_rng([seed, step + 1, 7]).integers(2**62))


def _clone(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value
