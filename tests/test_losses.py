import itertools
import math

import numpy as np
import pytest
import torch

from nwb_biornn.fit import losses


def test_filter_widths_in_bins():
    assert losses.filter_widths(0.008, 2, 0.002) == (4, 4)
    assert losses.filter_widths(0.012, 2, 0.002) == (6, 4)
    assert losses.filter_widths(0.001, 1, 0.002) == (1, 2)


def test_box_filter_matches_hand_computed_windows():
    x = torch.randn(2, 11, 3, generator=torch.Generator().manual_seed(0))
    out = losses.box_filter(x, 4)  # stride 2, padding 1, padded entries not counted
    starts = range(-1, 11 + 1 - 4 + 1, 2)
    expected = torch.stack([x[:, max(s, 0):min(s + 4, 11)].mean(1) for s in starts], 1)
    assert torch.allclose(out, expected)
    assert out.shape == (2, 5, 3)


def test_population_features_average_groups_then_filter():
    spikes = torch.zeros(1, 8, 4)
    spikes[0, :, 0] = 1  # group 0 = neurons {0, 1}: mean 0.5
    behaviour = torch.stack([torch.full((1, 8), 3.0), torch.full((1, 8), 7.0)], -1)  # two ports
    features = losses.population_features(spikes, behaviour, [np.array([0, 1]), np.array([2, 3])], (2, 2))
    assert features.shape == (1, 4, 6)  # width 2: stride 1, no padding: 8 -> 7 -> 6
    assert torch.allclose(features[0, 0], torch.tensor(0.5)) and torch.allclose(features[0, 1], torch.tensor(0.0))
    assert torch.allclose(features[0, 2], torch.tensor(3.0)) and torch.allclose(features[0, 3], torch.tensor(7.0))
    neural = losses.population_features(spikes, None, [np.array([0, 1]), np.array([2, 3])], (2, 2))
    assert torch.equal(neural, features[:, :2])


def test_zscore_features_uses_data_statistics():
    generator = torch.Generator().manual_seed(1)
    data = torch.randn(30, 2, 6, generator=generator) * torch.tensor([1.0, 5.0])[:, None] + 4
    model_z, data_z = losses.zscore_features(data[:3] + 1, data)
    assert torch.allclose(data_z.mean(0), torch.zeros(2, 6), atol=1e-5)
    assert torch.allclose(data_z.pow(2).mean((0, 2)), torch.ones(2))
    assert torch.allclose(model_z, data_z[:3] + 1 / (data - data.mean(0)).pow(2).mean((0, 2)).sqrt()[:, None])


def test_hungarian_matches_brute_force_over_permutations():
    generator = torch.Generator().manual_seed(2)
    for _ in range(5):
        model, data = torch.randn(5, 7, generator=generator), torch.randn(5, 7, generator=generator)
        brute = min(sum(((model[i] - data[j]) ** 2).mean() for i, j in enumerate(perm)) / 5
                    for perm in itertools.permutations(range(5)))
        assert losses.hungarian_loss(model, data).item() == pytest.approx(brute.item(), rel=1e-5)


def test_trial_matching_is_zero_for_shuffled_copies_and_subsamples_the_larger_set():
    generator = torch.Generator().manual_seed(3)
    data = torch.randn(6, 2, 5, generator=generator)
    model = data[torch.tensor([3, 0, 5, 1, 4, 2])].clone().requires_grad_()
    loss = losses.trial_matching_loss(model, data)
    assert loss.item() == pytest.approx(0, abs=1e-6)
    loss.backward()
    assert torch.allclose(model.grad, torch.zeros_like(model), atol=1e-6)
    many = losses.trial_matching_loss(data, torch.cat([data, data + 10]), generator=np.random.default_rng(0))
    assert many.item() > 0


def test_typed_trial_matching_pairs_trials_only_within_their_type():
    swapped = torch.tensor([[3.0], [0.0]])  # the go response on the no-go trial and vice versa
    assert losses.trial_matching_loss(swapped, torch.tensor([[0.0], [3.0]])).item() == pytest.approx(0)
    typed = losses.trial_matching_loss(swapped, torch.tensor([[0.0], [3.0]]), model_types=["go", "nogo"],
                                       data_types=["go", "nogo"])
    assert typed.item() == pytest.approx(9.0)
    data = torch.tensor([[0.0], [0.0], [3.0]])
    data_types = ["go", "go", "nogo"]
    model = torch.tensor([[1.0], [2.0], [5.0], [7.0]], requires_grad=True)
    loss = losses.trial_matching_loss(model, data, model_types=["go", "go", "nogo", "other"], data_types=data_types)
    assert loss.item() == pytest.approx((1 + 4 + 4) / 3)  # two go pairs, one no-go pair; "other" has no data
    loss.backward()
    np.testing.assert_allclose(model.grad.numpy().ravel(), [2 * 1 / 3, 2 * 2 / 3, 2 * 2 / 3, 0], rtol=1e-6)


def test_typed_trial_matching_subsamples_within_each_type_and_rejects_bad_labels():
    data = torch.tensor([[0.0], [0.0], [0.0], [3.0]])
    model = torch.tensor([[0.0], [3.0], [3.0]])
    loss = losses.trial_matching_loss(model, data, generator=np.random.default_rng(0), model_types=["a", "b", "b"],
                                      data_types=["a", "a", "a", "b"])
    assert loss.item() == pytest.approx(0)
    with pytest.raises(ValueError, match="no trial type in common"):
        losses.trial_matching_loss(model, data, model_types=["c"] * 3, data_types=["a"] * 4)
    with pytest.raises(ValueError, match="one trial type per trial"):
        losses.trial_matching_loss(model, data, model_types=["a"], data_types=["a"] * 4)


def test_sinkhorn_is_small_for_equal_sets_and_grows_with_distance():
    pytest.importorskip("geomloss")
    generator = torch.Generator().manual_seed(4)
    data = torch.randn(20, 4, generator=generator)
    same = losses.trial_matching_loss(data, data.clone(), "sinkhorn")
    far = losses.trial_matching_loss(data + 2, data, "sinkhorn")
    assert abs(same.item()) < 1e-3 and far.item() > 0.5


def test_psth_loss_closed_form():
    generator = torch.Generator().manual_seed(5)
    data = torch.randn(12, 3, generator=generator)
    std = data.std(0, unbiased=False)
    shift = torch.tensor([0.5, 1.0, 2.0])
    assert losses.psth_loss(data + shift * std, data).item() == pytest.approx((shift ** 2).mean().item(), rel=1e-5)
    flat = torch.zeros(12, 1)  # a silent unit: std floored, not a division by zero
    assert losses.psth_loss(flat + 1e-3, flat).item() == pytest.approx(1.0, rel=1e-5)


def test_psth_averages_trials_after_filtering():
    x = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    assert torch.allclose(losses.psth(x, 1), x.mean(0))


def test_rate_loss_closed_form():
    spikes = torch.zeros(4, 10, 2)
    spikes[:, :5, 0] = 1  # neuron 0: 1 spike per step in the window -> 1/dt Hz
    rates = losses.baseline_rates(spikes.mean(0), 0.002, 5)
    assert torch.allclose(rates, torch.tensor([500.0, 0.0]))
    loss = losses.rate_loss(spikes.mean(0), torch.tensor([490.0, 4.0]), 0.002, 5)
    assert loss.item() == pytest.approx((100 + 16) / 2, rel=1e-5)


def test_gradient_normalizer_gives_each_task_its_weight_of_a_unit_gradient():
    normalizer = losses.GradientNormalizer({"trial": 2.0, "psth": 1.0, "rate": 0.0}, beta=0.9)
    assert set(normalizer.weights) == {"trial", "psth"}
    grads = []
    for scale_a, scale_b in ((10.0, 1.0), (20.0, 1.0)):
        x = torch.ones(4, 3, requires_grad=True)
        copies = normalizer.split(x)
        (scale_a * copies["trial"].sum() + scale_b * (copies["psth"] ** 2).sum()).backward()
        grads.append(x.grad)
    # squared norms per trial: trial task 3 a^2, psth task 3 (2b)^2; bias-corrected EMAs after 1 and 2 updates
    ema_a1, ema_b1 = 3 * 100.0, 3 * 4.0
    assert torch.allclose(grads[0], torch.full((4, 3), 2 / 3 * 10 / math.sqrt(ema_a1) + 1 / 3 * 2 / math.sqrt(ema_b1)))
    ema_a2 = (0.9 * 0.1 * 300 + 0.1 * 1200) / (1 - 0.81)
    ema_b2 = (0.9 * 0.1 * 12 + 0.1 * 12) / (1 - 0.81)
    assert torch.allclose(grads[1], torch.full((4, 3), 2 / 3 * 20 / math.sqrt(ema_a2) + 1 / 3 * 2 / math.sqrt(ema_b2)))
    restored = losses.GradientNormalizer({"trial": 2.0, "psth": 1.0})
    restored.load_state_dict(normalizer.state_dict())
    assert restored.average == normalizer.average and restored.updates == normalizer.updates


def test_choice_loss_is_the_kl_divergence_of_the_mean_simulated_distribution_within_trial_types():
    recorded = losses.choice_distributions(np.array(["left", "left", "right", "none", "right", ""]),
                                           np.array(["l", "l", "l", "l", "r", "r"]), ("left", "right"))
    assert np.allclose(recorded["l"], [0.5, 0.25, 0.25]) and np.allclose(recorded["r"], [0.0, 1.0, 0.0])
    simulated = torch.tensor([[0.6, 0.2, 0.2], [0.4, 0.2, 0.4], [0.1, 0.8, 0.1]], dtype=torch.float64)
    value = losses.choice_loss(simulated, np.array(["l", "l", "r"]), recorded)
    kl_l = sum(p * math.log(p / q) for p, q in zip([0.5, 0.25, 0.25], [0.5, 0.2, 0.3]))
    kl_r = math.log(1 / 0.8)
    assert float(value) == pytest.approx((2 * kl_l + kl_r) / 3)
    assert losses.choice_loss(simulated, np.array(["x", "x", "x"]), recorded) is None
