"""Plots (PNG files): what people would rather look at than read.

Each plot is a :class:`matplotlib.figure.Figure` made without pyplot, so a library user's matplotlib backend and
open figures are left alone.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from nwb_biornn.analysis.compare import SCORES
from nwb_biornn.analysis.evaluate import area_groups, area_rate_psth, psth_time
from nwb_biornn.analysis.target import Targeting, gradient_map
from nwb_biornn.fit import losses
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.render.text import behaviour_measure


def _save(fig: Figure, path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)


def plot_behaviour_changes(predictions: list, path: Path, kind: str = "lick") -> Path:
    """Scatter of predicted against recorded change in P(lick) or P(correct) (``kind`` ``"choice"``), one point
    per condition; for a two-choice session a second panel has one point per condition and trial type."""
    scored = [p for p in predictions if p.n_heldout_trials]
    measure = behaviour_measure(kind)
    fig = Figure(figsize=(9, 4.5) if kind == "choice" else (4.5, 4.5))
    axes = fig.subplots(1, 2 if kind == "choice" else 1, squeeze=False)[0]
    _diagonal(axes[0])
    axes[0].scatter([p.recorded_delta_behaviour for p in scored], [p.predicted_delta_behaviour for p in scored],
                    c=["tab:blue" if p.condition.cell_type == "I" else "tab:red" for p in scored],
                    s=[12 + 3 * p.n_heldout_trials for p in scored], alpha=0.8)
    for p in scored:
        axes[0].annotate(p.condition.label, (p.recorded_delta_behaviour, p.predicted_delta_behaviour), fontsize=6,
                         alpha=0.7)
    axes[0].set(xlabel=f"recorded Δ{measure}", ylabel=f"predicted Δ{measure}",
                title="held-out perturbations (blue: I, red: E)")
    if kind == "choice":
        _diagonal(axes[1])
        types = sorted({t for p in scored for t in p.delta_by_trial_type})
        for marker, trial_type in zip("o^sDv", types):
            deltas = [p.delta_by_trial_type[trial_type] for p in scored if trial_type in p.delta_by_trial_type]
            axes[1].scatter([d["recorded"] for d in deltas], [d["predicted"] for d in deltas], marker=marker,
                            alpha=0.8, label=trial_type)
        axes[1].legend(fontsize=7, frameon=False)
        axes[1].set(xlabel=f"recorded Δ{measure}", ylabel=f"predicted Δ{measure}", title="per trial type")
    return _save(fig, path)


def _diagonal(ax) -> None:
    """Identity line and zero axes on a recorded-vs-predicted panel of changes in probability."""
    ax.axline((0, 0), slope=1, color="0.7", lw=1)
    ax.axhline(0, color="0.9", lw=1)
    ax.axvline(0, color="0.9", lw=1)
    ax.set(xlim=(-1, 1), ylim=(-1, 1))


def plot_condition_psths(prediction, control_time, control_psth, path: Path) -> Path:
    """Per-area rates under light (predicted, recorded) next to the recorded light-off rates."""
    areas = prediction.areas
    fig = Figure(figsize=(3.2 * len(areas), 2.8))
    axes = fig.subplots(1, len(areas), squeeze=False, sharey=True)
    for i, (ax, area) in enumerate(zip(axes[0], areas)):
        ax.plot(control_time, control_psth[:, i], color="0.6", label="recorded, light off")
        if prediction.recorded_area_psth is not None:
            ax.plot(prediction.time, prediction.recorded_area_psth[:, i], color="k", label="recorded, light on")
        ax.plot(prediction.time, prediction.predicted_area_psth[:, i], color="tab:orange", label="model, light on")
        condition = prediction.condition
        ax.axvspan(condition.onset, condition.offset, color="tab:cyan", alpha=0.15)
        ax.set(title=area, xlabel="time (s)")
    axes[0][0].set_ylabel("rate (Hz)")
    axes[0][-1].legend(fontsize=7, frameon=False)
    fig.suptitle(prediction.condition.label, fontsize=9)
    return _save(fig, path)


def plot_training_curves(history: list, path: Path) -> Path:
    """Loss terms against training step (log scale)."""
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    steps = np.array([h["step"] for h in history])
    for key in ("trial", "psth", "rate", "choice", "behaviour", "test_total"):
        values = np.array([h.get(key, np.nan) for h in history], dtype=float)
        keep = np.isfinite(values) & (values > 0)
        if keep.any():
            ax.plot(steps[keep], values[keep], marker="." if key == "test_total" else None, label=key)
    ax.set(xlabel="step", ylabel="loss", yscale="log", title="training")
    ax.legend(fontsize=7, frameon=False)
    return _save(fig, path)


def evaluation_plots(model_file, predictions: list, folder: Path) -> list:
    """All evaluation plots of a model file into ``folder``; returns the written paths."""
    folder.mkdir(parents=True, exist_ok=True)
    session = model_file.session
    paths = [plot_behaviour_changes(predictions, folder / "behaviour_changes.png", session.behaviour_kind)]
    width = losses.filter_widths(model_file.fit_config.psth_filter, model_file.fit_config.pop_avg_resample,
                                 session.dt)[0]
    control = session.spikes[session.unperturbed].astype(np.float32)
    control_psth = area_rate_psth(control, area_groups(session), width, session.dt)
    for index, prediction in enumerate(predictions):
        paths.append(plot_condition_psths(prediction, psth_time(session, width), control_psth,
                                          folder / f"psth_condition{index:02d}.png"))
    if model_file.history:
        paths.append(plot_training_curves(model_file.history, folder / "training.png"))
    return paths


def plot_targeting(targeting: Targeting, layout: NeuronLayout, time: np.ndarray, path,
                   transfer_name: str = "ground truth") -> Path:
    """Gradient map (area × cell type × time) and the predicted and simulated effect of every set (and of the
    same units' neurons in the network they were transferred to, labelled ``transfer_name``), as a PNG."""
    groups, values = gradient_map(targeting.mean_gradient, layout)
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    limit = float(np.abs(values).max()) or 1.0
    dt = time[1] - time[0] if len(time) > 1 else 1.0
    image = left.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest",
                        extent=(time[0], time[-1] + dt, len(groups) - 0.5, -0.5))
    left.set_yticks(range(len(groups)), groups)
    for edge in targeting.window:
        left.axvline(edge, color="k", lw=0.8, ls="--")
    left.set(xlabel="time (s)", title=f"d {targeting.objective} / d current, mean per neuron (window dashed)")
    fig.colorbar(image, ax=left, fraction=0.04)
    names = list(targeting.sets)
    x = np.arange(len(names))
    rows = [("predicted", [targeting.sets[n].predicted_effect for n in names], "0.6"),
            ("simulated", [targeting.sets[n].simulated_effect for n in names], "tab:orange")]
    if targeting.transfer:
        rows.append((transfer_name, [targeting.transfer[n].simulated_effect for n in names], "tab:green"))
    width = 0.8 / len(rows)
    for i, (label, heights, color) in enumerate(rows):
        right.bar(x + (i - (len(rows) - 1) / 2) * width, heights, width, label=label, color=color)
    right.axhline(0, color="k", lw=0.8)
    right.set_xticks(x, names)
    right.set(ylabel=f"Δ {targeting.objective}", title=f"{len(targeting.sets[names[0]].neurons)} neurons, "
              f"power {targeting.power:g}")
    right.legend(fontsize=7, frameon=False)
    return _save(fig, path)


def plot_comparison(summary: list, path) -> Path:
    """Bar chart of every held-out score per preset and grid point (:func:`~nwb_biornn.analysis.compare.summarize`),
    with the spread over seeds and sessions as error bars."""
    labels = [entry["label"] for entry in summary]
    x = np.arange(len(labels))
    titles = ("held-out light-off", "held-out light-off", "held-out light-on", "held-out light-on",
              "held-out light-on", "held-out light-on")
    units = ("trial-matching loss", "PSTH error", "trial-matching loss", "|Δ behaviour| error (P(lick) or P(correct))",
             "cosine of Δ over conditions", "right sign of clear Δ")
    fig = Figure(figsize=(max(12, 0.6 * len(labels) * len(SCORES)), 3.4))
    axes = fig.subplots(1, len(SCORES))
    for ax, (block, name), title, unit in zip(axes, SCORES, titles, units):
        stats = [entry[f"{block}.{name}"] for entry in summary]
        ax.bar(x, [s["mean"] for s in stats], yerr=[0 if not np.isfinite(s["std"]) else s["std"] for s in stats],
               color="tab:gray", capsize=3)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
        ax.set(title=title, ylabel=unit)
    return _save(fig, path)
