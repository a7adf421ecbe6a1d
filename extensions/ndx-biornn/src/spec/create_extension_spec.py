"""Generate the ndx-biornn namespace and extension YAML in ``spec/`` (the source of truth of the schema).

Run ``python src/spec/create_extension_spec.py`` from the extension folder after every schema change, and bump
``VERSION`` (and the CHANGELOG) when the schema changes.
"""
from pathlib import Path

from pynwb.spec import (
    NWBAttributeSpec,
    NWBDatasetSpec,
    NWBGroupSpec,
    NWBLinkSpec,
    NWBNamespaceBuilder,
    NWBRefSpec,
    export_spec,
)

NAME = "ndx-biornn"
VERSION = "0.2.0"
SPEC_DIR = Path(__file__).resolve().parents[2] / "spec"


def _attribute(name, dtype, doc, **kwargs):
    return NWBAttributeSpec(name=name, dtype=dtype, doc=doc, **kwargs)


def _array(name, dtype, dims, doc, **kwargs):
    return NWBDatasetSpec(name=name, dtype=dtype, dims=dims, shape=[None] * len(dims), doc=doc, **kwargs)


def _column(name, dtype, doc, dims=None, shape=None, quantity=1):
    return NWBDatasetSpec(name=name, neurodata_type_inc="VectorData", dtype=dtype, doc=doc, dims=dims, shape=shape,
                          quantity=quantity)


def _ragged(name, doc, target, quantity=1):
    """A DynamicTableRegion column with a variable number of rows per row, and its index."""
    return [NWBDatasetSpec(name=name, neurodata_type_inc="DynamicTableRegion", doc=f"{doc} (rows of {target})",
                           quantity=quantity),
            NWBDatasetSpec(name=f"{name}_index", neurodata_type_inc="VectorIndex", doc=f"Index into {name}.",
                           quantity=quantity)]


def model_type():
    neuron = ["num_neurons"]
    return NWBGroupSpec(
        neurodata_type_def="BioRNNModel",
        neurodata_type_inc="NWBDataInterface",
        doc=("A fitted biologically informed recurrent network (bioRNN) of leaky integrate-and-fire (or sigmoid) "
             "units with one recorded unit or none per model neuron. Weight matrices follow W[post, pre]: row i "
             "holds the synapses onto neuron i. Time is in seconds, potentials in model units (threshold gap 0.1)."),
        default_name="biornn_model",
        attributes=[
            _attribute("description", "text", "What this model is and how it was fitted."),
            _attribute("model_id", "text", "Identifier shared by every file that stores this same fitted model."),
            _attribute("preset", "text", "Model kind: the named configuration preset (biornn, sigma_rnn, ...)."),
            _attribute("software", "text", "Name of the software that fitted the model."),
            _attribute("software_version", "text", "Version of that software."),
            _attribute("random_seed", "int", "Seed that makes simulation noise and spikes reproducible.",
                       required=False),
            _attribute("dt", "float64", "Simulation time step in seconds."),
            _attribute("hyperparameters", "text",
                       "JSON object: {'model': model configuration, 'fit': training configuration}."),
            _attribute("session_ids", "text", "session_id of every session the model was fitted on, in order "
                       "(absent for a model that was not fitted, such as a ground-truth circuit).",
                       dims=["num_sessions"], shape=[None], required=False),
            _attribute("session_index", "int", "Position of this file's session in session_ids.", required=False),
            _attribute("training_steps", "int", "Optimizer steps taken.", required=False),
            _attribute("training_summary", "text",
                       "JSON object: final losses, trial counts per split, reasons for excluded trials, held-out "
                       "conditions.", required=False),
            _attribute("readout_bias", "float64", "Bias of the behaviour readout of each port (a scalar in files "
                       "written before 0.2.0, with one port).", dims=["num_ports"], shape=[None]),
        ],
        datasets=[
            _array("recurrent_weights", "float32", ["num_post", "num_pre"],
                   "Signed effective recurrent weights W[post, pre] (zero where connectivity_mask is False)."),
            _array("connectivity_mask", "bool", ["num_post", "num_pre"],
                   "True where a synapse from pre to post may exist."),
            _array("delays", "int32", ["num_post", "num_pre"], "Synaptic delay of each synapse, in time steps."),
            _array("input_weights", "float32", ["num_neurons", "num_inputs"],
                   "Weights from each task input channel onto each neuron."),
            NWBDatasetSpec(name="readout_weights", dtype="float32",
                           dims=[["num_neurons"], ["num_neurons", "num_ports"]], shape=[[None], [None, None]],
                           doc="Behaviour readout weight of each neuron onto each port (one column per port of the "
                               "fitted session; 1-D, for one port, in files written before 0.2.0)."),
            _array("membrane_time_constant", "float32", neuron, "Membrane time constant of each neuron, in seconds."),
            _array("resting_potential", "float32", neuron, "Resting potential of each neuron."),
            _array("threshold", "float32", neuron, "Firing threshold of each neuron."),
            _array("refractory_steps", "int32", neuron, "Refractory period of each neuron, in time steps."),
            _array("noise", "float32", neuron, "Standard deviation of the membrane noise of each neuron."),
            NWBDatasetSpec(name="training_trials", neurodata_type_inc="DynamicTableRegion", quantity="?",
                           doc="Trials of this session the model was trained on."),
            NWBDatasetSpec(name="heldout_trials", neurodata_type_inc="DynamicTableRegion", quantity="?",
                           doc="Perturbation trials of this session held out of training."),
        ],
        groups=[NWBGroupSpec(name="neurons", neurodata_type_inc="BioRNNNeuronTable",
                             doc="One row per model neuron, in model order.")],
        links=[NWBLinkSpec(name="source_units", target_type="Units", quantity="?",
                           doc="The recorded units the model was fitted to.")],
    )


def neuron_table_type():
    return NWBGroupSpec(
        neurodata_type_def="BioRNNNeuronTable",
        neurodata_type_inc="DynamicTable",
        doc="Per-model-neuron properties, one row per neuron in model order.",
        default_name="neurons",
        datasets=[
            _column("area", "text", "Model area of the neuron."),
            _column("cell_type", "text", "'E' (excitatory) or 'I' (inhibitory)."),
            _column("mapped", "bool", "True if the neuron was fitted to a recorded unit (of any session)."),
            _column("session", "int64",
                    "Index into the model's session_ids of the session of that unit; -1 for hidden neurons."),
            _column("unit_column", "int64", "Column of that unit in the session's binned spike counts; -1 for hidden."),
            *_ragged("units", "The recorded unit of this file's Units table the neuron was fitted to; empty for "
                              "hidden neurons and neurons fitted to another session", "Units", quantity="?"),
        ],
    )


def fitted_session_type():
    return NWBGroupSpec(
        neurodata_type_def="FittedSession",
        neurodata_type_inc="NWBDataInterface",
        doc=("The session as the model saw it: where it came from and the trial-aligned time grid, task inputs and "
             "behaviour traces. Spike counts are the trials' spike_times of the Units table binned on this grid."),
        default_name="fitted_session",
        attributes=[
            _attribute("t_start", "float64", "Left edge of the first bin, in seconds relative to align_event."),
            _attribute("dt", "float64", "Bin width in seconds."),
            _attribute("num_bins", "int", "Number of time bins per trial."),
            _attribute("align_event", "text", "Name of the event every trial is aligned to."),
            _attribute("response_window", "float64", "Seconds relative to align_event in which the behavioural "
                       "response is decided.", dims=["start|stop"], shape=[2]),
            _attribute("behaviour_name", "text", "What the behaviour traces are: 'lick_rate' (lick rate in Hz at each "
                       "port) or 'none' (zeros: the behaviour is known only from the trials' choice)."),
            _attribute("ports", "text", "The responses the task offers, one per behaviour trace and readout output: "
                       "['lick'] (go/no-go: lick or not) or ['left', 'right'] (two-choice). Absent in files written "
                       "before 0.2.0, which have one port, 'lick'.", dims=["num_ports"], shape=[None], required=False),
            _attribute("source_path", "text", "The source NWB file: its DANDI asset path, else its file name (never a "
                       "directory of the machine that wrote the model file)."),
            _attribute("source_dandiset_id", "text", "DANDI dandiset the source came from.", required=False),
            _attribute("source_dandiset_version", "text", "Version of that dandiset.", required=False),
            _attribute("source_asset_path", "text", "Path of the source asset in the dandiset.", required=False),
            _attribute("source_asset_id", "text", "DANDI asset id of the source.", required=False),
            _attribute("source_api_url", "text", "DANDI API the source came from.", required=False),
            _attribute("source_identifier", "text", "identifier of the source NWB file."),
            _attribute("metadata", "text", "JSON object of further facts about the session.", required=False),
        ],
        datasets=[
            _array("input_names", "text", ["num_inputs"], "Name of each task input channel."),
            _array("inputs", "float32", ["num_trials", "num_bins", "num_inputs"],
                   "Deterministic task inputs of every trial (trials table order) on the grid."),
            NWBDatasetSpec(name="behaviour", dtype="float32",
                           dims=[["num_trials", "num_bins"], ["num_trials", "num_bins", "num_ports"]],
                           shape=[[None, None], [None, None, None]],
                           doc="Behaviour trace of every trial on the grid, one per port (2-D, for one port, in files "
                               "written before 0.2.0)."),
        ],
        links=[NWBLinkSpec(name="trials", target_type="TimeIntervals", quantity="?",
                           doc="The trials table whose rows the trial axis follows.")],
    )


def predictions_table_type():
    return NWBGroupSpec(
        neurodata_type_def="PerturbationPredictionsTable",
        neurodata_type_inc="DynamicTable",
        doc=("What the model predicts for each optogenetic condition, next to what was recorded on the held-out "
             "trials. Per-unit responses are UnitResponseSeries whose 'condition' attribute names the row."),
        default_name="perturbation_predictions",
        attributes=[
            _attribute("psth_time", "float64", "Centre of every PSTH bin, in seconds relative to the alignment "
                       "event.", dims=["num_bins"], shape=[None]),
            _attribute("psth_areas", "text", "Area of each column of the area PSTHs.", dims=["num_areas"],
                       shape=[None]),
        ],
        datasets=[
            _column("label", "text", "Short name of the condition."),
            _column("target_area", "text", "Model area the light targets."),
            _column("target_cell_type", "text", "'I' (light drives inhibitory neurons: inactivation) or 'E'."),
            _column("onset", "float64", "Light onset in seconds relative to the alignment event."),
            _column("offset", "float64", "Light offset in seconds relative to the alignment event."),
            _column("power", "float64", "Light power, in power_unit."),
            _column("power_unit", "text", "'mW', or 'model' for a current already in model units."),
            _column("waveform", "text", "'constant', 'pulsed' or 'ramp'."),
            _column("frequency", "float64", "Pulse frequency in Hz for pulsed light (0 otherwise)."),
            _column("ramp_down", "float64", "Seconds of linear ramp-down after offset."),
            _column("site_name", "text", "Name of the source's OptogeneticStimulusSite ('' when none)."),
            _column("stimulus_site", NWBRefSpec(target_type="OptogeneticStimulusSite", reftype="object"),
                    "The OptogeneticStimulusSite of the condition (present when every condition has one).",
                    quantity="?"),
            _column("num_heldout_trials", "int64", "Recorded trials of the condition held out of fitting."),
            _column("calibration", "bool", "True if the condition calibrated light power (not a held-out score)."),
            _column("predicted_delta_behaviour", "float64",
                    "Predicted change in the scored behaviour, light minus light-off: the response probability "
                    "(go/no-go) or the probability of the instructed choice (two-choice)."),
            _column("recorded_delta_behaviour", "float64", "Recorded change in the scored behaviour (NaN: none)."),
            _column("trial_matching_loss", "float64", "Trial-matching loss on the recorded trials (NaN: none)."),
            _column("predicted_area_psth", "float32", "Predicted trial-averaged rate (Hz) per area under light.",
                    dims=["num_conditions", "num_bins", "num_areas"], shape=[None, None, None]),
            _column("recorded_area_psth", "float32", "Recorded trial-averaged rate (Hz) per area (NaN: none).",
                    dims=["num_conditions", "num_bins", "num_areas"], shape=[None, None, None]),
        ],
    )


def unit_response_type():
    return NWBGroupSpec(
        neurodata_type_def="UnitResponseSeries",
        neurodata_type_inc="TimeSeries",
        doc=("Trial-averaged firing rate (Hz) of recorded units under one perturbation condition, predicted by the "
             "model or recorded. Timestamps are bin centres in seconds relative to the alignment event."),
        attributes=[
            _attribute("condition", "int", "Row of the PerturbationPredictionsTable this response belongs to."),
            _attribute("kind", "text", "'predicted' or 'recorded'."),
        ],
        datasets=[
            NWBDatasetSpec(name="data", dtype="float32", dims=["num_times", "num_units"], shape=[None, None],
                           doc="Rate of each unit in Hz.",
                           attributes=[_attribute("unit", "text", "Unit of the data.", value="Hz")]),
            NWBDatasetSpec(name="units", neurodata_type_inc="DynamicTableRegion",
                           doc="The Units row of each data column."),
        ],
    )


def loss_history_type():
    return NWBGroupSpec(
        neurodata_type_def="LossHistoryTable",
        neurodata_type_inc="DynamicTable",
        doc="Training losses, one row per logged optimizer step.",
        default_name="loss_history",
        datasets=[
            _column("step", "int64", "Optimizer step."),
            _column("learning_rate", "float64", "Learning rate at that step."),
            _column("total", "float64", "Weighted total training loss."),
            _column("trial", "float64", "Trial-matching loss (NaN when not computed).", quantity="?"),
            _column("psth", "float64", "PSTH loss.", quantity="?"),
            _column("rate", "float64", "Baseline firing-rate loss.", quantity="?"),
            _column("behaviour", "float64", "Behaviour readout loss.", quantity="?"),
            _column("choice", "float64", "Choice loss: KL divergence between the recorded and the simulated "
                    "distributions of first-lick ports within trial types (sessions known only from their trials' "
                    "choices).", quantity="?"),
            _column("test_total", "float64", "Total loss on the test trials (NaN when not evaluated).", quantity="?"),
        ],
    )


def targets_table_type():
    return NWBGroupSpec(
        neurodata_type_def="TargetedNeuronSetsTable",
        neurodata_type_inc="DynamicTable",
        doc="Neuron sets chosen for targeted micro-stimulation, and their predicted and simulated effect.",
        default_name="targeted_neuron_sets",
        datasets=[
            _column("set_name", "text", "'positive', 'negative' or 'random' (or another name)."),
            _column("objective", "text", "What the effect is measured on (e.g. lick)."),
            *_ragged("neurons", "Model neurons of the set", "the model's BioRNNNeuronTable"),
            *_ragged("units", "Recorded units the mapped neurons of the set were fitted to", "Units"),
            _column("onset", "float64", "Stimulation onset, seconds relative to the alignment event."),
            _column("offset", "float64", "Stimulation offset, seconds relative to the alignment event."),
            _column("power", "float64", "Stimulation current in model units."),
            _column("predicted_effect", "float64", "Effect predicted by the gradient (first order)."),
            _column("simulated_effect", "float64", "Effect found by simulating the stimulation."),
        ],
    )


def main(output_dir: Path = SPEC_DIR):
    """Write the namespace and extension YAML into ``output_dir``."""
    builder = NWBNamespaceBuilder(
        name=NAME,
        version=VERSION,
        doc="Fitted biologically informed spiking RNNs (bioRNN) and their optogenetic perturbation predictions.",
        author=["nwb-biornn developers"],
        contact=["nwb-biornn developers <nwb-biornn@users.noreply.github.com>"],
    )
    builder.include_namespace("core")
    types = [model_type(), neuron_table_type(), fitted_session_type(), predictions_table_type(),
             unit_response_type(), loss_history_type(), targets_table_type()]
    export_spec(builder, types, str(output_dir))


if __name__ == "__main__":
    main()
