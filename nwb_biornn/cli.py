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


def _options(*options):
    """One decorator applying several click options, in the order given (options shared by commands)."""
    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command
    return apply


_source_options = _options(
    click.option("--sessions", "sessions_glob", help="Glob over asset paths, e.g. 'sub-440956/*'."),
    click.option("--api-url", help="DANDI API URL (default $DANDI_API_URL, else the DANDI Archive)."),
    click.option("--cache-dir", type=click.Path(file_okay=False), help="Download cache (default $NWB_BIORNN_CACHE)."),
    click.option("--stream", is_flag=True, help="Read DANDI assets by streaming instead of downloading them."),
    click.option("--areas", "areas_text", help="Area overrides 'PATTERN=AREA,...' or a TOML file of them."),
    click.option("--align", default="auto", show_default=True,
                 help="Alignment event: auto, go_cue, sample, trial_start."),
    click.option("--bin-size", type=float,
                 help="Bin width in seconds.  [default: 0.002; a demo circuit's own step, 0.001 for demo:paper-*]"))
"""How a source is read and decoded: the options that ``fit``, ``inspect`` and ``sweep`` share."""

_hidden_areas_option = click.option(
    "--hidden-areas", "hidden_text",
    help="Stimulated areas without recorded units to model as hidden E/I neurons, e.g. 'ALM' or 'ALM,vS1'.")

_subject_options = _options(
    click.option("--subject-species", help="Species when the source lacks it (e.g. 'Mus musculus')."),
    click.option("--subject-sex", help="Sex when the source lacks it: M, F, O or U."),
    click.option("--subject-age", help="Age when the source lacks it, ISO 8601 (e.g. P90D)."),
    click.option("--calibrate-on", "calibrate_on", multiple=True,
                 help="Calibrate mW -> model current on this condition (label as printed); excluded from scores."))
"""What the written model files need beyond the source: subject fields DANDI requires, light calibration."""


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
@click.option("--resume", is_flag=True, help="Continue an interrupted fit from OUT/checkpoints/last.pt (or a "
              "finished one, with a larger --steps).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@_source_options
@_hidden_areas_option
@click.option("--hidden-neurons", type=click.IntRange(min=1),
              help="Neurons per hidden area (default: as many as a recorded area has).")
@_subject_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@_fail_cleanly
def fit(source, preset_name, config_file, steps, seed, out, resume, device, sessions_glob, api_url, cache_dir,
        stream, areas_text, hidden_text, hidden_neurons, align, bin_size, subject_species, subject_sex, subject_age,
        calibrate_on, as_json):
    """Fit a bioRNN to the unperturbed trials of SOURCE and predict its perturbation trials.

    SOURCE is a DANDI id (000363, DANDI:000363/0.230822.0128), a DANDI URL, a local NWB file or folder, or
    demo (demo:refcirc2 for the circuit with feedback, demo:2afc for the two-choice task, demo:paper-refcirc1 and
    demo:paper-refcirc2 for the paper's synthetic benchmark at its own size).
    """
    from nwb_biornn import api
    from nwb_biornn.recordings.areas import parse_area_overrides

    hidden_areas = _names(hidden_text)
    model_config, fit_config = api.configure(preset_name, config_file, steps, seed, source,
                                             hidden_areas=hidden_areas, hidden_neurons=hidden_neurons)
    api.resolve_device(device)
    api.check_out_folder(out, resume)
    area_map = parse_area_overrides(areas_text) if areas_text else None
    click.echo(f"loading {source} ...", err=True)
    sessions = api.load_sessions(source, sessions_glob, cache_dir=cache_dir, api_url=api_url, stream=stream,
                                 area_map=area_map, align=align, bin_size=bin_size, progress=_download_progress(),
                                 hidden_areas=hidden_areas)
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
@click.argument("source")
@_source_options
@_hidden_areas_option
@click.option("--json", "as_json", is_flag=True, help="Print the inspection as JSON on stdout.")
@_fail_cleanly
def inspect(source, sessions_glob, api_url, cache_dir, stream, areas_text, align, bin_size, hidden_text, as_json):
    """Show what fit would read from SOURCE: trials, units per area, behaviour, light conditions, exclusions
    and warnings. Fits and writes nothing (a DANDI source is downloaded into the cache, as fit would).
    """
    from nwb_biornn import api
    from nwb_biornn.recordings.areas import parse_area_overrides

    area_map = parse_area_overrides(areas_text) if areas_text else None
    document = api.inspect(source, sessions_glob, cache_dir=cache_dir, api_url=api_url, stream=stream,
                           area_map=area_map, hidden_areas=_names(hidden_text), align=align, bin_size=bin_size,
                           progress=_download_progress())
    _emit(document, as_json, render.format_inspection(document))


def _names(text: str | None) -> tuple:
    """``'ALM, vS1'`` -> ``('ALM', 'vS1')``."""
    return tuple(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))


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
@click.option("--area", required=True,
              help="Target area (one of the model's areas), or several joined by '+' (bilateral: ALM_L+ALM_R).")
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
@click.option("--objective", type=click.Choice(["behaviour", "lick_right", "correct"]),
              help="behaviour: expected licks in the response window; lick_right: P(first lick on the right); "
                   "correct: P(first lick at the instructed port) (two-choice sessions; the default there, "
                   "behaviour elsewhere).")
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
@click.option("--transfer-to", "transfer_to", type=click.Path(dir_okay=False),
              help="Also stimulate the same units' neurons in this model file (another fit of the same recording).")
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def target(model_file, objective, n_neurons, window_text, power, n_trials, seed, include_hidden, no_save,
           plot_file, transfer_to, as_json):
    """Choose neurons to micro-stimulate by the gradient of the behaviour, and simulate the effect.

    Sets of the K neurons (fitted to recorded units) whose stimulation most increases (positive) or decreases
    (negative) the objective to first order, and K random ones, are stimulated in the model and in the neurons
    of the same units of another network: the model of --transfer-to (a second fit of the same recording), else,
    for demo models, the ground-truth circuit. The sets are stored in MODEL_FILE.
    """
    from nwb_biornn import api

    document = api.target(model_file, save=not no_save, plot=plot_file, objective=objective, n_neurons=n_neurons,
                          window=_window(window_text, "--window"), power=power, n_trials=n_trials, seed=seed,
                          include_hidden=include_hidden, transfer_to=transfer_to)
    text = render.format_targeting(document)
    if window_text is None:
        text += "\n(window: the default, the last 100 ms before the response window)"
    if not no_save:
        text += f"\nstored the sets in {model_file}"
    _emit(document, as_json, text)


@main.command()
@click.argument("model_files", nargs=-1, required=True, type=click.Path())
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Write a PNG bar chart here.")
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def compare(model_files, plot_file, as_json):
    """Compare held-out scores of MODEL_FILES across presets, grid points and seeds.

    MODEL_FILES are model files or folders of them (a fit's --out, a sweep's DIR).
    """
    from nwb_biornn import api

    document = api.compare(model_files, plot=plot_file)
    _emit(document, as_json, render.format_comparison(document["presets"], document["reference"]))


def _comma_list(kind):
    """A click callback splitting ``a,b,c`` into a list of ``kind``."""
    def parse(ctx, param, text):
        try:
            values = [kind(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise click.BadParameter(f"expected a comma-separated list, got {text!r}") from None
        if not values:
            raise click.BadParameter("give at least one value")
        return values
    return parse


def _sweep_progress(counts, outcome):
    """The sweep's progress callback: a line per finished job, and the counts."""
    if outcome is not None:
        what = f"{outcome['preset']} seed {outcome['seed']}" + "".join(f" {k}={v}" for k, v in outcome["grid"].items())
        status = "failed, retrying" if outcome["retrying"] else outcome["status"]
        line = f"{status}: {what} ({', '.join(outcome['sessions'])}) in {outcome['seconds']:.0f} s"
        if outcome["error"]:
            line += f": {outcome['error']}"
        click.echo(line, err=True)
    click.echo(render.format_sweep_progress(counts), err=True)


@main.command()
@click.argument("source")
@click.option("--models", default="biornn", show_default=True, callback=_comma_list(str),
              help="Presets, comma-separated: biornn,sigma_rnn,no_spike,...")
@click.option("--seeds", default="0", show_default=True, callback=_comma_list(int), help="Seeds, comma-separated.")
@click.option("--per", default="session", show_default=True, type=click.Choice(["session", "subject", "all"]),
              help="One fitted network per session, per subject, or one for all sessions.")
@click.option("--set", "settings", multiple=True, metavar="KEY=V1,V2",
              help="Grid of a [model] or [fit] field, e.g. fit.lr=1e-3,3e-3 (repeatable: the product is swept).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output dandiset: every model file of the sweep, checkpoints under OUT/.sweep/.")
@click.option("--executor", "executor_name", default="local", show_default=True,
              type=click.Choice(["local", "ray", "slurm"]), help="Where jobs run.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Jobs at once (default: half the cores here; no limit on a Ray cluster).")
@click.option("--cpus-per-job", type=float,
              help="CPUs (torch threads) per job (default: cores / workers here, 1 on a cluster).")
@click.option("--gpus-per-job", default=0.0, show_default=True, type=float,
              help="GPUs per job on Ray (fractions share a GPU) or SLURM.")
@click.option("--address", help="Ray cluster to join (default $RAY_ADDRESS; none: start a local Ray).")
@click.option("--retries", default=1, show_default=True, type=click.IntRange(min=0),
              help="Tries again of a failed job.")
@click.option("--slurm-partition", help="SLURM partition.")
@click.option("--timeout-min", default=240, show_default=True, type=click.IntRange(min=1),
              help="SLURM time limit per job (a job out of time is requeued and resumes).")
@click.option("--slurm-array-parallelism", type=click.IntRange(min=1), help="Array tasks running at once on SLURM.")
@click.option("--slurm-cluster", default="slurm", show_default=True, type=click.Choice(["slurm", "local"]),
              help="local: run the array on this machine through submitit (to try a sweep without a cluster).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML file overriding [model] and [fit] fields.")
@click.option("--steps", type=int, help="Training steps (default: the preset's); more than a finished job was "
              "fitted for trains it on from its checkpoint.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda (where each job runs).")
@_source_options
@_subject_options
@click.option("--json", "as_json", is_flag=True, help="Print the sweep's jobs as JSON on stdout.")
@_fail_cleanly
def sweep(source, models, seeds, per, settings, out, executor_name, workers, cpus_per_job, gpus_per_job, address,
          retries, slurm_partition, timeout_min, slurm_array_parallelism, slurm_cluster, config_file, steps, device,
          sessions_glob, api_url, cache_dir, stream, areas_text, align, bin_size, subject_species, subject_sex,
          subject_age, calibrate_on, as_json):
    """Fit SOURCE for every preset x seed (x --set grid point) into one dandiset OUT, here, on Ray or on SLURM.

    Each job is one `fit` (sessions grouped --per). Finished jobs are skipped and unfinished ones resume from
    their checkpoints, so the same command continues a sweep after a crash, kill or preemption; with a larger
    --steps, it trains the finished fits on.
    """
    from nwb_biornn.sweep import ExecutorOptions, run_sweep

    executor = ExecutorOptions(executor_name, workers, cpus_per_job, gpus_per_job, address, slurm_partition,
                               timeout_min, slurm_array_parallelism, slurm_cluster)
    overrides = {k: v for k, v in (("species", subject_species), ("sex", subject_sex), ("age", subject_age)) if v}
    click.echo(f"planning the sweep of {source} ...", err=True)
    try:
        document = run_sweep(source, out, models=models, seeds=seeds, settings=settings, per=per, executor=executor,
                             retries=retries, sessions_glob=sessions_glob, config_file=config_file, steps=steps,
                             device=device, cache_dir=cache_dir, api_url=api_url, stream=stream, areas_text=areas_text,
                             align=align, bin_size=bin_size, subject_overrides=overrides, calibrate_on=calibrate_on,
                             progress=_sweep_progress, download_progress=_download_progress())
    except KeyboardInterrupt:
        click.echo("error: interrupted (the same command continues the sweep where it stopped)", err=True)
        sys.exit(130)
    _emit(document, as_json, render.format_sweep(document))
    failed = [job for job in document["jobs"] if job["status"] == "failed"]
    if failed:
        logs = Path(document["out"]) / ".sweep" / "<job>" / "error.log"
        raise UserError(f"{len(failed)} of {len(document['jobs'])} jobs failed (tracebacks in {logs}); "
                        "the same command tries them again")


@main.command()
@click.option("--circuit", default="refcirc1", show_default=True,
              type=click.Choice(["refcirc1", "refcirc2", "2afc"]),
              help="refcirc1: A -> B feedforward go/no-go; refcirc2: with B -> A feedback; 2afc: two hemispheres, "
                   "lick left / lick right.")
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
@click.option("--one-thread-baseline/--no-one-thread-baseline", default=True, show_default=True,
              help="Time the steps again on one thread, for the speed-up the threads bring (CPU, several threads).")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON on stdout.")
@_fail_cleanly
def bench(neurons, time_steps, batch, steps, preset_name, device, bin_size, one_thread_baseline, as_json):
    """Time training steps of the real fit code path on random data of the given size.

    Reports the median seconds per step (and on one thread, with the speed-up the threads bring), the
    floating-point work (6 N^2 T B per delay block), the achieved and the machine's matrix-multiply GFLOP/s
    (measured in the same process), and peak memory.
    """
    from nwb_biornn import api
    from nwb_biornn.fit.bench import benchmark

    if not bin_size > 0:
        raise UserError(f"--bin-size must be positive, not {bin_size}")
    report = benchmark(neurons=neurons, time_steps=time_steps, batch=batch, steps=steps, preset_name=preset_name,
                       device=api.resolve_device(device), dt=bin_size, one_thread_baseline=one_thread_baseline)
    _emit(report, as_json, render.format_benchmark(report))