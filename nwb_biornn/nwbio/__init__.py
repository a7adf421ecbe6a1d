"""Fitted models <-> NWB model files (the only package that knows the model-file layout, see docs/schema.md).

One derived file per session, ``OUT/sub-<id>/sub-<id>_ses-<sid>_desc-<label>.nwb``, in a folder that is itself
a dandiset (``OUT/dandiset.yaml``). Each file stands alone: subject and session metadata, every unit and trial of
the source session, its optogenetic stimulation sites and lick events, the model (processing module ``biornn``,
ndx-biornn types), the session grid, the predictions and the loss history. :func:`read_model_file` rebuilds the torch model
and the :class:`~nwb_biornn.core.session.Session` from the file alone.

Modules: ``write`` (:func:`write_model_file`), ``read`` (:func:`read_model_file`), ``subject`` (the subject
fields DANDI requires), ``container`` (a network <-> a ``BioRNNModel``), ``ground_truth`` (ground-truth circuits of synthetic sessions),
``targets`` (targeted neuron sets), ``describe`` (``nwb-biornn info``) and ``common`` (shared names and helpers).

Examples
--------
>>> path = write_model_file("fits", session, result, 0, predictions)       # doctest: +SKIP
>>> loaded = read_model_file(path)                                          # doctest: +SKIP
>>> loaded.model.simulate(inputs, seed=1)                                   # doctest: +SKIP
"""
from nwb_biornn.nwbio.common import ALIGN_TIMES
from nwb_biornn.nwbio.container import model_id
from nwb_biornn.nwbio.describe import describe_model_file
from nwb_biornn.nwbio.ground_truth import add_reference_circuit, read_reference_circuit, read_reference_network
from nwb_biornn.nwbio.read import ModelFile, fitted_steps, read_model_file
from nwb_biornn.nwbio.subject import subject_for_dandi
from nwb_biornn.nwbio.targets import add_targets
from nwb_biornn.nwbio.write import model_file_path, write_model_file

__all__ = ["ALIGN_TIMES", "ModelFile", "add_reference_circuit", "add_targets", "describe_model_file",
           "fitted_steps", "model_file_path", "model_id", "read_model_file", "read_reference_circuit",
           "read_reference_network", "subject_for_dandi", "write_model_file"]
