"""Names and small helpers shared by the modules of the model-file package.

The names of the processing module ``biornn`` and of the objects in it, the key of the trials' alignment times in
``Session.metadata``, the compression of large datasets and the loss-history columns; the re-binning of the copied
spike times (the writer checks it, the reader relies on it) and the conversion of numpy scalars to Python ones.
"""
from __future__ import annotations

import numpy as np

from nwb_biornn.recordings.binning import bin_spikes

MODULE = "biornn"
"""Processing module of a model file that holds every ndx-biornn object."""
MODEL = "biornn_model"
REFERENCE = "reference_circuit"
"""Name of the ground-truth circuit: a module of a synthetic source file, an object in a model file's module."""
FITTED_SESSION = "fitted_session"
PREDICTIONS = "perturbation_predictions"
HISTORY = "loss_history"
TARGETS = "targeted_neuron_sets"
SOFTWARE = "nwb-biornn"
ALIGN_TIMES = "align_times"
"""Key of ``Session.metadata`` holding each trial's alignment event on the session clock (s, NaN if none)."""

GZIP = dict(compression="gzip", compression_opts=4, shuffle=True)
LOSS_COLUMNS = {"trial": "trial", "psth": "psth", "rate": "rate", "behaviour": "behaviour", "choice": "choice",
                 "test_total": "test_total"}


def python_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def rebin_units(units, rows, align, t_start, dt, n_time) -> np.ndarray:
    """Spike counts (trials, time, units) of the Units rows ``rows``, as the loader bins them."""
    spike_times = [np.asarray(units["spike_times"][row], float) for row in rows]
    obs_intervals = ([np.asarray(units["obs_intervals"][row], float) for row in rows]
                     if "obs_intervals" in units.colnames else None)
    spikes = bin_spikes(spike_times, align, t_start, dt, n_time, obs_intervals)[0]
    spikes[~np.isfinite(align)] = 0
    return spikes

