"""What the options of the command line do, checked through the command line only (``fit``, ``info``,
``evaluate``, ``perturb``, ``compare``): every test states a behaviour a user relies on and fails when it breaks.

Fits are tiny (2 steps, mostly in 10 ms bins) on small NWB files written by :mod:`nwb_factories` (two units, one
light condition, a known task timeline), or on the shared ``fitted_demo`` of a small synthetic demo session
(conftest.py) where a test needs several conditions and predictions that are not all zero.
"""
import csv
import functools
import hashlib
import json
import shutil
import statistics

import h5py
import numpy as np
import nwb_factories as factories
import pytest
import torch
from click.testing import CliRunner

from nwb_biornn.cli import main

SCORES = (("unperturbed", "trial_matching_loss"), ("unperturbed", "psth_error"),
          ("perturbed", "trial_matching_loss"), ("perturbed", "delta_behaviour_abs_error"))
"""The held-out scores ``compare`` tabulates: trial-matching loss and PSTH error light-off, trial-matching loss
and |Δ behaviour| light-on."""


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok_json(*args):
    """The JSON document of a command that must succeed."""
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def one_line_error(result):
    """The ``error: ...`` line of a command that failed cleanly (exit 1, no traceback, nothing on stdout)."""
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert sum(line.startswith("error: ") for line in lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    return lines[-1]


@functools.lru_cache(maxsize=None)
def _info_text(path: str) -> str:
    return json.dumps(ok_json("info", path))


def info(path):
    """``info --json`` of a model file (read once per path: the tests never change a model file after its fit)."""
    return json.loads(_info_text(str(path)))


def write_session(path, subject):
    """A factory session of 12 trials (4 lit, 5 licked) for subject ``subject``, session ``ses-<subject>``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return factories.write_000363(path, n_trials=12, lit=(1, 4, 7, 10), licked=(0, 1, 2, 5, 8),
                                  subject_id=subject, session_id=f"ses-{subject}")


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory):
    """A folder with two sessions in a dandiset layout: ``sub-m01/...nwb`` and ``sub-m02/...nwb``."""
    root = tmp_path_factory.mktemp("two")
    for subject in ("m01", "m02"):
        write_session(root / f"sub-{subject}" / f"sub-{subject}_ses-1.nwb", subject)
    return root


@pytest.fixture(scope="module")
def one_session(two_sessions):
    return two_sessions / "sub-m01" / "sub-m01_ses-1.nwb"


def fit(source, out, *options, bin_size=0.01):
    """``fit --json`` of 2 steps on the CPU (in 10 ms bins to be quick; ``bin_size=None``: the default): the
    document."""
    binning = ("--bin-size", bin_size) if bin_size is not None else ()
    return ok_json("fit", source, "--steps", 2, "--device", "cpu", "--out", out, *binning, *options)


@pytest.fixture(scope="module")
def preset_seed_fits(one_session, tmp_path_factory):
    """Model files of one session for two presets and two seeds: ``{(preset, seed): (path, fit document)}``."""
    fits = {}
    for preset in ("biornn", "sigma_rnn"):
        for seed in (0, 1):
            document = fit(one_session, tmp_path_factory.mktemp(f"{preset}-{seed}"), "--model", preset,
                           "--seed", seed)
            (path,) = document["model_files"]
            fits[preset, seed] = path, document
    return fits


def model_arrays(path):
    """The fitted network's stored parameters (``/processing/biornn/biornn_model``, docs/schema.md)."""
    with h5py.File(path, "r") as file:
        model = file["processing/biornn/biornn_model"]
        return {name: model[name][()] for name in ("recurrent_weights", "input_weights", "readout_weights")}


# --sessions ---------------------------------------------------------------------------------------------------

def test_sessions_glob_fits_only_the_chosen_session(two_sessions, tmp_path):
    out = tmp_path / "fit"
    document = fit(two_sessions, out, "--sessions", "sub-m02/*")
    (path,) = document["model_files"]
    assert [e["session"] for e in document["evaluation"]] == ["ses-m02"]
    assert sorted(p.name for p in out.glob("sub-*")) == ["sub-m02"]
    description = info(path)
    assert description["session_id"] == "ses-m02" and description["subject_id"] == "m02"
    assert description["source"]["path"].endswith("sub-m02_ses-1.nwb")
    assert description["n_neurons"] == 2          # the two units of one session, not the four of both
    assert ok_json("evaluate", path, "--trials", 5)["session"] == "ses-m02"


def test_sessions_glob_matching_nothing_fails_and_writes_nothing(two_sessions, tmp_path):
    out = tmp_path / "fit"
    line = one_line_error(run("fit", two_sessions, "--steps", 2, "--out", out, "--sessions", "sub-m03/*"))
    assert "--sessions" in line and "sub-m03/*" in line
    assert not out.exists()


# --areas -----------------------------------------------------------------------------------------------------

def test_areas_override_the_areas_of_the_fitted_model(one_session, preset_seed_fits, tmp_path):
    """The factory's units are 'Secondary motor area, layer 5' (E) and 'ALM' (I), both area ALM by default."""
    default = info(preset_seed_fits["biornn", 0][0])
    assert default["neurons"] == {"ALM": {"E": 1, "I": 1, "mapped": 2}}

    document = fit(one_session, tmp_path / "inline", "--areas", "Secondary motor area*=M2nd")
    description = info(document["model_files"][0])
    assert description["neurons"] == {"M2nd": {"E": 1, "I": 0, "mapped": 1}, "ALM": {"E": 0, "I": 1, "mapped": 1}}
    assert [p["label"].split()[0] for p in description["predictions"]] == ["ALM-I"]


def test_areas_from_a_toml_file_also_rename_the_light_target(one_session, tmp_path):
    table = tmp_path / "areas.toml"
    table.write_text('[areas]\n"alm" = "FRONT"\n"Secondary motor area*" = "M2nd"\n')
    document = fit(one_session, tmp_path / "toml", "--areas", table)
    description = info(document["model_files"][0])
    assert description["neurons"] == {"M2nd": {"E": 1, "I": 0, "mapped": 1}, "FRONT": {"E": 0, "I": 1, "mapped": 1}}
    # The stimulation site (location 'ALM') follows the override too, so the light still reaches a model area.
    assert [c["area"] for c in document["evaluation"][0]["conditions"]] == ["FRONT"]
    assert description["predictions"][0]["label"].startswith("FRONT-I ")


# --align and --bin-size --------------------------------------------------------------------------------------

@pytest.mark.parametrize("align, bin_size, event_offset", [
    (None, None, factories.GO),                       # defaults: auto finds the go cue, 2 ms bins
    ("sample", 0.005, factories.SAMPLE),
    ("trial_start", 0.004, 0.0),
])
def test_align_and_bin_size_reach_the_model_file(one_session, tmp_path, align, bin_size, event_offset):
    document = fit(one_session, tmp_path / "fit", *(("--align", align) if align else ()), bin_size=bin_size)
    (path,) = document["model_files"]
    dt = bin_size or 0.002
    description = info(path)
    assert description["dt"] == pytest.approx(dt)
    # The light starts LIGHT_ONSET after the trial start, so its window relative to the alignment event is known.
    onset = factories.LIGHT_ONSET - event_offset
    window = [onset, onset + factories.LIGHT_DURATION]
    (condition,) = document["evaluation"][0]["conditions"]
    assert condition["window"] == pytest.approx(window)
    (evaluated,) = ok_json("evaluate", path, "--trials", 5)["conditions"]
    assert evaluated["window"] == pytest.approx(window) and evaluated["label"] == condition["label"]
    assert description["predictions"][0]["label"] == condition["label"]
    with h5py.File(path, "r") as file:
        grid = file["processing/biornn/fitted_session"].attrs
        assert grid["align_event"] == (align or "go_cue")
        assert grid["dt"] == pytest.approx(dt)
        # The default window (recordings/nwbfile.py) runs from 0.2 s before the sample, the earliest task or light
        # event, to the end of the 1 s response window after the go cue: the same trial time for every alignment.
        assert grid["t_start"] == pytest.approx(factories.SAMPLE - 0.2 - event_offset)
        assert grid["num_bins"] == round((factories.GO + 1.0 - (factories.SAMPLE - 0.2)) / dt)
        align_times = file["intervals/trials/biornn_align_time"][()]
    assert align_times == pytest.approx(factories.trial_starts(12) + event_offset)


# --seed ------------------------------------------------------------------------------------------------------

def test_the_same_seed_gives_identical_results_and_another_seed_different_ones(one_session, preset_seed_fits,
                                                                              tmp_path):
    first_path, first = preset_seed_fits["biornn", 0]
    again = fit(one_session, tmp_path / "again", "--seed", 0)
    assert again["evaluation"] == first["evaluation"]
    same, original = model_arrays(again["model_files"][0]), model_arrays(first_path)
    assert all(np.array_equal(same[name], original[name]) for name in original)
    repeated = {k: v for k, v in info(again["model_files"][0]).items() if k != "path"}
    assert repeated == {k: v for k, v in info(first_path).items() if k != "path"}

    other_path, other = preset_seed_fits["biornn", 1]
    assert info(first_path)["seed"] == 0 and info(other_path)["seed"] == 1
    different = model_arrays(other_path)
    assert not np.array_equal(different["recurrent_weights"], original["recurrent_weights"])
    assert other["evaluation"][0]["unperturbed"] != first["evaluation"][0]["unperturbed"]


# --device ----------------------------------------------------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="states what happens on a machine without a CUDA GPU")
def test_device_cuda_without_a_gpu_fails_with_one_line_and_writes_nothing(one_session, tmp_path):
    out = tmp_path / "fit"
    line = one_line_error(run("fit", one_session, "--steps", 2, "--out", out, "--device", "cuda"))
    assert "cuda" in line.lower() and "--device cpu" in line
    assert not out.exists()


@pytest.mark.parametrize("option, message", [
    (("--align", "lick"), "no 'lick' event"),
    (("--bin-size", "0"), "bin size must be positive"),
    (("--areas", "nonsense"), "bad area override 'nonsense'"),
    (("--device", "gpu"), "unknown device 'gpu'"),
])
def test_bad_option_values_fail_with_one_line_and_write_nothing(one_session, tmp_path, option, message):
    out = tmp_path / "fit"
    assert message in one_line_error(run("fit", one_session, "--steps", 2, "--out", out, *option))
    assert not out.exists()


# info on a file from a newer ndx-biornn -------------------------------------------------------------------------

def with_namespace_version(source, target, bump):
    """Copy ``source`` to ``target`` with its cached ndx-biornn namespace version changed by ``bump(version)``."""
    shutil.copy(source, target)
    with h5py.File(target, "a") as raw:
        group = raw["specifications/ndx-biornn"]
        (old,) = list(group)
        new = bump(old)
        group.move(old, new)
        namespace = json.loads(group[f"{new}/namespace"][()])
        namespace["namespaces"][0]["version"] = new
        group[f"{new}/namespace"][()] = json.dumps(namespace)
    return old, new


@pytest.mark.filterwarnings("ignore:Ignoring the following cached namespace")
def test_info_refuses_a_file_of_a_newer_minor_version_and_reads_a_newer_patch(preset_seed_fits, tmp_path):
    source = preset_seed_fits["biornn", 0][0]
    newer = tmp_path / "newer.nwb"
    installed, written = with_namespace_version(
        source, newer, lambda v: f"{int(v.split('.')[0])}.{int(v.split('.')[1]) + 1}.0")
    before = hashlib.sha256(newer.read_bytes()).hexdigest()
    for command in ("info", "evaluate"):
        line = one_line_error(run(command, newer))
        assert "newer than the installed" in line and written in line and installed in line and "upgrade" in line
    assert hashlib.sha256(newer.read_bytes()).hexdigest() == before

    patch = tmp_path / "patch.nwb"
    with_namespace_version(source, patch, lambda v: f"{v.rsplit('.', 1)[0]}.{int(v.rsplit('.', 1)[1]) + 1}")
    assert info(patch)["model_id"] == info(source)["model_id"]   # docs/schema.md: only major/minor are refused


# compare -----------------------------------------------------------------------------------------------------

def test_compare_groups_by_preset_with_mean_and_std_over_seeds(preset_seed_fits):
    paths = [path for path, _ in preset_seed_fits.values()]
    document = ok_json("compare", *paths)
    assert sorted((row["preset"], row["seed"]) for row in document["models"]) == sorted(preset_seed_fits)
    assert document["reference"] is None          # factory sessions have no ground-truth circuit
    # One entry per preset: the seeds of a preset are one group (the seed never makes a grid point).
    summary = {entry["preset"]: entry for entry in document["presets"]}
    assert len(document["presets"]) == len(summary) == 2 and sorted(summary) == ["biornn", "sigma_rnn"]
    assert all(entry["grid"] == {} and entry["n_models"] == 2 for entry in summary.values())

    expected = {}
    for preset in ("biornn", "sigma_rnn"):
        evaluations = [info(preset_seed_fits[preset, seed][0])["scores"]["evaluation"] for seed in (0, 1)]
        for block, name in SCORES:
            values = [e[block][name] for e in evaluations]
            if name == "trial_matching_loss":
                assert values[0] != values[1]     # the seeds differ, so the spread is not trivially zero
            stats = summary[preset][f"{block}.{name}"]
            assert stats["n"] == 2
            assert stats["mean"] == pytest.approx(statistics.fmean(values), rel=1e-9)
            assert stats["std"] == pytest.approx(statistics.stdev(values), rel=1e-9)   # sample std over seeds
            expected[preset, block, name] = statistics.fmean(values), statistics.stdev(values)

    text = run("compare", *paths)
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    rows = {preset: next(i for i, line in enumerate(lines) if line.split()[:1] == [preset])
            for preset in ("biornn", "sigma_rnn")}
    by_light_on_loss = sorted(rows, key=lambda p: expected[p, "perturbed", "trial_matching_loss"][0])
    assert sorted(rows, key=rows.get) == by_light_on_loss       # best held-out light-on loss first
    assert min(rows.values()) > 0 and "preset" in lines[0]      # a header line first
    for preset, index in rows.items():
        for block, name in SCORES:
            mean, std = expected[preset, block, name]
            assert f"{mean:.3f} ± {std:.3f} (2)" in lines[index]


# evaluate --plots --------------------------------------------------------------------------------------------

def test_evaluate_plots_are_readable_pngs_of_the_expected_size_and_not_blank(fitted_demo, tmp_path):
    import matplotlib.image

    path = fitted_demo[1]["model_files"][0]
    folder = tmp_path / "plots"
    document = ok_json("evaluate", path, "--trials", 5, "--plots", folder)
    n_conditions = len(document["conditions"])
    assert n_conditions > 1
    expected = {"behaviour_changes.png", "training.png"} | {f"psth_condition{i:02d}.png" for i in range(n_conditions)}
    assert {p.name for p in folder.iterdir()} == expected
    assert sorted(document["plots"]) == sorted(str(folder / name) for name in expected)
    # (height, width) in pixels: figure size in inches at 120 dpi; a PSTH plot has a 3.2-inch panel per area.
    sizes = {"behaviour_changes.png": (540, 540), "training.png": (384, 600)}
    pixels = {}
    for name in sorted(expected):
        image = matplotlib.image.imread(folder / name)
        assert image.ndim == 3 and image.shape[2] in (3, 4)
        assert image.shape[:2] == sizes.get(name, (336, 2 * 384)), name
        rgb = image[..., :3]
        background = rgb[0, 0]
        drawn = np.any(np.abs(rgb - background) > 0.05, axis=-1).mean()
        assert 0.01 < drawn < 0.9, (name, drawn)          # something is drawn, on a plain background
        coloured = int(np.sum(rgb.max(axis=-1) - rgb.min(axis=-1) > 0.3))
        assert coloured >= 50, (name, coloured)           # data in colour, not only black and grey axes and text
        pixels[name] = hashlib.sha256(rgb.tobytes()).hexdigest()
    assert len(set(pixels.values())) == len(pixels)      # every condition gets its own picture


# evaluate --observed -----------------------------------------------------------------------------------------

def write_csv(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# Windows and powers that no recorded condition of the demo session has (so `perturb` predicts them from the same
# light-off trials as `evaluate --observed`).
OBSERVED = [("A", 0.0, 0.1, 7.0, -0.3, 9, "I"), ("B", 0.0, 0.1, 7.0, 0.4, 5, "E"), ("B", 0.0, 0.1, 7.0, -0.1, "", "")]


@pytest.fixture(scope="module")
def observed_table(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("observed") / "observed.csv",
                     ["area", "start", "stop", "power", "delta", "n", "cell_type"], OBSERVED)


@pytest.fixture(scope="module")
def observed_document(fitted_demo, observed_table):
    """The ``observed`` block of ``evaluate --observed`` on the demo model (seed 3, 20 trials)."""
    return ok_json("evaluate", fitted_demo[1]["model_files"][0], "--observed", observed_table, "--trials", 20,
                   "--seed", 3)["observed"]


def test_evaluate_observed_scores_are_the_closed_forms_of_the_predicted_deltas(fitted_demo, observed_document):
    path = fitted_demo[1]["model_files"][0]
    observed = observed_document
    rows = observed["conditions"]
    assert observed["n_conditions"] == len(rows) == 3
    assert [r["label"].split()[0] for r in rows] == ["A-I", "B-E", "B-I"]   # an empty cell_type means I
    assert [r["observed"] for r in rows] == [-0.3, 0.4, -0.1]
    assert [r["n"] for r in rows] == [9, 5, None]
    o = np.array([r["observed"] for r in rows])
    p = np.array([r["predicted"] for r in rows])
    assert np.all(p != 0)
    assert observed["abs_error"] == pytest.approx(np.mean(np.abs(o - p)), rel=1e-9)
    assert observed["cosine_similarity"] == pytest.approx(o @ p / (np.linalg.norm(o) * np.linalg.norm(p)), rel=1e-9)
    # Each prediction is the one `perturb` makes for the same condition, seed and number of trials.
    for (area, start, stop, power, _, _, cell_type), row in zip(OBSERVED, rows):
        perturbed = ok_json("perturb", path, "--area", area, "--window", f"{start},{stop}", "--power", power,
                            "--cell-type", cell_type or "I", "--trials", 20, "--seed", 3)
        assert perturbed["recorded_trials"] == 0 and perturbed["condition"] == row["label"]
        assert row["predicted"] == pytest.approx(perturbed["predicted_delta_behaviour"], rel=1e-9, abs=1e-12)
    # The cell type decides which neurons the light drives: the same light on B's E or I neurons differs.
    assert rows[1]["label"].split()[1:] == rows[2]["label"].split()[1:] and rows[1]["predicted"] != rows[2]["predicted"]


def test_evaluate_observed_reads_column_aliases_and_rejects_a_bad_cell_type(fitted_demo, observed_document,
                                                                            tmp_path):
    path = fitted_demo[1]["model_files"][0]
    # Headers are matched without case and surrounding spaces, under any of their documented aliases.
    aliased = write_csv(tmp_path / "aliased.csv",
                        [" Area", "onset", "Window_Stop ", "power_mW", "delta_behaviour", "n_mice", "Cell_Type"],
                        OBSERVED)
    again = ok_json("evaluate", path, "--observed", aliased, "--trials", 20, "--seed", 3)["observed"]
    assert again == observed_document

    bad = write_csv(tmp_path / "bad.csv", ["area", "start", "stop", "power", "delta", "cell_type"],
                    [("A", 0.0, 0.1, 7.0, -0.3, "I"), ("A", 0.0, 0.1, 7.0, -0.3, "X")])
    line = one_line_error(run("evaluate", path, "--observed", bad, "--trials", 1))
    assert "line 3" in line and "'X'" in line and "cell_type" in line
