"""The spike summaries the losses read: values and gradients of the simulated ones against plain tensor operations
on the spikes, and the normalizer metric that makes the fit's gradient the same as when the losses read the spikes
themselves."""
import dataclasses

import numpy as np
import pytest
import torch
from synthetic_sessions import make_session

from nwb_biornn.core.config import FitConfig, ModelConfig
from nwb_biornn.fit import losses
from nwb_biornn.fit.summaries import group_averaging, summary_metric
from nwb_biornn.fit.trainer import build_trainer

GROUPS = ([0, 1, 2], [4], [5, 6])
N = 8


def plain(spikes, averaging):
    """Group rates (K, T, G) and trial means (T, N) of spikes (K, T, N)."""
    return spikes @ averaging, spikes.mean(0)


@pytest.mark.parametrize("n_shards", [1, 2])
def test_simulated_summaries_and_their_gradient_match_plain_operations_on_the_spikes(n_shards, sharded_runs, time_loop):
    """Group rates and trial means from simulate(averaging=...), and every parameter gradient through them and
    the behaviour, against the same simulation's spikes summarized by plain tensor operations."""
    sharded_runs(n_shards)
    session = make_session(n_trials=8, n_time=30, units_per_area=(5, 2))
    model = build_trainer([session], ModelConfig(), FitConfig()).model.double()  # sums in another order: rounding
    averaging = group_averaging(GROUPS, model.n_neurons).double()
    inputs = torch.rand(6, 30, model.n_inputs, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    upstream = torch.Generator().manual_seed(1)
    up_rates, up_mean, up_behaviour = (torch.randn(shape, generator=upstream, dtype=torch.float64)
                                       for shape in ((6, 30, len(GROUPS)), (30, model.n_neurons), (6, 30, 1)))
    results = []
    for summarized in (True, False):
        model.zero_grad()
        simulation = model.simulate(inputs, seed=3, averaging=averaging if summarized else None)
        rates, mean = ((simulation.group_rates, simulation.neuron_mean) if summarized
                       else plain(simulation.spikes, averaging))
        ((rates * up_rates).sum() + (mean * up_mean).sum() + (simulation.behaviour * up_behaviour).sum()).backward()
        results.append([rates, mean, simulation.behaviour]
                       + [p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(results[0]) == len(results[1]) >= 7
    for ours, reference in zip(*results):
        torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)


def test_metric_gives_the_squared_norm_of_the_spike_gradient():
    averaging = group_averaging(GROUPS, N)
    w_groups, w_mean = summary_metric(averaging, n_trials=4)
    generator = torch.Generator().manual_seed(2)
    g_rates, g_mean = torch.randn(4, 6, 3, generator=generator), torch.randn(6, N, generator=generator)
    for g_r, g_m in ((g_rates, torch.zeros_like(g_mean)), (torch.zeros_like(g_rates), g_mean)):
        spikes = torch.zeros(4, 6, N, requires_grad=True)
        rates, mean = plain(spikes, averaging)
        ((rates * g_r).sum() + (mean * g_m).sum()).backward()
        summarized = float((g_r.square() * w_groups).sum() + w_mean * g_m.square().sum())
        assert summarized == pytest.approx(float(spikes.grad.square().sum()), rel=1e-5)


def test_fit_gradient_equals_the_gradient_through_the_spikes():
    """One normalized training gradient, through the summaries (the fit) and through plain losses on spikes."""
    session = make_session(n_trials=24, n_time=40, units_per_area=(5, 2))
    config = dataclasses.replace(FitConfig(), batch_size=12)
    gradients = []
    for through_summaries in (True, False):
        trainer = build_trainer([session], ModelConfig(), config)
        objective, model = trainer.objective, trainer.model
        inputs, light, trial_type = objective.batch(objective.train, np.random.default_rng(0), config.batch_size)
        rng = np.random.default_rng(5)
        if through_summaries:
            outputs = objective.outputs(model, inputs, light, 3)
            copies = trainer.normalizer.split(*outputs, metric=objective.output_metric(len(inputs)))
            terms = objective.losses(copies, trial_type, "train", rng)
        else:
            simulation = model.simulate(inputs, light, seed=3)
            copies = trainer.normalizer.split(simulation.spikes, simulation.behaviour)
            terms = plain_losses(objective, copies, trial_type, rng)
        sum(terms[task] for task in objective.tasks).backward()
        gradients.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    assert gradients[0].keys() == gradients[1].keys() and len(gradients[0]) >= 4
    for name in gradients[0]:
        torch.testing.assert_close(gradients[0][name], gradients[1][name], rtol=1e-4, atol=1e-6)


def plain_losses(objective, copies, trial_type, rng):
    """The fit's three losses computed directly on the spikes (one session that covers the model)."""
    (data,) = objective.data["train"]
    groups = [np.flatnonzero(objective.averaging[:, g] > 0) for g in range(objective.averaging.shape[1])]
    spikes, behaviour = copies["trial"]
    model_z, data_z = losses.zscore_features(losses.population_features(spikes, behaviour, groups, objective.widths),
                                             data.features)
    terms = {"trial": losses.trial_matching_loss(model_z, data_z, objective.config.trial_matching, rng, trial_type,
                                                data.trial_type)}
    spikes, behaviour = copies["psth"]
    means = torch.cat([spikes.mean(0), behaviour.mean(0)], -1)
    terms["psth"] = losses.psth_loss(losses.psth(means[None], objective.widths[0]), data.psth)
    spikes, _ = copies["rate"]
    terms["rate"] = losses.rate_loss(spikes.mean(0), data.rates, objective.dt, objective.baseline_bins)
    return terms
