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


def test_delta_response_sem_is_the_binomial_error_of_the_type_weighted_difference():
    rng = np.random.default_rng(3)
    type_light = np.array(["go"] * 6 + ["nogo"] * 2)
    type_off = np.array(["go"] * 10 + ["nogo"] * 20)
    on, off = rng.random(8) < 0.5, rng.random(30) < 0.4
    expected = 0.0
    for t, w in (("go", 6 / 8), ("nogo", 2 / 8)):
        p1, p0 = on[type_light == t].mean(), off[type_off == t].mean()
        expected += w ** 2 * (p1 * (1 - p1) / np.sum(type_light == t) + p0 * (1 - p0) / np.sum(type_off == t))
    assert metrics.delta_response_sem(on, type_light, off, type_off) == pytest.approx(np.sqrt(expected))


def test_delta_response_sem_matches_the_spread_of_resampled_differences():
    """The closed form is the standard deviation of the difference over repeated recordings."""
    rng = np.random.default_rng(0)
    type_light, type_off = np.array(["go"] * 40), np.array(["go"] * 80)
    deltas = [metrics.delta_response(rng.random(40) < 0.3, type_light, rng.random(80) < 0.6, type_off)
              for _ in range(4000)]
    sem = metrics.delta_response_sem(np.r_[np.ones(12), np.zeros(28)].astype(bool), type_light,
                                     np.r_[np.ones(48), np.zeros(32)].astype(bool), type_off)
    assert np.std(deltas) == pytest.approx(sem, rel=0.05)


def test_paired_difference_sem_is_the_standard_error_of_the_differences():
    on, off = np.array([0.2, 0.9, 0.4, 0.4]), np.array([0.1, 0.5, 0.5, 0.2])
    d = on - off
    assert metrics.paired_difference_sem(on, off) == pytest.approx(np.sqrt(np.sum((d - d.mean()) ** 2) / 3 / 4))
    assert np.isnan(metrics.paired_difference_sem([1.0], [0.0]))


def test_sign_agreement_counts_only_clear_recorded_effects():
    recorded = [0.5, -0.5, 0.09, -0.2, np.nan]
    predicted = [0.1, 0.2, -0.9, 0.0, 0.3]
    assert metrics.sign_agreement(recorded, predicted) == pytest.approx(1 / 3)   # 0.09 too small, 0.0 no sign
    assert metrics.sign_agreement(recorded, predicted, threshold=0.05) == pytest.approx(1 / 4)
    assert np.isnan(metrics.sign_agreement([0.01], [0.01]))


def test_welch_overlap_counts_conditions_within_the_critical_t():
    recorded, recorded_sem = np.array([0.2, -0.3, 0.0, 0.1]), np.array([0.1, 0.1, 0.0, 0.1])
    predicted, predicted_sem = np.array([0.4, 0.3, 0.0, 0.1]), np.array([0.1, 0.1, 0.0, np.nan])
    with np.errstate(invalid="ignore"):
        t = (predicted - recorded) / np.hypot(recorded_sem, predicted_sem)   # 1.41, 4.24, nan, nan
    assert metrics.welch_overlap(recorded, recorded_sem, predicted, predicted_sem) == 1
    assert metrics.welch_overlap(recorded, recorded_sem, predicted, predicted_sem, critical=5.0) == 2
    assert np.sum(np.abs(t[:2]) < 1.96) == 1


def test_delta_response_by_type_is_the_change_within_each_light_trial_type():
    type_light = np.array(["go", "go", "go", "nogo"])
    on = np.array([1, 0, 0, 1], bool)
    type_off = np.array(["go"] * 4 + ["probe"] * 2)
    off = np.array([1, 1, 1, 0, 0, 0], bool)
    by_type = metrics.delta_response_by_type(on, type_light, off, type_off)
    assert by_type["go"] == pytest.approx(1 / 3 - 3 / 4) and np.isnan(by_type["nogo"]) and set(by_type) == {"go", "nogo"}
    weights = {"go": 3}
    assert metrics.delta_response(on[:3], type_light[:3], off, type_off) == pytest.approx(
        sum(w * by_type[t] for t, w in weights.items()) / 3)
