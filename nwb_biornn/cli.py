"""The ``nwb-biornn`` command line.

Every command writes errors and progress to stderr; with ``--json`` the JSON document is the only thing on
stdout. A :class:`~nwb_biornn.core.errors.UserError` (or a bad option) ends the command with one line
``error: ...`` and exit status 1 (click's usage errors: 2), never a traceback.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from nwb_biornn import __version__
from nwb_biornn.core.errors import UserError
from nwb_biornn.render import text as render


def _fail_cleanly(command):
    """Turn user errors into one line on stderr and a non-zero exit."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("error: interrupted (an interrupted fit continues with the same command plus --resume)", err=True)
            sys.exit(130)

    return wrapper





def _emit(document: dict, as_json: bool, text: str) -> None:
    """Print the JSON document (``--json``; NaN becomes null) or the human text, on stdout."""
    click.echo(json.dumps(render.json_safe(document), indent=2, allow_nan=False) if as_json else text)


def _progress_bar(total: int, description: str):
    """A tqdm bar on stderr (drawn only when stderr is a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, file=sys.stderr, dynamic_ncols=True, leave=False, disable=None)


def _window(text: str | None, option: str) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        start, stop = (float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected START,STOP in seconds, got {text!r}", param_hint=option) from None
    if not stop > start:
        raise click.BadParameter(f"STOP must be after START, got {text!r}", param_hint=option)
    return start, stop


class _OneLineErrors(click.Group):
    """A click group whose usage errors are one ``error: ...`` line, like every other failure."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as err:
            click.echo(f"error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nwb-biornn")
def main():
    """Fit biologically informed spiking RNNs to optogenetics sessions and predict unseen perturbations."""


def _fit_progress(total: int):
    """The trainer's progress callback: a bar on a terminal, else a line every tenth of the fit; and the
    resume notice."""
    bar = _progress_bar(total, "fitting")
    every = max(1, total // 10)

    def report(step, metrics):
        if metrics.get("resumed"):
            click.echo(f"resuming from step {step}", err=True)
        losses = {k: f"{v:.3g}" for k, v in metrics.items() if k in ("trial", "psth", "rate", "test_total")}
        bar.update(step - bar.n)
        bar.set_postfix(losses)
        if bar.disable and not metrics.get("resumed") and (step % every == 0 or step == total):
            click.echo(f"step {step}/{total}: " + ", ".join(f"{k} {v}" for k, v in losses.items()), err=True)

    return bar, report


def _download_progress():
    """A download callback: one byte-counting bar per asset (on a terminal), else one line per asset."""
    bars = {}

    def report(asset_path, done, total):
        if asset_path not in bars:
            bars[asset_path] = _progress_bar(total, Path(asset_path).name)
            bars[asset_path].unit, bars[asset_path].unit_scale = "B", True
            if bars[asset_path].disable:
                click.echo(f"downloading {asset_path} ({total / 1e6:.1f} MB)", err=True)
        bars[asset_path].update(done - bars[asset_path].n)

    return report


@main.command()
@click.argument("source")
@click.option("--model", "preset_name", default="biornn", show_default=True,
              help="Preset: biornn, sigma_rnn, no_spike, no_dale, nonlocal_inhibition, no_sparsity, no_trial_matching.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file overriding [model] and [fit] fields.")
@click.option("--steps", type=int, help="Training steps (default: the preset's).")
@click.option("--seed", type=int, help="Random seed (default 0).")
@click.option("--out", default="nwb-biornn-fit", show_default=True, type=click.Path(file_okay=False),
              help="Output folder: a dandiset layout with one model file per session, plus checkpoints.")
@click.option("--resume", is_flag=True, help="Continue an interrupted fit from OUT/checkpoints/last.pt.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--sessions", "sessions_glob", help="Glob over asset paths, e.g. 'sub-440956/*'.")
@click.option("--api-url", help="DANDI API URL (default $DANDI_API_URL, else the DANDI Archive).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Download cache (default $NWB_BIORNN_CACHE).")
@click.option("--stream", is_flag=True, help="Read DANDI assets by streaming instead of downloading them.")
@click.option("--areas", "areas_text", help="Area overrides 'PATTERN=AREA,...' or a TOML file of them.")
@click.option("--align", default="auto", show_default=True, help="Alignment event: auto, go_cue, sample, trial_start.")
@click.option("--bin-size", default=0.002, show_default=True, type=float, help="Bin width in seconds.")
@click.option("--subject-species", help="Species when the source lacks it (e.g. 'Mus musculus').")
@click.option("--subject-sex", help="Sex when the source lacks it: M, F, O or U.")
@click.option("--subject-age", help="Age when the source lacks it, ISO 8601 (e.g. P90D).")
@click.option("--calibrate-on", "calibrate_on", multiple=True,
              help="Calibrate mW -> model current on this condition (label as printed); excluded from scores.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@_fail_cleanly
def fit(source, preset_name, config_file, steps, seed, out, resume, device, sessions_glob, api_url, cache_dir,
        stream, areas_text, align, bin_size, subject_species, subject_sex, subject_age, calibrate_on, as_json):
    """Fit a bioRNN to the unperturbed trials of SOURCE and predict its perturbation trials.

    SOURCE is a DANDI id (000363, DANDI:000363/0.230822.0128), a DANDI URL, a local NWB file or folder, or
    demo (demo:refcirc2 for the circuit with feedback).
    """
    from nwb_biornn import api
    from nwb_biornn.recordings.areas import parse_area_overrides

    model_config, fit_config = api.configure(preset_name, config_file, steps, seed, source)
    api.resolve_device(device)
    if (Path(out) / "checkpoints" / "last.pt").exists() and not resume:
        raise UserError(f"{out} already holds a fit; add --resume to continue it, or choose another --out")
    area_map = parse_area_overrides(areas_text) if areas_text else None
    click.echo(f"loading {source} ...", err=True)
    sessions = api.load_sessions(source, sessions_glob, cache_dir=cache_dir, api_url=api_url, stream=stream,
                                 area_map=area_map, align=align, bin_size=bin_size, progress=_download_progress())
    overrides = {k: v for k, v in (("species", subject_species), ("sex", subject_sex), ("age", subject_age)) if v}
    api.check_options(sessions, subject_overrides=overrides, calibrate_on=calibrate_on)
    click.echo(render.format_sessions(sessions), err=True)
    bar, report = _fit_progress(fit_config.steps)
    with bar:
        result = api.fit(sessions, model_config, fit_config, out=out, resume=resume, device=device, progress=report)
    click.echo(f"fitted {result.steps} steps; predicting {sum(len(s.conditions) for s in sessions)} conditions ...",
               err=True)
    predicted = api.predict(result, sessions, calibrate_on=calibrate_on)
    paths = api.save(result, sessions, predicted, out, subject_overrides=overrides)
    documents = [found.evaluation for found in predicted]
    text = "\n".join([f"wrote {path}" for path in paths] + [render.format_evaluation(d) for d in documents])
    _emit({"model_files": [str(p) for p in paths], "evaluation": documents}, as_json, text)


@main.command()
@click.argument("model_file", type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--trials", "n_trials", default=200, show_default=True, type=click.IntRange(min=1),
              help="Simulated trials per condition.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), help="Write PNG plots into this folder.")
@click.option("--observed", "observed_csv", type=click.Path(dir_okay=False),
              help="CSV of perturbation effects measured elsewhere (area, start, stop, power, delta[, n]).")
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation as JSON on stdout.")
@_fail_cleanly
def evaluate(model_file, seed, n_trials, plots_dir, observed_csv, as_json):
    """Score MODEL_FILE's predictions against its held-out trials."""
    from nwb_biornn import api
    from nwb_biornn.render import plots

    loaded = api.load_model(model_file)
    document, predictions = api.evaluate(loaded, seed=seed, n_trials=n_trials, observed=observed_csv)
    if plots_dir:
        document["plots"] = [str(p) for p in plots.evaluation_plots(loaded, predictions, Path(plots_dir))]
    _emit(document, as_json, render.format_evaluation(document))


@main.command()
@click.argument("model_file", type=click.Path(dir_okay=False))
@click.option("--area", required=True, help="Target area (one of the model's areas).")
@click.option("--window", "window_text", required=True, help="START,STOP in seconds relative to the alignment event.")
@click.option("--power", default=5.0, show_default=True, type=float, help="Light power in mW (in the recorded conditions' unit).")
@click.option("--cell-type", default="I", show_default=True, type=click.Choice(["I", "E"]),
              help="I: light on inhibitory neurons (inactivation); E: on excitatory neurons (activation).")
@click.option("--trials", "n_trials", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def perturb(model_file, area, window_text, power, cell_type, n_trials, seed, as_json):
    """Simulate any light condition, recorded or not, on the model in MODEL_FILE."""
    from nwb_biornn import api

    result = api.perturb(model_file, area, _window(window_text, "--window"), power=power, cell_type=cell_type,
                         n_trials=n_trials, seed=seed)
    _emit(result, as_json, render.format_perturbation(result))


@main.command()
@click.argument("model_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def info(model_file, as_json):
    """Summarize a model file: source, preset, neurons, sparsity, training and predictions."""
    from nwb_biornn.nwbio import describe_model_file

    description = describe_model_file(model_file)
    _emit(description, as_json, render.format_info(description))





@main.command()
@click.argument("model_file", type=click.Path(dir_okay=False))
@click.option("--objective", default="behaviour", show_default=True, type=click.Choice(["behaviour"]),
              help="behaviour: the behaviour readout (lick rate) summed over the response window, times dt.")
@click.option("--neurons", "n_neurons", default=10, show_default=True, type=int, help="Neurons per set.")
@click.option("--window", "window_text",
              help="START,STOP in seconds relative to the alignment event (default: the last 100 ms before the "
                   "response window).")
@click.option("--power", default=0.1, show_default=True, type=float,
              help="Stimulation current in model units (threshold gap 0.1).")
@click.option("--trials", "n_trials", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--hidden", "include_hidden", is_flag=True, help="Also target neurons without a recorded unit.")
@click.option("--no-save", is_flag=True, help="Do not write the sets into MODEL_FILE.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Write the gradient map and effects (PNG).")
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def target(model_file, objective, n_neurons, window_text, power, n_trials, seed, include_hidden, no_save,
           plot_file, as_json):
    """Choose neurons to micro-stimulate by the gradient of the behaviour, and simulate the effect.

    Sets of the K neurons (fitted to recorded units) whose stimulation most increases (positive) or decreases
    (negative) the objective to first order, and K random ones, are stimulated in the model and, for demo
    models, in the ground-truth circuit; the sets are stored in MODEL_FILE.
    """
    from nwb_biornn import api

    document = api.target(model_file, save=not no_save, plot=plot_file, objective=objective, n_neurons=n_neurons,
                          window=_window(window_text, "--window"), power=power, n_trials=n_trials, seed=seed,
                          include_hidden=include_hidden)
    text = render.format_targeting(document)
    if window_text is None:
        text += "\n(window: the default, the last 100 ms before the response window)"
    if not no_save:
        text += f"\nstored the sets in {model_file}"
    _emit(document, as_json, text)


@main.command()
@click.argument("model_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Write a PNG bar chart here.")
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def compare(model_files, plot_file, as_json):
    """Compare held-out scores of MODEL_FILES across presets and seeds."""
    from nwb_biornn.analysis.compare import reference_summary, score_rows, summarize_by_preset
    from nwb_biornn.nwbio import describe_model_file
    from nwb_biornn.render.plots import plot_comparison

    rows = score_rows([describe_model_file(path) for path in model_files])
    summary = summarize_by_preset(rows)
    reference = reference_summary(rows)
    if plot_file:
        plot_comparison(summary, plot_file)
    _emit({"models": rows, "presets": summary, "reference": reference}, as_json,
          render.format_comparison(summary, reference))


@main.command()
@click.option("--circuit", default="refcirc1", show_default=True, type=click.Choice(["refcirc1", "refcirc2"]),
              help="refcirc1: A -> B feedforward; refcirc2: with B -> A feedback.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the synthetic dandiset.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--sessions", "n_sessions", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--trials", "n_trials", default=300, show_default=True, type=click.IntRange(min=10))
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def simulate(circuit, out, seed, n_sessions, n_trials, as_json):
    """Record a synthetic dandiset from a ground-truth reference circuit (what `fit demo` uses)."""
    from nwb_biornn import api

    files = [str(p) for p in api.simulate(circuit, out, seed=seed, n_sessions=n_sessions, n_trials=n_trials)]
    _emit({"circuit": circuit, "files": files}, as_json, "\n".join(f"wrote {f}" for f in files))


@main.command()
@click.option("--neurons", default=500, show_default=True, type=int, help="Recorded units (= model neurons).")
@click.option("--time-steps", default=200, show_default=True, type=int, help="Steps per trial.")
@click.option("--batch", default=400, show_default=True, type=int, help="Trials per training step.")
@click.option("--steps", default=5, show_default=True, type=int, help="Timed training steps (after one warm-up step).")
@click.option("--model", "preset_name", default="biornn", show_default=True, help="Preset (as for fit --model).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--bin-size", default=0.002, show_default=True, type=float,
              help="Step in seconds (0.001 with the default 2-3 ms delays: the paper's synthetic setting).")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON on stdout.")
@_fail_cleanly
def bench(neurons, time_steps, batch, steps, preset_name, device, bin_size, as_json):
    """Time training steps of the real fit code path on random data of the given size.

    Reports the median seconds per step, the floating-point work (6 N^2 T B per delay block), the achieved and
    the machine's matrix-multiply GFLOP/s (measured in the same process), and peak memory.
    """
    from nwb_biornn import api
    from nwb_biornn.fit.bench import benchmark

    if not bin_size > 0:
        raise UserError(f"--bin-size must be positive, not {bin_size}")
    report = benchmark(neurons=neurons, time_steps=time_steps, batch=batch, steps=steps, preset_name=preset_name,
                       device=api.resolve_device(device), dt=bin_size)
    _emit(report, as_json, render.format_benchmark(report))