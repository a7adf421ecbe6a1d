"""The committed schema matches its generator, old files still read, and plain pynwb reads files from the cache."""
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, validate

import ndx_biornn

EXTENSION = Path(__file__).resolve().parents[3]
BACK_COMPAT = Path(__file__).parent / "back_compat"


def _load_generator():
    spec = importlib.util.spec_from_file_location("create_extension_spec",
                                                  EXTENSION / "src" / "spec" / "create_extension_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_spec_matches_the_generator(tmp_path):
    generator = _load_generator()
    generator.main(tmp_path)
    for name in ("ndx-biornn.namespace.yaml", "ndx-biornn.extensions.yaml"):
        assert (tmp_path / name).read_text() == (EXTENSION / "spec" / name).read_text(), (
            f"spec/{name} is stale: run python src/spec/create_extension_spec.py")
    assert generator.VERSION == ndx_biornn.__version__


def test_back_compat_file_of_every_released_version_reads_and_validates():
    files = sorted(BACK_COMPAT.glob("ndx-biornn_*.nwb"))
    assert [f.name for f in files] == ["ndx-biornn_0.1.0.nwb", "ndx-biornn_0.2.0.nwb"]
    for path in files:
        assert validate(path=str(path)) == []
        with NWBHDF5IO(path, "r") as io:
            module = io.read().processing["biornn"]
            model = module["biornn_model"]
            assert isinstance(model, ndx_biornn.BioRNNModel)
            assert model.recurrent_weights.shape == (4, 4) and model.random_seed == 7
            assert list(model.neurons["area"][:]) == ["ALM", "ALM", "vS1", "vS1"]
            predictions = module["perturbation_predictions"]
            assert predictions["stimulus_site"][0].name == predictions["site_name"][0]
            assert predictions["predicted_area_psth"][0].shape == (5, 2)
            assert list(module["targeted_neuron_sets"]["neurons"][0].index) == [0, 2]


def test_files_before_0_2_0_read_with_one_port():
    """0.1.0 stored one readout (weights [neurons], a scalar bias) and a 2-D behaviour trace without ports."""
    with NWBHDF5IO(BACK_COMPAT / "ndx-biornn_0.1.0.nwb", "r") as io:
        module = io.read().processing["biornn"]
        model, grid = module["biornn_model"], module["fitted_session"]
        np.testing.assert_array_equal(model.readout_bias, [0.25])
        assert model.readout_weights.shape == (4,)
        assert grid.behaviour.shape == (3, 5) and grid.ports is None
    with NWBHDF5IO(BACK_COMPAT / "ndx-biornn_0.2.0.nwb", "r") as io:
        module = io.read().processing["biornn"]
        model, grid = module["biornn_model"], module["fitted_session"]
        np.testing.assert_array_equal(model.readout_bias, [0.25, -0.5])
        assert model.readout_weights.shape == (4, 2)
        assert grid.behaviour.shape == (3, 5, 2) and list(grid.ports) == ["left", "right"]


def test_plain_pynwb_reads_a_file_from_its_cached_spec():
    """A fresh isolated interpreter without ndx_biornn on its path still gets every field."""
    code = textwrap.dedent(f"""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("ndx_biornn", "nwb_biornn"):
                    raise ImportError(f"{{name}} is blocked")

        sys.meta_path.insert(0, Block())
        from pynwb import NWBHDF5IO
        with NWBHDF5IO({str(BACK_COMPAT / "ndx-biornn_0.1.0.nwb")!r}, "r") as io:
            module = io.read().processing["biornn"]
            model = module["biornn_model"]
            assert model.neurodata_type == "BioRNNModel" and model.namespace == "ndx-biornn"
            print(model.recurrent_weights[:].sum(), len(model.neurons), module["loss_history"]["total"][1])
    """)
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    weights_sum, num_neurons, total = result.stdout.split()
    with NWBHDF5IO(BACK_COMPAT / "ndx-biornn_0.1.0.nwb", "r") as io:
        expected = io.read().processing["biornn"]["biornn_model"].recurrent_weights[:].sum()
    assert np.isclose(float(weights_sum), expected) and num_neurons == "4" and float(total) == 1.0
