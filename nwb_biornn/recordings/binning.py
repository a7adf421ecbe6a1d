"""Event times -> arrays on the aligned trial grid.

The grid of trial ``k`` has bin ``i`` covering ``[align[k] + t_start + i*dt, align[k] + t_start + (i+1)*dt)``
on the session clock. Everything here is vectorized over trials and spikes (``np.searchsorted``); the only Python
loops run over units or event channels.

Examples
--------
>>> counts = bin_events(np.array([0.1005, 0.1015, 1.2]), align=np.array([0.0, 1.0]), t_start=0.1,
...                     dt=0.001, n_bins=3)
>>> counts.tolist()
[[1, 1, 0], [0, 0, 0]]
"""
from __future__ import annotations

import numpy as np

PULSE_DURATION = 0.010
"""Seconds an input pulse lasts (height 1), see ``Session.inputs``."""
LICK_BOX = 0.050
"""Width in seconds of the causal box that turns lick times into a lick rate."""


def bin_edges(align: np.ndarray, t_start: float, dt: float, n_bins: int) -> np.ndarray:
    """Session-clock bin edges, shape (trials, n_bins + 1)."""
    return np.asarray(align, float)[:, None] + t_start + dt * np.arange(n_bins + 1)


def bin_events(times: np.ndarray, align: np.ndarray, t_start: float, dt: float, n_bins: int) -> np.ndarray:
    """Count sorted-or-not event times in every bin of every trial; shape (trials, n_bins), int64.

    Trials whose windows overlap both count an event that falls in the overlap.
    """
    times = np.sort(np.asarray(times, float))
    edges = bin_edges(align, t_start, dt, n_bins)
    return np.diff(np.searchsorted(times, edges, side="left"), axis=1)


def merge_intervals(intervals: np.ndarray) -> np.ndarray:
    """Union of ``[start, stop]`` rows as sorted, disjoint rows (touching intervals are joined)."""
    intervals = np.asarray(intervals, float).reshape(-1, 2)
    if len(intervals) == 0:
        return intervals
    intervals = intervals[np.argsort(intervals[:, 0])]
    running_stop = np.maximum.accumulate(intervals[:, 1])
    new_block = np.r_[True, intervals[1:, 0] > running_stop[:-1]]
    block = np.cumsum(new_block) - 1
    stops = np.zeros(block[-1] + 1)
    np.maximum.at(stops, block, intervals[:, 1])
    return np.column_stack([intervals[new_block, 0], stops])


def inside(times: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """Boolean mask of the times that fall inside the union of ``intervals`` (closed intervals)."""
    merged = merge_intervals(intervals)
    row = np.searchsorted(merged[:, 0], times, side="right") - 1
    return (row >= 0) & (times <= merged[np.maximum(row, 0), 1]) if len(merged) else np.zeros(len(times), bool)


def covered(window_start: np.ndarray, window_stop: np.ndarray, intervals: np.ndarray,
            tolerance: float = 1e-6) -> np.ndarray:
    """Boolean per window: is ``[window_start, window_stop]`` inside the union of ``intervals``, up to
    ``tolerance`` seconds at either end (so a window equal to a trial survives float rounding)?"""
    merged = merge_intervals(intervals)
    if len(merged) == 0:
        return np.zeros(len(window_start), bool)
    row = np.searchsorted(merged[:, 0], window_start + tolerance, side="right") - 1
    return (row >= 0) & (merged[np.maximum(row, 0), 1] >= window_stop - tolerance)


def bin_spikes(spike_times: list, align: np.ndarray, t_start: float, dt: float, n_bins: int,
               obs_intervals: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts of every unit on the aligned grid.

    Parameters
    ----------
    spike_times
        One array of session-clock spike times per unit.
    obs_intervals
        Per unit, an ``(n, 2)`` array of observed ``[start, stop]`` intervals, or None when units were observed
        throughout. Spikes outside a unit's intervals are dropped.

    Returns
    -------
    counts : ndarray, shape (trials, n_bins, units), uint8 (clipped at 255)
    observed : ndarray, shape (trials, units), bool
        Whether the unit was observed during the trial's whole window (see :func:`covered`). The loader
        excludes trials where any unit was not observed, rather than reading its missing bins as silence.
    """
    align = np.asarray(align, float)
    counts = np.zeros((len(align), n_bins, len(spike_times)), np.uint8)
    observed = np.ones((len(align), len(spike_times)), bool)
    window_start, window_stop = align + t_start, align + t_start + n_bins * dt
    for unit, times in enumerate(spike_times):
        times = np.asarray(times, float)
        if obs_intervals is not None and obs_intervals[unit] is not None and len(obs_intervals[unit]):
            times = times[inside(times, obs_intervals[unit])]
            observed[:, unit] = covered(window_start, window_stop, obs_intervals[unit])
        counts[:, :, unit] = np.minimum(bin_events(times, align, t_start, dt, n_bins), 255)
    return counts, observed


def pulse_inputs(event_times: list, align: np.ndarray, t_start: float, dt: float, n_bins: int) -> np.ndarray:
    """Pulse input channels: height 1 for ``PULSE_DURATION`` from each event; shape (trials, n_bins, channels).

    ``event_times[c]`` is a (trials,) session-clock array for channel ``c``; NaN means no event in that trial.
    """
    inputs = np.zeros((len(align), n_bins, len(event_times)), np.float32)
    pulse_bins = max(1, int(round(PULSE_DURATION / dt)))
    for channel, times in enumerate(event_times):
        first = np.floor((np.asarray(times, float) - align - t_start) / dt + 1e-9)
        trial = np.flatnonzero(np.isfinite(first))
        bins = first[trial, None].astype(np.int64) + np.arange(pulse_bins)
        keep = (bins >= 0) & (bins < n_bins)
        inputs[np.broadcast_to(trial[:, None], bins.shape)[keep], bins[keep], channel] = 1.0
    return inputs


def lick_rate(lick_times: np.ndarray, align: np.ndarray, t_start: float, dt: float, n_bins: int) -> np.ndarray:
    """Lick rate in Hz: licks in the causal ``LICK_BOX`` ending at each bin's right edge; (trials, n_bins).

    Licks before the window start count toward its first bins.
    """
    box = max(1, int(round(LICK_BOX / dt)))
    counts = bin_events(lick_times, align, t_start - (box - 1) * dt, dt, n_bins + box - 1)
    cumulative = np.concatenate([np.zeros((len(align), 1)), np.cumsum(counts, axis=1)], axis=1)
    return ((cumulative[:, box:] - cumulative[:, :-box]) / (box * dt)).astype(np.float32)


def first_event_in(times: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Per trial, the first event time in ``[start, stop)``, NaN where there is none.

    Examples
    --------
    >>> first_event_in(np.array([1.0, 5.0, 5.5]), np.array([0.0, 1.5, 5.0]), np.array([1.0, 4.0, 6.0])).tolist()
    [nan, nan, 5.0]
    """
    times = np.sort(np.asarray(times, float))
    first = np.searchsorted(times, start, side="left")
    found = first < np.searchsorted(times, stop, side="left")
    return np.where(found, np.r_[times, np.nan][first], np.nan)
