"""The random draws of a simulation's warm-up and trials, for step-by-step references of the network.

Import with ``from reference_draws import simulation_draws``.
"""
import torch

from nwb_biornn.model.draws import draw_all


def simulation_draws(model, k: int, n_time: int, seed: int) -> tuple:
    """Standard normals and log-uniforms (None for sigmoid units), (warm-up + T, K, N) in float64, as
    ``model.simulate(..., seed=seed)`` of K trials of T steps draws them (run 0: warm-up, run 1: trials)."""
    n_warm = round(model.config.warmup / model.dt)
    runs = [draw_all((length, k, model.n_neurons), seed, run, model.config.spiking, dtype=torch.float64)
            for run, length in enumerate((n_warm, n_time))]
    noise = torch.cat([noise for noise, _ in runs])
    return noise, torch.cat([logs for _, logs in runs]) if model.config.spiking else None
