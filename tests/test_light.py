import numpy as np
import pytest
import torch

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import Condition
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.light import MW_TO_CURRENT, light_current

LAYOUT = NeuronLayout.hidden({"A": 4, "B": 4}, excitatory_fraction=0.5)
TIME = -0.01 + 0.001 * np.arange(40)


def test_constant_light_hits_only_the_target_population_in_mw():
    light = light_current(Condition("B", "I", 0.0, 0.010, 5.0), LAYOUT, TIME)
    assert light.shape == (40, 8) and light.dtype == torch.float32
    on = (TIME >= 0) & (TIME < 0.010)
    assert MW_TO_CURRENT * 5 == pytest.approx(0.2)
    assert torch.allclose(light[on][:, 6:], torch.tensor(0.2))
    assert light[~on].abs().sum() == 0 and light[:, :6].abs().sum() == 0


def test_model_unit_power_is_used_as_is_and_activation_targets_excitatory():
    light = light_current(Condition("A", "E", 0.0, 0.005, 0.07, power_unit="model"), LAYOUT, TIME)
    assert torch.allclose(light[10:15, :2], torch.tensor(0.07)) and light[:, 2:].abs().sum() == 0


def test_pulsed_light_is_a_half_duty_square_wave_from_onset():
    light = light_current(Condition("A", "I", 0.0, 0.020, 1.0, "pulsed", frequency=100.0, power_unit="model"),
                          LAYOUT, TIME)[:, 2]
    expected = np.zeros(40)
    for start in (10, 20):  # 100 Hz: 5 ms on, 5 ms off, from onset to offset
        expected[start:start + 5] = 1
    assert np.allclose(light.numpy(), expected)


def test_ramp_goes_linearly_to_zero_after_offset():
    light = light_current(Condition("A", "I", 0.0, 0.010, 2.0, "ramp", ramp_down=0.004, power_unit="model"),
                          LAYOUT, TIME)[:, 3]
    assert np.allclose(light[10:20].numpy(), 2.0)
    assert np.allclose(light[20:25].numpy(), [2.0, 1.5, 1.0, 0.5, 0.0])


def test_unknown_area_is_a_user_error():
    with pytest.raises(UserError, match="area 'C'"):
        light_current(Condition("C", "I", 0.0, 0.01, 1.0), LAYOUT, TIME)
