"""Properties of the fit's loss terms (fit/losses.py) that a user's fit depends on, stated on inputs whose answer is
known by hand."""
import math

import numpy as np
import pytest
import torch

from nwb_biornn.fit import losses

# Powers of 4: a sum of three of their squares (powers of 16) tells which were summed and how often, so the loss of
# a subsample against all-zero data reveals the multiset of kept trials.
VALUES = torch.tensor([[1.0], [2.0], [4.0], [8.0]])
DISTINCT_SUMS = {sum(v ** 2 for v in (1, 2, 4, 8) if v != left_out) for left_out in (1, 2, 4, 8)}


@pytest.mark.parametrize("larger", ["model", "recorded"])
def test_trial_matching_keeps_distinct_trials_of_the_larger_set(larger):
    """Four trials against three: three *different* trials of the larger set are kept (drawn without
    replacement), chosen at random, whichever side is larger."""
    zeros = torch.zeros(3, 1)
    seen = set()
    for seed in range(40):
        pair = (VALUES, zeros) if larger == "model" else (zeros, VALUES)
        loss = losses.trial_matching_loss(*pair, generator=np.random.default_rng(seed))
        total = round(float(loss) * 3)
        assert total in DISTINCT_SUMS, f"seed {seed}: kept trials with squares summing to {total}"
        seen.add(total)
    assert len(seen) > 1


def test_typed_trial_matching_subsamples_within_each_type_and_weights_types_by_their_pairs():
    """Types are matched separately; each type contributes in proportion to its number of matched pairs."""
    model = torch.tensor([[1.0], [1.0], [1.0], [5.0]])
    data = torch.tensor([[0.0], [0.0], [3.0], [3.0], [3.0], [3.0]])
    loss = losses.trial_matching_loss(model, data, model_types=["a", "a", "a", "b"],
                                      data_types=["a", "a", "b", "b", "b", "b"], generator=np.random.default_rng(0))
    # type a: two of the three model trials (value 1) against two zeros -> 1 per pair; type b: one pair, (5-3)^2
    assert float(loss) == pytest.approx((2 * 1.0 + 1 * 4.0) / 3)
    with pytest.raises(ValueError, match="no trial type in common"):
        losses.trial_matching_loss(model, data, model_types=["a"] * 4, data_types=["b"] * 6)
    with pytest.raises(ValueError, match="one trial type per trial"):
        losses.trial_matching_loss(model, data, model_types=["a"] * 3, data_types=["a"] * 6)


def test_pairwise_mse_is_the_mean_over_features_of_squared_differences():
    a = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    b = torch.tensor([[1.0, 1.0], [1.0, 3.0], [-1.0, 0.0]])
    expected = torch.tensor([[[((x - y) ** 2).mean() for y in b] for x in a]]).squeeze(0)
    assert torch.allclose(losses.pairwise_mse(a, b), expected)
    assert float(losses.pairwise_mse(a[1:], a[1:])) == 0.0  # never negative from round-off


def test_hungarian_loss_of_non_finite_features_is_not_finite():
    model = torch.tensor([[0.0], [math.nan]])
    assert not torch.isfinite(losses.hungarian_loss(model, torch.zeros(2, 1)))


def test_box_filter_widths_one_to_three():
    x = torch.arange(6.0).reshape(1, 6, 1)
    assert losses.box_filter(x, 1)[0, :, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # width 3: stride 1, one bin of padding on each side that does not count in the mean
    assert losses.box_filter(x, 3)[0, :, 0].tolist() == pytest.approx([0.5, 1.0, 2.0, 3.0, 4.0, 4.5])


def test_columns_of_gives_a_view_only_for_consecutive_columns():
    assert losses.columns_of([0, 1, 2]) == slice(0, 3)
    gapped = losses.columns_of([0, 2, 3])
    assert isinstance(gapped, torch.Tensor) and gapped.tolist() == [0, 2, 3]
    assert isinstance(losses.columns_of([]), torch.Tensor)
    assert losses.columns_of(np.array([5])) == slice(5, 6)


def test_zscore_floors_the_standard_deviation_of_a_constant_feature():
    data = torch.full((4, 1, 3), 2.0)
    model_z, data_z = losses.zscore_features(torch.full((1, 1, 3), 2.5), data)
    assert torch.equal(data_z, torch.zeros_like(data))
    assert torch.allclose(model_z, torch.full((1, 1, 3), 0.5 / losses.STD_FLOOR))


def test_psth_loss_is_z_scored_by_the_data_or_the_given_scale():
    data = torch.tensor([[0.0, 1.0], [2.0, 1.0]])  # channel 0: std 1; channel 1: constant (std floored)
    model = data + torch.tensor([[1.0, 0.0]])
    assert float(losses.psth_loss(model, data)) == pytest.approx(0.5)   # (1/1)^2 on channel 0 only, mean of 4
    scale = torch.tensor([2.0, 1.0])
    assert float(losses.psth_loss(model, data, scale)) == pytest.approx(0.25 / 2)
    floored = data + torch.tensor([[0.0, 2e-3]])
    assert float(losses.psth_loss(floored, data)) == pytest.approx(2 * 2.0 ** 2 / 4, rel=1e-4)  # (2e-3 / floor)^2


def test_psth_averages_trials_then_filters():
    x = torch.tensor([[[0.0], [2.0], [4.0], [6.0]], [[2.0], [2.0], [2.0], [2.0]]])
    assert losses.psth(x, 2)[:, 0].tolist() == pytest.approx([1.5, 2.5, 3.5])


def test_baseline_rate_loss_in_hz():
    trial_mean = torch.tensor([[0.01, 0.0], [0.03, 0.0], [1.0, 1.0]])  # spikes per 2 ms step, per neuron
    rates = losses.baseline_rates(trial_mean, 0.002, 2)
    assert rates.tolist() == pytest.approx([10.0, 0.0])
    assert float(losses.rate_loss(trial_mean, torch.tensor([4.0, 2.0]), 0.002, 2)) == pytest.approx((36 + 4) / 2)


def test_gradient_normalizer_gives_each_task_its_weight_of_a_unit_gradient():
    normalizer = losses.GradientNormalizer({"a": 3.0, "b": 1.0, "off": 0.0})
    assert set(normalizer.weights) == {"a", "b"} and normalizer.weights["a"] == pytest.approx(0.75)
    x = torch.ones(4, 2, requires_grad=True)
    copies = normalizer.split(x)
    (1000 * copies["a"].sum() + 0.001 * copies["b"].sum()).backward()
    # each task's gradient (all ones times its scale) is divided by its RMS norm per trial (sqrt(2) * scale)
    assert torch.allclose(x.grad, torch.full((4, 2), (0.75 + 0.25) / math.sqrt(2)))
    state = normalizer.state_dict()
    assert state["updates"] == {"a": 1, "b": 1}
    fresh = losses.GradientNormalizer({"a": 3.0, "b": 1.0})
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state


def test_gradient_normalizer_running_average_is_bias_corrected():
    normalizer = losses.GradientNormalizer({"a": 1.0}, beta=0.5)
    (g1,) = normalizer.observe("a", torch.full((1, 4), 2.0), metric=(1.0,), n_trials=1)   # |g|^2 = 16
    assert torch.allclose(g1, torch.full((1, 4), 0.5))                                     # 2 / sqrt(16)
    (g2,) = normalizer.observe("a", torch.full((1, 4), 1.0), metric=(1.0,), n_trials=1)   # |g|^2 = 4
    corrected = (0.5 * 0.5 * 16 + 0.5 * 4) / (1 - 0.25)                                   # = 8
    assert torch.allclose(g2, torch.full((1, 4), 1 / math.sqrt(corrected)))


def test_gradient_normalizer_rejects_weights_without_a_positive_sum():
    from nwb_biornn.core.errors import UserError

    with pytest.raises(UserError, match="positive sum"):
        losses.GradientNormalizer({"a": 0.0})


def test_trial_matching_subsample_is_a_function_of_the_generator_and_works_without_one():
    zeros = torch.zeros(3, 1)
    for seed in range(10):
        first = losses.trial_matching_loss(VALUES, zeros, generator=np.random.default_rng(seed))
        again = losses.trial_matching_loss(VALUES, zeros, generator=np.random.default_rng(seed))
        assert float(first) == float(again)
    assert round(float(losses.trial_matching_loss(VALUES, zeros)) * 3) in DISTINCT_SUMS


def test_trial_types_must_be_given_for_both_sets_or_neither():
    model, data = torch.zeros(2, 1), torch.ones(2, 1)
    with pytest.raises(ValueError, match="one trial type per trial"):
        losses.trial_matching_loss(model, data, model_types=["a", "b"])
    with pytest.raises(ValueError, match="one trial type per trial"):
        losses.trial_matching_loss(model, data, data_types=["a", "b"])


def test_sinkhorn_trial_matching_is_the_earth_movers_distance_per_root_feature():
    """p = 1: moving every trial by ``c`` in each of ``D`` features costs ``c sqrt(D)``, divided by ``sqrt(D)``;
    the Hungarian loss of the same sets is ``c ** 2`` (mean squared difference)."""
    generator = torch.Generator().manual_seed(4)
    data = torch.randn(40, 9, generator=generator)
    assert float(losses.trial_matching_loss(data + 0.5, data, "sinkhorn")) == pytest.approx(0.5, rel=0.02)
    assert float(losses.trial_matching_loss(data + 0.5, data, "hungarian")) == pytest.approx(0.25, rel=1e-5)
    assert float(losses.sinkhorn_loss(data, data.clone())) == pytest.approx(0.0, abs=1e-3)


def test_sinkhorn_blur_of_a_hundredth_sees_a_spread_of_a_few_hundredths():
    """Blur 0.01: trials spread by +-0.03 around trials that are all equal cost nearly the 0.03 that moves them (a
    blur of 0.05 would smooth the spread away and report 0.019)."""
    collapsed, spread = torch.zeros(2, 1), torch.tensor([[-0.03], [0.03]])
    assert 0.8 * 0.03 < float(losses.sinkhorn_loss(collapsed, spread)) <= 0.03


def test_sinkhorn_without_geomloss_says_how_to_install_it(monkeypatch):
    from nwb_biornn.core.errors import UserError

    monkeypatch.setitem(__import__("sys").modules, "geomloss", None)
    with pytest.raises(UserError) as error:
        losses.trial_matching_loss(torch.zeros(2, 1), torch.ones(2, 1), "sinkhorn")
    assert str(error.value) == "fit.trial_matching = 'sinkhorn' needs geomloss: pip install 'nwb-biornn[sinkhorn]'"


def test_group_features_filter_with_the_first_width_then_the_second():
    rates = torch.arange(12.0).reshape(1, 12, 1) ** 2
    features = losses.group_features(rates, None, (2, 4))
    assert torch.allclose(features, losses.box_filter(losses.box_filter(rates, 2), 4).transpose(1, 2))
    assert features.shape == (1, 1, 5)   # 12 bins -> 11 (width 2, stride 1) -> 5 (width 4, stride 2, padding 1)


def test_population_features_keep_the_spikes_precision():
    generator = torch.Generator().manual_seed(5)
    spikes = (torch.rand(3, 20, 4, generator=generator) < 0.3).double()
    groups = [np.array([0, 1]), np.array([2, 3])]
    features = losses.population_features(spikes, None, groups, (2, 2))
    assert features.dtype == torch.float64
    assert torch.allclose(features.float(), losses.population_features(spikes.float(), None, groups, (2, 2)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_features_and_trial_matching_on_the_gpu():
    spikes = (torch.rand(6, 20, 4) < 0.3).float()
    groups = [np.array([0, 1]), np.array([2, 3])]
    on_gpu = losses.population_features(spikes.cuda(), None, groups, (2, 2))
    assert on_gpu.device.type == "cuda"
    assert torch.allclose(on_gpu.cpu(), losses.population_features(spikes, None, groups, (2, 2)))
    types = np.array(["a", "b"] * 3)
    loss = losses.trial_matching_loss(on_gpu, on_gpu.flip(0)[:4], model_types=types, data_types=types[:4],
                                      generator=np.random.default_rng(0))
    assert loss.device.type == "cuda" and torch.isfinite(loss)


def test_columns_of_indexes_with_integers():
    assert losses.columns_of([]).dtype == torch.int64
    assert losses.columns_of([0, 2, 3]).dtype == torch.int64


def test_gradient_normalizer_weighs_squared_entries_by_a_metric_and_averages_over_n_trials():
    """With a tensor metric ``w`` the squared norm is ``sum(w * g^2) / n_trials``."""
    normalizer = losses.GradientNormalizer({"a": 1.0})
    x = torch.ones(2, 3, requires_grad=True)
    copy = normalizer.split(x, metric=(torch.tensor([1.0, 4.0, 0.0]),), n_trials=5)["a"]
    (2 * copy).sum().backward()
    squared = (4 * (1 + 4 + 0) * 2) / 5                  # g = 2 everywhere, two rows
    assert torch.allclose(x.grad, torch.full((2, 3), 2 / math.sqrt(squared)))


def test_gradient_normalizer_splits_several_outputs_together():
    normalizer = losses.GradientNormalizer({"a": 1.0, "b": 1.0})
    x, y = torch.ones(2, 1, requires_grad=True), torch.ones(2, 2, requires_grad=True)
    copies = normalizer.split(x, y)
    assert isinstance(copies["a"], tuple) and len(copies["a"]) == 2
    (3 * copies["a"][0].sum() + 4 * copies["a"][1].sum() + copies["b"][1].sum()).backward()
    # task a: gradients 3 (x) and 4 (y) normalized together: squared norm (2 * 9 + 4 * 16) / 2 = 41
    assert torch.allclose(x.grad, torch.full((2, 1), 0.5 * 3 / math.sqrt(41)))
    # task b reaches y only: squared norm 4 / 2 = 2
    assert torch.allclose(y.grad, torch.full((2, 2), 0.5 * 4 / math.sqrt(41) + 0.5 / math.sqrt(2)))


def test_gradient_normalizer_running_average_uses_beta_0999_by_default():
    normalizer = losses.GradientNormalizer({"a": 1.0})
    normalizer.observe("a", torch.full((1, 1), 1.0), metric=(1.0,), n_trials=1)             # squared norm 1
    (g,) = normalizer.observe("a", torch.full((1, 1), 3.0), metric=(1.0,), n_trials=1)     # squared norm 9
    beta = 0.999
    assert float(g) == pytest.approx(3 / math.sqrt((beta * 1 + 9) / (1 + beta)))


def test_gradient_normalizer_message_names_the_setting():
    from nwb_biornn.core.errors import UserError

    with pytest.raises(UserError) as error:
        losses.GradientNormalizer({"trial": 0.0, "psth": 0.0})
    assert str(error.value) == "fit.loss_weights must have a positive sum"
