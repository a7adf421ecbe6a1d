import numpy as np
import pytest

from nwb_biornn.analysis import metrics


def test_response_probability_plain_fraction():
    assert metrics.response_probability(np.array([1, 0, 0, 1, 1], bool), np.array(list("aabbb"))) == 0.6


def test_response_probability_weighted_by_type():
    response = np.array([1, 1, 1, 0], bool)
    kinds = np.array(["go", "go", "go", "nogo"])
    assert metrics.response_probability(response, kinds, {"go": 1, "nogo": 3}) == pytest.approx(0.25)


def test_delta_response_compares_within_trial_type():
    # light trials are all "nogo"; the off-trial "go" responses must not leak into the comparison
    off = np.array([1, 1, 1, 0, 0, 1], bool)
    off_type = np.array(["go", "go", "go", "nogo", "nogo", "nogo"])
    light = np.array([0, 0, 0], bool)
    assert metrics.delta_response(light, np.array(["nogo"] * 3), off, off_type) == pytest.approx(-1 / 3)


def test_delta_response_nan_without_light_trials_or_matching_types():
    off = np.array([1, 0], bool)
    assert np.isnan(metrics.delta_response(np.array([], bool), np.array([]), off, np.array(["a", "a"])))
    assert np.isnan(metrics.delta_response(np.array([1], bool), np.array(["b"]), off, np.array(["a", "a"])))


def test_mean_abs_error_and_cosine_closed_forms():
    assert metrics.mean_abs_error([1, 2, 3], [2, 2, 1]) == pytest.approx(1.0)
    assert metrics.cosine_similarity([1, 2], [-2, 1]) == pytest.approx(0.0)
    assert metrics.cosine_similarity([1, 2], [2, 4]) == pytest.approx(1.0)
    assert np.isnan(metrics.cosine_similarity([0, 0], [1, 1]))


def test_spread():
    result = metrics.spread([2.0, 4.0, np.nan])
    assert result == {"mean": 3.0, "std": pytest.approx(np.sqrt(2)), "n": 2}
