"""Every preset, fitted briefly, has the properties that define it (method.md §2.4, docs/decisions.md).

The table :data:`DEFINITION` is written from the paper, not read from ``core/config.py``: a preset whose
configuration drifts from its definition (say ``trial_matching`` planted back into ``no_trial_matching``) fails
here on the fitted network or its losses, not only on its configuration.
"""
import copy
import dataclasses

import numpy as np
import pytest
import torch
from synthetic_sessions import make_session

from nwb_biornn.core.config import PRESETS, FitConfig, preset
from nwb_biornn.fit import losses
from nwb_biornn.fit.trainer import fit

# preset: (spiking units, Dale's law, inhibition local to its area, L1/2 strength on across-area weights,
#          trial-matching loss)
DEFINITION = {
    "biornn": (True, True, True, 0.016, True),
    "sigma_rnn": (False, False, False, 0.0, True),
    "no_spike": (False, True, True, 0.016, True),
    "no_dale": (True, False, True, 0.016, True),
    "nonlocal_inhibition": (True, True, False, 0.016, True),
    "no_sparsity": (True, True, True, 0.0, True),
    "no_trial_matching": (True, True, True, 0.016, False),
}
SPARSITY_WITHIN = 1e-3
"""The L1/2 strength on every recurrent weight (``l1_decay`` of the reference code), in every preset."""
REFRACTORY_STEPS = 2
"""4 ms at the 2 ms step of the session below."""
QUICK = FitConfig(steps=4, batch_size=8, lr=0.01, eval_every=2, checkpoint_every=100)


def _property(name, index):
    return DEFINITION[name][index]


@pytest.fixture(scope="module")
def session():
    return make_session(n_trials=24, n_time=50, units_per_area=(6, 2))


@pytest.fixture(scope="module")
def fitted(session):
    """Every preset fitted for a few steps, with the number of trial-matching losses its fit computed."""
    results = {}
    original = losses.trial_matching_loss
    for name in DEFINITION:
        calls = []

        def counting(*args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        model_config, fit_config = preset(name)
        fit_config = dataclasses.replace(QUICK, trial_matching=fit_config.trial_matching)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(losses, "trial_matching_loss", counting)
            results[name] = (fit([session], model_config, fit_config), len(calls))
    return results


def test_every_preset_is_defined_here():
    assert set(PRESETS) == set(DEFINITION)


@pytest.mark.parametrize("name", DEFINITION)
def test_preset_configuration_follows_its_definition(name):
    model, fit_config = preset(name)
    spiking, dale, local, across, matching = DEFINITION[name]
    assert (model.spiking, model.dale, model.local_inhibition) == (spiking, dale, local)
    assert model.sparsity_across == across and model.sparsity_within == SPARSITY_WITHIN
    assert (fit_config.trial_matching != "none") == matching


@pytest.mark.parametrize("name", DEFINITION)
def test_spike_function(fitted, session, name):
    """Spiking presets emit 0/1 spikes with a refractory period; sigmoid presets emit graded rates, no refractoriness."""
    result, _ = fitted[name]
    with torch.no_grad():
        spikes = result.model.simulate(torch.as_tensor(session.inputs[:8]), seed=0).spikes.numpy()
    if _property(name, 0):
        assert set(np.unique(spikes)) == {0.0, 1.0}
        trial, step, neuron = np.nonzero(spikes)
        order = np.lexsort((step, neuron, trial))
        same_neuron = (np.diff(trial[order]) == 0) & (np.diff(neuron[order]) == 0)
        assert np.all(np.diff(step[order])[same_neuron] > REFRACTORY_STEPS)
        assert int(result.model.refractory_steps.min()) == REFRACTORY_STEPS
    else:
        assert spikes.min() >= 0 and spikes.max() <= 1                  # at most dt_ms / 2 = 1 per step (500 Hz)
        graded = (spikes > 0) & (spikes < 1)
        assert graded.mean() > 0.5 and len(np.unique(spikes)) > spikes.size // 2   # rates, not 0/1 events
        assert int(result.model.refractory_steps.max()) == 0


@pytest.mark.parametrize("name", DEFINITION)
def test_dale_law(fitted, name):
    """With Dale's law every weight keeps its presynaptic neuron's sign (inputs and readout are non-negative);
    without it, the fit has already given some weights the other sign."""
    model = fitted[name][0].model
    weights = model.recurrent_weights().detach()
    excitatory = model.excitatory
    wrong_sign = (weights[:, excitatory] < 0).sum() + (weights[:, ~excitatory] > 0).sum()
    if _property(name, 1):
        assert int(wrong_sign) == 0
        assert (model.input_weights >= 0).all() and (model.readout_weights >= 0).all()
        assert (weights[:, excitatory] > 0).any() and (weights[:, ~excitatory] < 0).any()
    else:
        assert int(wrong_sign) > 0


@pytest.mark.parametrize("name", DEFINITION)
def test_inhibition_local_to_its_area(fitted, name):
    """Local inhibition: no synapse at all from an inhibitory neuron to another area. Otherwise such synapses exist
    and the fit has made some of them non-zero (they start at zero, as every across-area weight does)."""
    model = fitted[name][0].model
    layout = model.layout
    across = layout.area[:, None] != layout.area[None, :]
    from_inhibitory = across & ~layout.excitatory[None, :]
    weights = model.recurrent_weights().detach().numpy()
    mask = model.mask.numpy()
    if _property(name, 2):
        assert not mask[from_inhibitory].any() and np.all(weights[from_inhibitory] == 0)
    else:
        assert mask[from_inhibitory].all() and np.count_nonzero(weights[from_inhibitory]) > 0
    assert mask[across & layout.excitatory[None, :]].all()       # excitatory synapses cross areas in every preset
    assert not np.diag(mask).any()                               # and no preset has self-connections


@pytest.mark.parametrize("name", DEFINITION)
def test_sparsity_step_on_across_area_weights(fitted, name):
    """The fitted network's constraint step shrinks each weight ``w`` by ``lr * s / sqrt(|w|)``, with
    ``s = sparsity_within`` inside an area and ``sparsity_within + sparsity_across`` across areas."""
    model = copy.deepcopy(fitted[name][0].model)
    layout = model.layout
    across = torch.as_tensor(layout.area[:, None] != layout.area[None, :])
    allowed = model.mask & torch.as_tensor(layout.excitatory)[None, :]     # excitatory synapses: allowed across areas
    magnitude = 0.04
    with torch.no_grad():
        model.weight.copy_(torch.where(allowed, magnitude, 0.0))
    before, lr = model.snapshot(), 1e-3
    model.constrain_(before, lr)
    after = model.recurrent_weights().detach().abs()
    across_strength = _property(name, 3)
    expected_within = magnitude - lr * SPARSITY_WITHIN / magnitude ** 0.5
    expected_across = magnitude - lr * (SPARSITY_WITHIN + across_strength) / magnitude ** 0.5
    torch.testing.assert_close(after[allowed & ~across], torch.full_like(after[allowed & ~across], expected_within))
    torch.testing.assert_close(after[allowed & across], torch.full_like(after[allowed & across], expected_across))
    small = torch.where(allowed, 1e-6, 0.0)
    with torch.no_grad():
        model.weight.copy_(small)
    model.constrain_(model.snapshot(), lr)
    pushed_through_zero = model.recurrent_weights().detach()[allowed]
    assert torch.equal(pushed_through_zero, torch.zeros_like(pushed_through_zero))


@pytest.mark.parametrize("name", DEFINITION)
def test_trial_matching_term_in_the_losses(fitted, name):
    """With trial matching the fit computes the trial-matching loss every step, records it and weighs it 2 : 1 : 1
    against the PSTH and rate losses; without it the loss is never computed (so it sends no gradient) nor
    recorded, and the total is the PSTH and rate losses alone."""
    result, calls = fitted[name]
    history = result.history
    assert len(history) == QUICK.steps
    if _property(name, 4):
        assert calls >= QUICK.steps
        for h in history:
            assert np.isfinite(h["trial"]) and h["trial"] > 0
            assert h["total"] == pytest.approx(2 * h["trial"] + h["psth"] + h["rate"], rel=1e-5)
    else:
        assert calls == 0
        for h in history:
            assert "trial" not in h
            assert h["total"] == pytest.approx(h["psth"] + h["rate"], rel=1e-5)
