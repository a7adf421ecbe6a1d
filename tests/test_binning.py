import numpy as np
import pytest

from nwb_biornn.recordings import binning


def test_bin_events_counts_each_trial_on_its_own_aligned_grid():
    counts = binning.bin_events(np.array([1.2, 0.1005, 0.1015, 0.1015, 10.0]), align=np.array([0.0, 1.0]),
                                t_start=0.1, dt=0.001, n_bins=3)
    assert counts.tolist() == [[1, 2, 0], [0, 0, 0]]


def test_bin_events_left_edge_is_inclusive_and_overlapping_windows_both_count():
    counts = binning.bin_events(np.array([0.5]), align=np.array([0.0, 0.25]), t_start=0.0, dt=0.25, n_bins=3)
    assert counts.tolist() == [[0, 0, 1], [0, 1, 0]]


def test_merge_intervals_joins_overlapping_and_touching_rows():
    merged = binning.merge_intervals(np.array([[5.0, 6.0], [0.0, 1.0], [1.0, 2.0], [1.5, 1.7]]))
    assert merged.tolist() == [[0.0, 2.0], [5.0, 6.0]]


def test_inside_and_covered():
    intervals = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert binning.inside(np.array([-0.1, 0.0, 1.0, 1.5, 2.5, 3.5]), intervals).tolist() == \
        [False, True, True, False, True, False]
    assert binning.covered(np.array([0.1, 0.5, 2.0]), np.array([0.9, 2.5, 3.0]), intervals).tolist() == \
        [True, False, True]


def test_bin_spikes_drops_spikes_outside_obs_intervals_and_flags_unobserved_windows():
    spikes = [np.array([0.05, 1.05, 2.05]), np.array([1.15])]
    observed_intervals = [np.array([[0.0, 0.5], [2.0, 2.5]]), None]
    counts, observed = binning.bin_spikes(spikes, align=np.array([0.0, 1.0, 2.0]), t_start=0.0, dt=0.1,
                                          n_bins=3, obs_intervals=observed_intervals)
    assert counts.dtype == np.uint8 and counts.shape == (3, 3, 2)
    assert counts[:, 0, 0].tolist() == [1, 0, 1]          # the spike at 1.05 is outside unit 0's intervals
    assert counts[1, 1, 1] == 1 and counts[:, :, 1].sum() == 1
    assert observed.tolist() == [[True, True], [False, True], [True, True]]


def test_bin_spikes_clips_counts_at_255():
    counts, _ = binning.bin_spikes([np.full(300, 0.01)], np.array([0.0]), 0.0, 0.02, 1)
    assert counts[0, 0, 0] == 255


def test_pulse_inputs_are_ten_ms_of_ones_from_the_event_bin():
    events = [np.array([0.004, np.nan]), np.array([0.0, 0.095])]
    inputs = binning.pulse_inputs(events, align=np.array([0.0, 0.0]), t_start=0.0, dt=0.002, n_bins=50)
    assert inputs.shape == (2, 50, 2) and inputs.dtype == np.float32
    assert np.flatnonzero(inputs[0, :, 0]).tolist() == [2, 3, 4, 5, 6]
    assert not inputs[1, :, 0].any()                        # NaN: no event in that trial
    assert np.flatnonzero(inputs[1, :, 1]).tolist() == [47, 48, 49]   # clipped at the window end


def test_lick_rate_is_a_causal_50ms_box_in_hz():
    dt = 0.01
    rate = binning.lick_rate(np.array([0.0, 0.105]), align=np.array([0.0]), t_start=0.0, dt=dt, n_bins=20)
    # the lick at 0.0 lies in bin 0, counted by the boxes ending at the right edges of bins 0..4
    expected = np.zeros(20)
    expected[0:5] += 20.0
    expected[10:15] += 20.0
    np.testing.assert_allclose(rate[0], expected)


def test_lick_rate_counts_licks_just_before_the_window():
    rate = binning.lick_rate(np.array([-0.025]), align=np.array([0.0]), t_start=0.0, dt=0.01, n_bins=5)
    np.testing.assert_allclose(rate[0], [20.0, 20.0, 0.0, 0.0, 0.0])


def test_first_event_in_half_open_windows_is_the_earliest_event_or_nan():
    first = binning.first_event_in(np.array([5.0, 1.0, 5.5]), np.array([0.0, 1.0, 1.5, 5.0, 5.2]),
                                   np.array([1.0, 2.0, 4.0, 6.0, 5.5]))
    np.testing.assert_array_equal(first, [np.nan, 1.0, np.nan, 5.0, np.nan])
    assert np.isnan(binning.first_event_in(np.array([]), np.array([0.0]), np.array([1.0]))).all()


@pytest.mark.parametrize("n_units", [1, 4])
def test_bin_spikes_matches_a_histogram_per_trial(n_units):
    rng = np.random.default_rng(0)
    spikes = [np.sort(rng.uniform(0, 20, 500)) for _ in range(n_units)]
    align = np.array([2.0, 7.5, 13.0])
    counts, _ = binning.bin_spikes(spikes, align, -1.0, 0.05, 40)
    for unit, times in enumerate(spikes):
        for trial, a in enumerate(align):
            expected, _ = np.histogram(times, bins=a - 1.0 + 0.05 * np.arange(41))
            assert counts[trial, :, unit].tolist() == expected.tolist()


def test_a_window_equal_to_an_observed_interval_survives_float_rounding():
    start = np.array([1.0 + 0.1])
    window_start = start + 0.1 - 0.1           # 1.0999999999999999 or so, not exactly the interval start
    assert binning.covered(window_start, window_start + 0.4, np.array([[1.1, 1.5]])).tolist() == [True]
    assert binning.covered(window_start - 0.01, window_start + 0.4, np.array([[1.1, 1.5]])).tolist() == [False]
