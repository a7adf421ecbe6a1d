"""Write ``model_ndx-biornn_<version>.nwb`` and ``model_ndx-biornn_<version>.npz`` with an earlier nwb-biornn.

The model file is what ``nwb-biornn fit`` wrote with ndx-biornn ``<version>`` (the fixture of
``tests/test_nwbio.py`` at that commit: a fitted model, its reference circuit, one prediction and the loss
history), the ``.npz`` what its model and reference circuit simulated (``spikes``, ``behaviour``,
``reference_spikes``, ``reference_behaviour`` of the first three trials, seed 3). ``tests/test_nwbio.py`` reads
them with the current version. Run it against a checkout of the commit to preserve, before the layout changes::

    git worktree add /tmp/old <commit>
    python tests/back_compat/make_model_file.py /tmp/old

The files of ndx-biornn 0.1.0 were written from commit 9f8aa47. When a seed's draws change meaning (keyed
draws, docs/decisions.md), the ``.npz`` is re-simulated from the committed model file with the current checkout,
leaving the model file as it was written::

    python tests/back_compat/make_model_file.py --simulate tests/back_compat/model_ndx-biornn_0.1.0.nwb

The ``.npz`` of 0.1.0 was re-simulated so when the draws became keyed, and again when they became counter-based
(Philox).
"""
import shutil
import sys
import tempfile
from pathlib import Path


def write(checkout: Path, out_dir: Path) -> None:
    sys.path[:0] = [str(checkout), str(checkout / "extensions" / "ndx-biornn" / "src" / "pynwb"),
                    str(checkout / "tests")]
    import numpy as np
    import test_nwbio as fixture

    import ndx_biornn
    from nwb_biornn import nwbio
    assert Path(nwbio.__file__).is_relative_to(checkout) and Path(ndx_biornn.__file__).is_relative_to(checkout)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        fixture._write_source(root / "source.nwb", rng)
        session = fixture._session(root / "source.nwb", rng)
        result = fixture._result([session], [fixture.SPLIT])
        reference = fixture._result([session], [fixture.SPLIT], seed=9).model
        path = nwbio.write_model_file(root / "out", session, result, 0, [fixture._prediction(session, rng)],
                                      reference=reference, summary=fixture.SUMMARY)
        name = f"model_ndx-biornn_{ndx_biornn.__version__}"
        shutil.copyfile(path, out_dir / f"{name}.nwb")
    save_simulation(out_dir / f"{name}.npz", session, result.model, reference)


def save_simulation(path: Path, session, model, reference) -> None:
    """What ``model`` and ``reference`` simulate for the first three trials of ``session`` (seed 3)."""
    import numpy as np
    import torch

    inputs = torch.as_tensor(session.inputs[:3])
    with torch.no_grad():
        fitted, circuit = model.simulate(inputs, seed=3), reference.simulate(inputs, seed=3)
    def first_port(behaviour):  # (K, T) before ndx-biornn 0.2.0, (K, T, ports) since
        return behaviour.numpy().reshape(*behaviour.shape[:2], -1)[:, :, 0]

    np.savez_compressed(path, spikes=fitted.spikes.numpy().astype(np.uint8), behaviour=first_port(fitted.behaviour),
                        reference_spikes=circuit.spikes.numpy().astype(np.uint8),
                        reference_behaviour=first_port(circuit.behaviour))


def simulate(model_file: Path) -> None:
    """Rewrite the ``.npz`` beside ``model_file`` with what its models simulate with this checkout."""
    from nwb_biornn import nwbio

    loaded = nwbio.read_model_file(model_file)
    save_simulation(model_file.with_suffix(".npz"), loaded.session, loaded.model, loaded.reference)


if __name__ == "__main__":
    if sys.argv[1] == "--simulate":
        simulate(Path(sys.argv[2]).resolve())
    else:
        write(Path(sys.argv[1]).resolve(), Path(__file__).resolve().parent)
