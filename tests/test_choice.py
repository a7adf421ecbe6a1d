"""The choice rule (nwb_biornn.model.choice) against its closed forms and finite differences."""
import math

import numpy as np
import pytest
import torch

from nwb_biornn.model.choice import first_bout_probabilities


def test_one_port_gives_the_poisson_probability_of_at_least_one_bout():
    rates = torch.tensor([[[4.0], [0.0], [6.0]], [[0.0], [0.0], [0.0]]], dtype=torch.float64)
    p = first_bout_probabilities(rates, dt=0.1, licks_per_bout=2.0)
    expected_bouts = np.array([1.0, 0.0]) / 2.0
    assert np.allclose(p[:, 0].numpy(), -np.expm1(-expected_bouts))
    assert np.allclose(p[:, 1].numpy(), np.exp(-expected_bouts))


def test_constant_rates_split_the_first_bout_in_proportion_to_the_rates():
    left, right, duration, dt = 3.0, 9.0, 0.5, 0.01
    rates = torch.tensor([[left, right]], dtype=torch.float64).expand(round(duration / dt), 2)[None]
    p = first_bout_probabilities(rates, dt).numpy()[0]
    responded = 1 - math.exp(-(left + right) * duration)
    assert p == pytest.approx([left / 12 * responded, right / 12 * responded, 1 - responded])


def test_an_early_bout_at_one_port_takes_the_choice_before_a_later_one_at_the_other():
    rates = torch.zeros(1, 10, 2, dtype=torch.float64)
    rates[0, :3, 0] = 50.0
    rates[0, 3:, 1] = 50.0
    p = first_bout_probabilities(rates, dt=0.01)[0]
    assert p[0] == pytest.approx(1 - math.exp(-1.5))
    assert p[1] == pytest.approx(math.exp(-1.5) * (1 - math.exp(-3.5)))
    assert p.sum() == pytest.approx(1.0)


def test_probabilities_are_differentiable_and_match_finite_differences():
    rates = torch.rand(3, 6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 20
    rates.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r: first_bout_probabilities(r, 0.01, 1.5), (rates,))
