"""The reference circuits as trained teachers: bioRNNs fitted to the hand-built circuits (method.md §1a, stage 1).

The paper's ground-truth circuits were not wired by hand but trained with the students' own code, so that they
live where fitted models live. Ours are made the same way from :func:`~nwb_biornn.synthetic.circuits.hand_built_circuit`:

1. record every neuron (75 per area) of the hand-built circuit in a demo session (600 trials, every light
   condition of the demo protocol);
2. fit a ``biornn`` model to its light-off and inactivation trials, with the circuit's connectivity imposed:
   no ``B -> A`` synapse at all for ``refcirc1``; nothing more than the bioRNN's own constraints for ``2afc``; for ``refcirc2`` the summed ``B -> A`` weight is held equal to
   the summed ``A -> B`` weight after every step (a projection in place of the paper's penalty
   ``0.1 |sum W_AB - sum W_BA|``). Inactivating ``B`` is what shows the feedback, so those trials are fitted;
   activation trials are not;
3. ship the teacher as ``nwb_biornn/synthetic/reference_circuits/<name>.npz``
   (:func:`~nwb_biornn.synthetic.circuits.save_circuit`).

Regenerate the shipped teachers (about 3 minutes per demo-size circuit on one core, 9 to 10 per paper-size one, as
docs/demo.md says)::

    python scripts/regenerate_teachers.py

Examples
--------
>>> teacher = train_teacher("refcirc2", steps=2, n_trials=40)   # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import tempfile

import numpy as np
import torch

from nwb_biornn.core.config import preset
from nwb_biornn.core.session import UNPERTURBED, Session
from nwb_biornn.fit.trainer import build_trainer
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.network import BioRNN
from nwb_biornn.model.threads import single_thread_if_small
from nwb_biornn.recordings.nwbfile import load_session
from nwb_biornn.synthetic import circuits, demo, hemispheres

TEACHER_STEPS = 1000
"""Training steps of a teacher."""
PAPER_TEACHER_STEPS = 500
"""Training steps of a paper-size teacher: 500 take 9 to 10 minutes on one core, its recording included."""
NOT_FITTED = "activation (not fitted by the teacher)"
"""Exclusion reason given to the activation trials of the recording a teacher is fitted to."""


def teacher_steps(name: str) -> int:
    """Training steps of the shipped teacher of circuit ``name``."""
    return PAPER_TEACHER_STEPS if name.startswith(circuits.PAPER_PREFIX) else TEACHER_STEPS


def train_teacher(name: str, steps: int | None = None, seed: int = 0, n_trials: int | None = None,
                  progress=None) -> BioRNN:
    """A bioRNN fitted to every neuron of hand-built circuit ``name``, with its connectivity imposed.

    Parameters
    ----------
    name : {"refcirc1", "refcirc2", "paper-refcirc1", "paper-refcirc2", "2afc"}
    steps, seed
        Training steps (default: :func:`teacher_steps`) and seed of the fit (the recording uses seed 0).
    n_trials
        Trials of the recording it is fitted to (default: the demo's).
    progress : callable, optional
        ``progress(step, metrics)`` after every step.
    """
    session = teacher_recording(name, n_trials)
    model_config, fit_config = preset("biornn")
    steps = teacher_steps(name) if steps is None else steps
    fit_config = dataclasses.replace(fit_config, steps=steps, seed=seed, train_on_perturbed=True)
    trainer = build_trainer([session], model_config, fit_config)
    impose_connectivity(trainer.model, name)
    with single_thread_if_small(trainer.model, fit_config.batch_size):
        trainer.run(progress)
    return trainer.result_model()


def hand_built(name: str) -> tuple[BioRNN, NeuronLayout]:
    """Hand-built circuit ``name``: a go/no-go reference circuit or the two-hemisphere ``2afc`` circuit."""
    if name == demo.TWO_CHOICE:
        return hemispheres.hand_built_circuit()
    return circuits.hand_built_circuit(name)


def teacher_recording(name: str, n_trials: int | None = None) -> Session:
    """The session a teacher is fitted to: every neuron of hand-built circuit ``name``, activation trials excluded."""
    network = hand_built(name)
    with tempfile.TemporaryDirectory() as scratch:
        every_neuron = network[1].n_neurons // len(network[1].areas)
        folder = demo.write_demo_dandiset(scratch, name, n_trials=n_trials, network=network,
                                          units_per_area=every_neuron)
        session = load_session(next(folder.glob("sub-*/*.nwb")), bin_size=network[0].dt)
    activation = np.array([c != UNPERTURBED and session.conditions[c].cell_type == "E" for c in session.condition])
    session.excluded = np.where(activation & session.usable, NOT_FITTED, session.excluded)
    return session


def impose_connectivity(model: BioRNN, name: str) -> None:
    """Give ``model`` the across-area connectivity of circuit ``name`` for the rest of its training.

    ``2afc``: nothing beyond the bioRNN's own constraints (local inhibition, sparse across-area synapses).
    ``refcirc1``: every ``B -> A`` synapse removed from the mask. ``refcirc2``: after each of the model's
    constraint steps, the ``B -> A`` weights are rescaled so that they sum to the ``A -> B`` weights' sum (spread
    evenly over the allowed synapses when they have all been pruned to zero). Inputs and readout stay free, as
    in the paper's teachers: making them reach ``A`` only and read ``B`` only, as in the hand-built circuits,
    gave a RefCirc2 teacher whose activation response no student fitted to it predicted (docs/demo.md).
    """
    if name == demo.TWO_CHOICE:
        return
    wiring = circuits.base_circuit(name)
    area = np.asarray(model.layout.area)
    in_a, in_b = torch.as_tensor(area == "A"), torch.as_tensor(area == "B")
    feedback, feedforward = in_a[:, None] & in_b[None, :], in_b[:, None] & in_a[None, :]  # [post, pre]
    if wiring == "refcirc1":
        with torch.no_grad():
            model.mask &= ~feedback
            model.weight.mul_(model.mask)
        return
    allowed = feedback & model.mask

    def match_feedback(model):
        target, current = (model.weight * feedforward).sum(), (model.weight * allowed).sum()
        if current > 0:
            model.weight[allowed] *= target / current
        else:
            model.weight[allowed] = target / allowed.sum()

    model.constraints.append(match_feedback)
