"""Closed forms of the behavioural scores (analysis/metrics.py), on numbers small enough to check by hand."""
import warnings

import numpy as np
import pytest

from nwb_biornn.analysis import metrics

GO, NOGO = "go", "nogo"


def test_delta_response_weights_trial_types_by_their_light_trial_counts():
    """Three go and one no-go light trials: the light-off probability is 3/4 of the go one plus 1/4 of the no-go
    one (the light-on side is then the plain fraction of responding light trials). Weighting both types equally
    would give (2/3 + 0)/2 - (1 + 1/2)/2 = -5/12 instead of -3/8."""
    on, on_type = np.array([1, 1, 0, 0], bool), np.array([GO, GO, GO, NOGO])
    off = np.array([1, 1, 1, 1, 1, 1, 0, 0], bool)
    off_type = np.array([GO] * 4 + [NOGO] * 4)
    expected = (1 + 1 + 0 + 0) / 4 - (3 * 1.0 + 1 * 0.5) / 4
    assert metrics.delta_response(on, on_type, off, off_type) == pytest.approx(expected) == pytest.approx(-0.375)


def test_delta_response_is_the_count_weighted_mean_of_the_per_type_changes():
    rng = np.random.default_rng(0)
    on_type = np.array([GO] * 7 + [NOGO] * 2 + ["catch"] * 4)
    off_type = np.array([GO] * 10 + [NOGO] * 20 + ["catch"] * 5)
    on, off = rng.random(len(on_type)) < 0.4, rng.random(len(off_type)) < 0.6
    per_type = {t: on[on_type == t].mean() - off[off_type == t].mean() for t in (GO, NOGO, "catch")}
    expected = (7 * per_type[GO] + 2 * per_type[NOGO] + 4 * per_type["catch"]) / 13
    assert metrics.delta_response(on, on_type, off, off_type) == pytest.approx(expected)
    # a response probability (float) per trial, as for simulated trials, works the same way
    assert metrics.delta_response(on.astype(float), on_type, off.astype(float), off_type) == pytest.approx(expected)


def test_delta_response_leaves_out_light_trial_types_that_have_no_light_off_trials():
    on, on_type = np.array([1, 0, 1], bool), np.array([GO, GO, "probe"])
    off, off_type = np.array([1, 1, 0, 0], bool), np.array([GO, GO, NOGO, NOGO])
    # only the two go light trials count: 1/2 - 1
    assert metrics.delta_response(on, on_type, off, off_type) == pytest.approx(-0.5)


def test_delta_response_does_not_count_a_change_in_the_mix_of_trial_types():
    """Light on no-go trials only, where nothing changes: no effect, although the light-off trials (mostly go)
    respond far more often overall."""
    on, on_type = np.array([0, 1], bool), np.array([NOGO, NOGO])
    off, off_type = np.array([1] * 8 + [0, 1], bool), np.array([GO] * 8 + [NOGO] * 2)
    assert metrics.delta_response(on, on_type, off, off_type) == 0.0


def test_response_probability_weights_are_relative_and_default_to_the_plain_fraction():
    response = np.array([1, 1, 0, 0, 0, 1], bool)
    kinds = np.array([GO, GO, GO, NOGO, NOGO, NOGO])
    assert metrics.response_probability(response, kinds) == pytest.approx(0.5)
    weighted = metrics.response_probability(response, kinds, {GO: 3, NOGO: 1})
    assert weighted == pytest.approx((3 * 2 / 3 + 1 * 1 / 3) / 4)
    assert metrics.response_probability(response, kinds, {GO: 30, NOGO: 10}) == pytest.approx(weighted)
    assert metrics.response_probability(response, kinds, {GO: 1}) == pytest.approx(2 / 3)
    assert np.isnan(metrics.response_probability(np.array([], bool), np.array([])))


def test_mean_abs_error_skips_entries_missing_on_either_side():
    assert metrics.mean_abs_error([0.5, np.nan, -0.25, 1.0], [0.0, 0.3, 0.25, np.inf]) == pytest.approx(0.5)
    assert metrics.mean_abs_error([-0.2], [0.1]) == pytest.approx(0.3)
    assert np.isnan(metrics.mean_abs_error([np.nan, 1.0], [0.0, np.nan]))


def test_cosine_similarity_drops_missing_entries_and_has_no_angle_with_a_zero_vector():
    assert metrics.cosine_similarity([3.0, np.nan, 4.0], [3.0, 1.0, 4.0]) == pytest.approx(1.0)
    assert metrics.cosine_similarity([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(-1.0)
    assert metrics.cosine_similarity([2.0, 0.0], [1.0, 1.0]) == pytest.approx(2 ** -0.5)
    assert np.isnan(metrics.cosine_similarity([1.0, 1.0], [0.0, 0.0]))


def test_spread_of_one_value_has_no_standard_deviation():
    assert metrics.spread([1.0, 2.0, 6.0]) == {"mean": 3.0, "std": pytest.approx(np.std([1, 2, 6], ddof=1)), "n": 3}
    single = metrics.spread([4.0, np.inf])
    assert single["mean"] == 4.0 and single["n"] == 1 and np.isnan(single["std"])
    empty = metrics.spread([np.nan])
    assert np.isnan(empty["mean"]) and np.isnan(empty["std"]) and empty["n"] == 0


def test_delta_response_of_a_single_light_trial():
    off, off_type = np.array([1, 0, 0, 0], bool), np.array([GO, GO, NOGO, NOGO])
    assert metrics.delta_response(np.array([True]), np.array([GO]), off, off_type) == pytest.approx(0.5)
    assert metrics.delta_response(np.array([False]), np.array([NOGO]), off, off_type) == 0.0


def test_missing_scores_written_as_none_count_as_missing():
    """Scores read back from ``--json`` output have ``null`` (None) where a score was NaN."""
    assert metrics.mean_abs_error([0.5, None, 0.25], [0.0, 0.3, None]) == pytest.approx(0.5)
    assert metrics.mean_abs_error([0.5, 0.3], [None, 0.1]) == pytest.approx(0.2)
    assert metrics.cosine_similarity([1.0, None, 0.0], [2.0, 5.0, 0.0]) == pytest.approx(1.0)
    assert metrics.cosine_similarity([1.0, 0.0, 1.0], [None, 1.0, 1.0]) == pytest.approx(2 ** -0.5)
    assert metrics.spread([None, 1.0, 3.0]) == {"mean": 2.0, "std": pytest.approx(2 ** 0.5), "n": 2}
    assert metrics.sign_agreement([0.3, None, -0.4], [0.1, 0.2, 0.1]) == pytest.approx(0.5)
    assert metrics.sign_agreement([0.3, -0.4], [None, 0.1]) == 0.0
    assert metrics.welch_overlap([0.2, None], [0.05, 0.05], [0.25, 0.3], [0.05, 0.05]) == 1
    assert metrics.welch_overlap([0.2, 0.2], [0.05, None], [0.25, 0.3], [None, 0.05]) == 0
    assert metrics.welch_overlap([0.2, 0.2], [0.05, 0.05], [None, 0.25], [0.05, 0.05]) == 1


def test_scores_without_data_are_nan_without_numpy_warnings():
    """``compare`` with one model per preset, or a condition without finite scores, prints NaN, not numpy's
    'Degrees of freedom <= 0' or 'Mean of empty slice' warnings on the user's terminal."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(metrics.spread([2.0])["std"])
        assert np.isnan(metrics.spread([])["mean"]) and np.isnan(metrics.spread([])["std"])
        assert np.isnan(metrics.cosine_similarity([0.0, 0.0], [1.0, 2.0]))
        assert np.isnan(metrics.cosine_similarity([np.nan], [1.0]))
        assert np.isnan(metrics.mean_abs_error([np.nan], [1.0]))
        assert np.isnan(metrics.response_probability(np.array([], bool), np.array([], str)))
        assert np.isnan(metrics.delta_response(np.array([], bool), np.array([], str), np.array([True]),
                                               np.array([GO])))
        assert np.isnan(metrics.paired_difference_sem([0.5], [0.2])) and np.isnan(metrics.paired_difference_sem([], []))
        assert np.isnan(metrics.sign_agreement([0.05, np.nan], [0.2, 0.3]))
        assert metrics.welch_overlap([0.2, 0.1], [0.0, 0.0], [0.2, 0.3], [0.0, 0.0]) == 0   # 0/0 and 0.2/0


def test_delta_response_sem_without_comparable_trial_types_is_nan():
    assert np.isnan(metrics.delta_response_sem(np.array([True]), np.array([GO]), np.array([False]), np.array([NOGO])))


def test_paired_difference_sem_of_two_pairs():
    # differences 1 and 0: standard deviation (ddof 1) 1/sqrt(2), over sqrt(2)
    assert metrics.paired_difference_sem([1.0, 0.0], [0.0, 0.0]) == pytest.approx(0.5)


def test_sign_agreement_counts_effects_at_the_threshold_as_clear():
    assert metrics.sign_agreement([0.25, -0.5], [0.2, 0.3], threshold=0.25) == 0.5


def test_welch_overlap_closed_forms():
    """t = (predicted - recorded) / hypot(sems): opposite effects of 0.2 with sems 0.05 differ (|t| = 5.7);
    |t| = 2.36 overlaps at no usual critical value (default 1.96); |t| = 2 exactly is not below 2."""
    assert metrics.welch_overlap([0.2], [0.05], [-0.2], [0.05]) == 0
    assert metrics.welch_overlap([0.0], [0.03], [0.1], [0.03]) == 0
    assert metrics.welch_overlap([0.0], [0.03], [0.1], [0.03], critical=2.5) == 1
    assert metrics.welch_overlap([0.0], [3.0], [10.0], [4.0], critical=2.0) == 0
