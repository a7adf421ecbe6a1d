"""What ``nwb-biornn info`` shows about a model file, read from NWB alone (no torch).

:func:`describe_model_file` gathers the facts as a JSON-able dict (source, model, neurons, across-area sparsity,
training, held-out scores, predictions); :func:`format_info` renders that dict as text.
"""
from __future__ import annotations

import numpy as np

from nwb_biornn.nwbio.common import MODEL, MODULE, FITTED_SESSION, PREDICTIONS, REFERENCE, TARGETS, _scalar
from nwb_biornn.nwbio.read import _open
from nwb_biornn.render.text import evaluation_headline


def describe_model_file(path) -> dict:
    """What ``nwb-biornn info`` shows: source, model, neurons, sparsity, training, held-out scores, predictions.

    Reads only NWB (no torch). Raises :class:`UserError` like :func:`~nwb_biornn.nwbio.read_model_file`.
    """
    with _open(path) as io:
        nwbfile = io.read()
        module = nwbfile.processing[MODULE]
        container, grid = module[MODEL], module[FITTED_SESSION]
        neurons = {name: np.asarray(container.neurons[name][:]) for name in ("area", "cell_type", "mapped")}
        areas = list(dict.fromkeys(neurons["area"].astype(str).tolist()))
        counts = {area: {"E": int(np.sum((neurons["area"] == area) & (neurons["cell_type"] == "E"))),
                         "I": int(np.sum((neurons["area"] == area) & (neurons["cell_type"] == "I"))),
                         "mapped": int(np.sum((neurons["area"] == area) & neurons["mapped"]))} for area in areas}
        area_of = neurons["area"].astype(str)
        across = (area_of[:, None] != area_of[None, :]) & np.asarray(container.connectivity_mask[()], bool)
        weights = np.asarray(container.recurrent_weights[()])
        summary = container.training_summary_values
        training_keys = ("steps", "final_losses", "trials", "excluded_reasons", "heldout_conditions")
        predictions = []
        if PREDICTIONS in module.data_interfaces:
            table = module[PREDICTIONS]
            columns = ("label", "num_heldout_trials", "calibration", "predicted_delta_behaviour",
                       "recorded_delta_behaviour", "trial_matching_loss")
            values = {name: table[name][:] for name in columns}
            predictions = [{name: _scalar(np.asarray(values[name][row])[()]) for name in columns}
                           for row in range(len(table))]
        return {
            "path": str(path),
            "source": {"dandiset_id": grid.source_dandiset_id, "version": grid.source_dandiset_version,
                       "asset_path": grid.source_asset_path, "path": grid.source_path},
            "subject_id": nwbfile.subject.subject_id if nwbfile.subject else None,
            "session_id": nwbfile.session_id,
            "model_id": container.model_id, "preset": container.preset, "seed": int(container.random_seed),
            "software": f"{container.software} {container.software_version}",
            "dt": float(container.dt), "n_neurons": int(len(area_of)),
            "n_inputs": int(container.input_weights.shape[1]), "neurons": counts,
            "across_area_weights": {"allowed": int(across.sum()), "nonzero": int(np.sum(across & (weights != 0))),
                                    "fraction_nonzero": float(np.sum(across & (weights != 0)) / max(across.sum(), 1))},
            "training": {key: summary.get(key) for key in training_keys},
            "scores": {key: value for key, value in summary.items() if key not in training_keys},
            "predictions": predictions,
            "has_reference": REFERENCE in module.data_interfaces,
            "targeted_sets": len(module[TARGETS]) if TARGETS in module.data_interfaces else 0,
        }


def format_info(info: dict) -> str:
    """The text of ``nwb-biornn info`` for :func:`describe_model_file`'s dict."""
    source = info["source"]
    origin = (f"DANDI:{source['dandiset_id']}/{source['version'] or 'draft'} {source['asset_path'] or ''}".strip()
              if source["dandiset_id"] else source["path"])
    training, sparsity = info["training"], info["across_area_weights"]
    lines = [
        f"model file   {info['path']}",
        f"source       {origin} (subject {info['subject_id']}, session {info['session_id']})",
        f"model        {info['preset']} by {info['software']}, id {info['model_id']}, dt {info['dt'] * 1e3:g} ms, "
        f"{info['n_neurons']} neurons, {info['n_inputs']} inputs",
        "neurons      " + "; ".join(f"{area}: {c['E']} E + {c['I']} I ({c['mapped']} mapped)"
                                    for area, c in info["neurons"].items()),
        f"across-area  {sparsity['nonzero']} of {sparsity['allowed']} allowed weights non-zero "
        f"({100 * sparsity['fraction_nonzero']:.1f} %)",
        f"training     {training['steps']} steps; final losses "
        + ", ".join(f"{k} {v:.4g}" for k, v in (training["final_losses"] or {}).items()),
        "trials       " + ", ".join(f"{k} {v}" for k, v in (training["trials"] or {}).items()),
    ]
    if training["excluded_reasons"]:
        lines.append("excluded     " + ", ".join(f"{k}: {v}" for k, v in training["excluded_reasons"].items()))
    lines.append("held out     " + (", ".join(training["heldout_conditions"]) or "nothing (no perturbation trials)"))
    scores = dict(info["scores"])
    if "evaluation" in scores:
        lines.append("scores       " + evaluation_headline(scores.pop("evaluation")))
    light = scores.pop("light", None)
    if light:
        how = (f"calibrated on {', '.join(light['calibrated_on'])}" if light["calibrated_on"]
               else "the fixed default")
        lines.append(f"light        {light['mw_to_current']:g} model current per mW ({how})")
    for key, value in _scalar_leaves(scores):
        lines.append(f"score        {key}: {f'{value:.4g}' if isinstance(value, float) else value}")
    lines.append(f"predictions  {len(info['predictions'])} condition(s)")
    for p in info["predictions"]:
        recorded = ("" if np.isnan(p["recorded_delta_behaviour"])
                    else f", recorded {p['recorded_delta_behaviour']:+.3f}")
        note = " (calibration)" if p["calibration"] else ""
        lines.append(f"  {p['label']}: predicted delta behaviour {p['predicted_delta_behaviour']:+.3f}{recorded}, "
                     f"{p['num_heldout_trials']} held-out trials{note}")
    if info["has_reference"]:
        lines.append("reference    ground-truth circuit stored")
    if info["targeted_sets"]:
        lines.append(f"targets      {info['targeted_sets']} targeted neuron set(s)")
    return "\n".join(lines)


def _scalar_leaves(values: dict, prefix: str = ""):
    """``(dotted.key, value)`` for every scalar in nested dicts; lists of scalars joined, lists of dicts skipped."""
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _scalar_leaves(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            if all(not isinstance(item, (dict, list)) for item in value):
                yield f"{prefix}{key}", ", ".join(str(item) for item in value) or "none"
        else:
            yield f"{prefix}{key}", value
