"""Plots (PNG, matplotlib's Agg backend): what people would rather look at than read."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (plots are written to files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_behaviour_changes(predictions: list, path: Path) -> Path:
    """Scatter of predicted against recorded change in response probability, one point per condition."""
    plt = pyplot()
    scored = [p for p in predictions if p.n_heldout_trials]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    recorded = np.array([p.recorded_delta_behaviour for p in scored])
    predicted = np.array([p.predicted_delta_behaviour for p in scored])
    colors = ["tab:blue" if p.condition.cell_type == "I" else "tab:red" for p in scored]
    ax.axline((0, 0), slope=1, color="0.7", lw=1)
    ax.axhline(0, color="0.9", lw=1)
    ax.axvline(0, color="0.9", lw=1)
    ax.scatter(recorded, predicted, c=colors, s=[12 + 3 * p.n_heldout_trials for p in scored], alpha=0.8)
    for p, x, y in zip(scored, recorded, predicted):
        ax.annotate(p.condition.label, (x, y), fontsize=6, alpha=0.7)
    ax.set(xlabel="recorded Δ response probability", ylabel="predicted Δ response probability",
           xlim=(-1, 1), ylim=(-1, 1), title="held-out perturbations (blue: I, red: E)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_condition_psths(prediction, control_time, control_psth, path: Path) -> Path:
    """Per-area rates under light (predicted, recorded) next to the recorded light-off rates."""
    plt = pyplot()
    areas = prediction.areas
    fig, axes = plt.subplots(1, len(areas), figsize=(3.2 * len(areas), 2.8), squeeze=False, sharey=True)
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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_training_curves(history: list, path: Path) -> Path:
    """Loss terms against training step (log scale)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps = np.array([h["step"] for h in history])
    for key in ("trial", "psth", "rate", "behaviour", "test_total"):
        values = np.array([h.get(key, np.nan) for h in history], dtype=float)
        keep = np.isfinite(values) & (values > 0)
        if keep.any():
            ax.plot(steps[keep], values[keep], marker="." if key == "test_total" else None, label=key)
    ax.set(xlabel="step", ylabel="loss", yscale="log", title="training")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def evaluation_plots(model_file, predictions: list, folder: Path) -> list:
    """All evaluation plots of a model file into ``folder``; returns the written paths."""
    from nwb_biornn.analysis.evaluate import area_groups, area_rate_psth, psth_time
    from nwb_biornn.fit import losses

    folder.mkdir(parents=True, exist_ok=True)
    paths = [plot_behaviour_changes(predictions, folder / "behaviour_changes.png")]
    session = model_file.session
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
