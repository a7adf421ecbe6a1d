"""What ``nwb-biornn info`` shows about a model file, read from NWB alone (no torch).

:func:`describe_model_file` gathers the facts as a JSON-able dict (source, behaviour, model, neurons, across-area
sparsity, training, held-out scores, predictions); :func:`nwb_biornn.render.text.format_info` renders it as text.
"""
from __future__ import annotations

import json

import numpy as np

from nwb_biornn.core.session import CHOICE_PORTS, LICK_PORTS
from nwb_biornn.nwbio.common import FITTED_SESSION, MODEL, MODULE, PREDICTIONS, REFERENCE, TARGETS, python_scalar
from nwb_biornn.nwbio.read import open_model_file


def describe_model_file(path) -> dict:
    """What ``nwb-biornn info`` shows: source, behaviour, model, neurons, sparsity, training, held-out scores,
    predictions.

    ``behaviour`` is ``{"name", "kind", "ports"}``: the trace fitted (``lick_rate`` or ``none``), ``"lick"``
    (go/no-go) or ``"choice"`` (two-choice), and the response ports (``["lick"]`` for files that predate ports).

    Reads only NWB (no torch). Raises :class:`UserError` like :func:`~nwb_biornn.nwbio.read_model_file`.
    """
    with open_model_file(path) as io:
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
            predictions = [{name: python_scalar(np.asarray(values[name][row])[()]) for name in columns}
                           for row in range(len(table))]
        return {
            "path": str(path),
            "source": {"dandiset_id": grid.source_dandiset_id, "version": grid.source_dandiset_version,
                       "asset_path": grid.source_asset_path, "path": grid.source_path,
                       **_provenance(grid)},
            "subject_id": nwbfile.subject.subject_id if nwbfile.subject else None,
            "session_id": nwbfile.session_id,
            "behaviour": _behaviour(grid),
            "model_id": container.model_id, "preset": container.preset, "seed": int(container.random_seed),
            "config": {table: container.hyperparameter_values.get(table, {}) for table in ("model", "fit")},
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


def _behaviour(grid) -> dict:
    ports = LICK_PORTS if grid.ports is None else tuple(str(port) for port in grid.ports)
    return {"name": grid.behaviour_name, "kind": "choice" if ports == CHOICE_PORTS else "lick",
            "ports": list(ports)}


def _provenance(grid) -> dict:
    """The source block the model file stores (``nwb_biornn.nwbio.write.source_provenance``); files written
    before it existed give what their attributes hold."""
    try:
        stored = json.loads(grid.metadata).get("source")
    except (TypeError, ValueError):
        stored = None
    if stored:
        return stored
    if grid.source_dandiset_id:
        return {"kind": "dandi", "api_url": grid.source_api_url, "dandiset_id": grid.source_dandiset_id,
                "version": grid.source_dandiset_version, "asset_path": grid.source_asset_path,
                "asset_id": grid.source_asset_id, "digest": None}
    return {"kind": "file", "file_name": grid.source_path.replace("\\", "/").rsplit("/", 1)[-1], "sha256": None}
