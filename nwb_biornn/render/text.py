"""Plain-text renderings of the documents and objects the commands print; :func:`json_safe` for ``--json``.

Every renderer takes what the API returns (a JSON-able document, or loaded sessions) and returns a string;
nothing here computes a score, reads a file or prints.

Examples
--------
>>> number(0.12345), number(float("nan")), number(None)
('0.123', 'n/a', 'n/a')
"""
from __future__ import annotations

import numpy as np

from nwb_biornn.analysis.compare import SCORES
from nwb_biornn.recordings.inspection import inspection_document


def json_safe(value):
    """``value`` with NaN and infinities replaced by None, so the output is strict JSON."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def number(value) -> str:
    """Three decimals, or ``n/a`` for a missing or NaN score.

    Examples
    --------
    >>> number(0.12345), number(float("nan")), number(None)
    ('0.123', 'n/a', 'n/a')
    """
    return "n/a" if value is None or value != value else f"{value:.3f}"


def behaviour_measure(kind: str | None) -> str:
    """What a change in behaviour is a change of: ``P(correct)`` for a two-choice session, else ``P(lick)``.

    Examples
    --------
    >>> behaviour_measure("choice"), behaviour_measure("lick")
    ('P(correct)', 'P(lick)')
    """
    return "P(correct)" if kind == "choice" else "P(lick)"


def evaluation_headline(document: dict) -> str:
    """One line of held-out scores (and the ground truth's, for synthetic sessions)."""
    unperturbed, perturbed = document["unperturbed"], document["perturbed"]
    measure = behaviour_measure(document.get("behaviour"))
    line = (f"light-off TM {number(unperturbed['trial_matching_loss'])}, PSTH {number(unperturbed['psth_error'])} "
            f"({unperturbed['n_trials']} trials); light-on TM {number(perturbed['trial_matching_loss'])}, "
            f"|Δ{measure}| {number(perturbed['delta_behaviour_abs_error'])} ({perturbed['n_conditions']} conditions, "
            f"{perturbed['n_trials']} trials)")
    if "reference" in document:
        reference = document["reference"]
        line += (f"; ground truth: light-off TM {number(reference['unperturbed']['trial_matching_loss'])}, "
                 f"light-on TM {number(reference['perturbed']['trial_matching_loss'])}, "
                 f"|Δ{measure}| {number(reference['perturbed']['delta_behaviour_abs_error'])}")
    return line


def _agreement(perturbed: dict) -> str:
    """How the predicted changes in behaviour agree with the recorded ones over conditions (method.md §4.2)."""
    sign = perturbed["delta_behaviour_sign_agreement"]
    pairs = perturbed.get("delta_behaviour_compared") == "condition and trial type"
    entries = "(condition, trial type) pairs" if pairs else "conditions"
    return (f"cosine {number(perturbed['delta_behaviour_cosine'])}, right sign "
            f"{'n/a' if sign is None or sign != sign else f'{sign:.0%}'} of clear effects, "
            f"{perturbed['delta_behaviour_overlap']} of {perturbed.get('n_compared', perturbed['n_conditions'])} "
            f"{entries} within Welch |t| < 1.96")


def format_evaluation(document: dict) -> str:
    """The evaluation document as a short table for people."""
    unperturbed, perturbed = document["unperturbed"], document["perturbed"]
    measure = "Δ" + behaviour_measure(document.get("behaviour"))
    lines = [f"session {document['session']}: held out {document['held_out']['test_trials']} light-off test trials "
             f"and {document['held_out']['perturbation_trials']} perturbation trials; behaviour "
             f"{document.get('behaviour', 'lick')}, scored as {measure}",
             f"  unperturbed  trial-matching {number(unperturbed['trial_matching_loss'])}"
             f"  PSTH error {number(unperturbed['psth_error'])}  ({unperturbed['n_trials']} trials)",
             f"  perturbed    trial-matching {number(perturbed['trial_matching_loss'])}"
             f"  |{measure}| error {number(perturbed['delta_behaviour_abs_error'])}"
             f"  ({perturbed['n_conditions']} conditions, {perturbed['n_trials']} trials)",
             f"               {measure}: {_agreement(perturbed)}"]
    if "reference" in document:
        reference = document["reference"]
        lines.append(f"  reference    trial-matching {number(reference['unperturbed']['trial_matching_loss'])} "
                     f"(light off), {number(reference['perturbed']['trial_matching_loss'])} (light on)"
                     f"  |{measure}| error {number(reference['perturbed']['delta_behaviour_abs_error'])}")
        lines.append(f"               {measure}: {_agreement(reference['perturbed'])}")
    if document.get("note"):
        lines.append(f"  {document['note']}")
    if "observed" in document:
        observed = document["observed"]
        lines.append(f"  observed     |Δ observed - Δ predicted| {number(observed['abs_error'])}"
                     f"  cosine {number(observed['cosine_similarity'])}  ({observed['n_conditions']} conditions)")
    if document["conditions"]:
        lines.append(f"  {'condition':<40} {'trials':>6} {'Δ recorded':>11} {'Δ predicted':>12} {'TM loss':>8}")
        for row in document["conditions"]:
            mark = " (calibration)" if row["calibration"] else ""
            lines.append(f"  {row['label']:<40} {row['n_trials']:>6} {number(row['recorded_delta_behaviour']):>11} "
                         f"{number(row['predicted_delta_behaviour']):>12} {number(row['trial_matching_loss']):>8}{mark}")
            if document.get("behaviour") == "choice":
                lines += [f"    {trial_type:<38} {'':>6} {number(delta['recorded']):>11} {number(delta['predicted']):>12}"
                          for trial_type, delta in row["delta_by_trial_type"].items()]
    return "\n".join(lines)


def _counts(values: dict) -> str:
    return ", ".join(f"{value} {count}" for value, count in values.items())


def format_session_document(doc: dict) -> str:
    """One session of the inspection document (:func:`~nwb_biornn.recordings.inspection.describe_session`) as
    text: trials, units per area and cell type, behaviour, light conditions, exclusions and warnings."""
    grid = doc["grid"]
    lines = [f"session {doc['subject'] or '?'} / {doc['session']} ({doc['path']})",
             f"  trials: {doc['trials']} ({doc['usable_trials']} usable, {doc['fitted_trials']} of them light-off to "
             f"fit), window "
             f"{grid['t_start']:.3f}..{grid['t_stop']:.3f} s around {grid['align_event']}, bins "
             f"{grid['bin_size'] * 1000:g} ms",
             f"  trial types: {_counts(doc['trial_types'])}"]
    per_area = [f"{area}: {c['E']} E, {c['I']} I" for area, c in doc["units_by_area"].items()]
    hidden = f"; hidden: {', '.join(doc['hidden_areas'])}" if doc["hidden_areas"] else ""
    lines.append(f"  units: {doc['units']} ({'; '.join(per_area)}){hidden}")
    window = doc["response_window"]
    kind = {"lick": "lick_rate", "choice": f"choice ({doc['choice_task']})", None: "none"}[doc["behaviour"]]
    source = f" from {doc['behaviour_source']}" if doc["behaviour_source"] else ""
    choices = f" [{_counts(doc['choices'])}]" if doc["choices"] else ""
    lines.append(f"  behaviour: {kind}{source}{choices}; response in {window[0]:.3f}..{window[1]:.3f} s in "
                 f"{doc['responses']} of {doc['trials']} trials")
    layout = f" from {doc['light_layout']}" if doc["light_layout"] else ""
    lines.append(f"  light: {len(doc['conditions'])} condition(s){layout}; {doc['no_light_trials']} trials with no "
                 "decoded light")
    for condition in doc["conditions"]:
        note = "" if condition["recorded"] else f", {condition['area']} not recorded"
        lines.append(f"    {condition['label']}: {condition['n_trials']} trials ({condition['n_usable']} usable)"
                     f"{note}")
    lines.append("  excluded: " + ("; ".join(f"{reason} ({count})" for reason, count in doc["excluded"].items())
                                   if doc["excluded"] else "none"))
    lines += [f"  warning: {warning}" for warning in doc["warnings"]]
    return "\n".join(lines)


def format_inspection(document: dict) -> str:
    """The inspection document (``{"sessions": [...]}``) as text: what ``fit`` prints before training."""
    sessions = document["sessions"]
    header = f"{len(sessions)} session(s), {sum(s['units'] for s in sessions)} units, " \
             f"{sum(s['trials'] for s in sessions)} trials"
    return "\n".join([header] + [format_session_document(doc) for doc in sessions])


def format_sessions(sessions) -> str:
    """Plain-text summary of loaded sessions: units per area and cell type, trials, light conditions with trial
    counts, behaviour signals, excluded trials with their reasons, and warnings."""
    return format_inspection(inspection_document(sessions))


def format_info(info: dict) -> str:
    """The text of ``nwb-biornn info`` for :func:`describe_model_file`'s dict."""
    source = info["source"]
    origin = (f"DANDI:{source['dandiset_id']}/{source['version'] or 'draft'} {source['asset_path'] or ''}".strip()
              if source["dandiset_id"] else source.get("file_name") or source["path"])
    training, sparsity = info["training"], info["across_area_weights"]
    lines = [
        f"model file   {info['path']}",
        f"source       {origin} (subject {info['subject_id']}, session {info['session_id']})",
        f"fetch from   {_fetch_text(source)}",
        f"model        {info['preset']} by {info['software']}, id {info['model_id']}, dt {info['dt'] * 1e3:g} ms, "
        f"{info['n_neurons']} neurons, {info['n_inputs']} inputs",
        "neurons      " + "; ".join(f"{area}: {c['E']} E + {c['I']} I ({c['mapped']} mapped)"
                                    for area, c in info["neurons"].items()),
        _behaviour_line(info.get("behaviour")),
        f"across-area  {sparsity['nonzero']} of {sparsity['allowed']} allowed weights non-zero "
        f"({100 * sparsity['fraction_nonzero']:.1f} %)",
        f"training     {training['steps']} steps; final losses "
        + ", ".join(f"{k} {v:.4g}" for k, v in (training["final_losses"] or {}).items()),
        "trials       " + ", ".join(f"{k} {v}" for k, v in (training["trials"] or {}).items()),
    ]
    if training["excluded_reasons"]:
        lines.append("excluded     " + ", ".join(f"{k}: {v}" for k, v in training["excluded_reasons"].items()))
    lines.append("held out     " + (", ".join(training["heldout_conditions"]) or "nothing (no perturbation trials)"))
    scores = dict(info["scores"])
    if "evaluation" in scores:
        lines.append("scores       " + evaluation_headline(scores.pop("evaluation")))
    light = scores.pop("light", None)
    if light:
        how = (f"calibrated on {', '.join(light['calibrated_on'])}" if light["calibrated_on"]
               else "the fixed default")
        lines.append(f"light        {light['mw_to_current']:g} model current per mW ({how})")
    for key, value in _scalar_leaves(scores):
        lines.append(f"score        {key}: {f'{value:.4g}' if isinstance(value, float) else value}")
    lines.append(f"predictions  {len(info['predictions'])} condition(s)")
    for p in info["predictions"]:
        recorded = ("" if np.isnan(p["recorded_delta_behaviour"])
                    else f", recorded {p['recorded_delta_behaviour']:+.3f}")
        note = " (calibration)" if p["calibration"] else ""
        lines.append(f"  {p['label']}: predicted delta behaviour {p['predicted_delta_behaviour']:+.3f}{recorded}, "
                     f"{p['num_heldout_trials']} held-out trials{note}")
    if info["has_reference"]:
        lines.append("reference    ground-truth circuit stored")
    if info["targeted_sets"]:
        lines.append(f"targets      {info['targeted_sets']} targeted neuron set(s)")
    return "\n".join(lines)


def _fetch_text(source: dict) -> str:
    """Where anyone can get the source again: the DANDI instance, asset id and digest, or the file's sha256."""
    if source.get("kind") == "dandi":
        digest = (source.get("digest") or {}).get("dandi:dandi-etag")
        return (f"{source.get('api_url') or 'DANDI'} asset {source.get('asset_id') or '?'}"
                + (f", dandi-etag {digest}" if digest else ", digest unknown"))
    sha256 = source.get("sha256")
    return f"the file {source.get('file_name') or source['path']}" + (f", sha256 {sha256}" if sha256 else
                                                                      " (no sha256 recorded)")


def _scalar_leaves(values: dict, prefix: str = ""):
    """``(dotted.key, value)`` for every scalar in nested dicts; lists of scalars joined, lists of dicts skipped."""
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _scalar_leaves(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            if all(not isinstance(item, (dict, list)) for item in value):
                yield f"{prefix}{key}", ", ".join(str(item) for item in value) or "none"
        else:
            yield f"{prefix}{key}", value


def format_perturbation(result: dict) -> str:
    """:func:`nwb_biornn.api.perturb`'s result for people: the predicted (and recorded) change in behaviour, and
    for a choice model one more line per trial type (the side-averaged change hides a bias to one side)."""
    text = (f"{result['condition']}: predicted change in {behaviour_measure(result.get('behaviour'))} "
            f"{result['predicted_delta_behaviour']:+.3f}")
    if result["recorded_trials"]:
        text += (f"; recorded {result['recorded_delta_behaviour']:+.3f} over {result['recorded_trials']} held-out "
                 f"trials; trial-matching loss {result['trial_matching_loss']:.3f}")
    if result.get("behaviour") == "choice":
        for trial_type, entry in result["delta_by_trial_type"].items():
            recorded = "" if np.isnan(entry["recorded"]) else f", recorded {entry['recorded']:+.3f}"
            text += f"\n  {trial_type} trials: predicted {entry['predicted']:+.3f}{recorded}"
    return text


def format_targeting(document: dict) -> str:
    """The targeting document as a short table for people."""
    lines = [f"objective {document['objective']} (baseline {document['baseline']:.3f}), window "
             f"{document['window'][0]:.3f}..{document['window'][1]:.3f} s, power {document['power']:g}, "
             f"{document['n_trials']} trials",
             f"  {'set':<10} {'neurons':>7} {'predicted':>10} {'simulated':>10} {'± sem':>7}"
             + (f" {'transferred':>13} {'± sem':>7}" if "transfer" in document else "")]
    for name, entry in document["sets"].items():
        line = (f"  {name:<10} {len(entry['neurons']['model_ids']):>7} {entry['predicted']:>+10.3f} "
                f"{entry['simulated']:>+10.3f} {entry['simulated_sem']:>7.3f}")
        if "transfer" in document:
            transfer = document["transfer"][name]
            line += f" {transfer['simulated']:>+13.3f} {transfer['simulated_sem']:>7.3f}"
        lines.append(line)
    if "transfer" in document:
        matched = {name: len(entry["neurons"]["model_ids"]) for name, entry in document["transfer"].items()}
        lines.append(f"  transferred: the same units' neurons in {document['transfer_to']} ("
                     + ", ".join(f"{name} {n}" for name, n in matched.items()) + " matched)")
    return "\n".join(lines)


def _behaviour_line(behaviour: dict | None) -> str:
    """``info``'s line on what the model reads out (model files of before ndx-biornn 0.3 read as one lick port)."""
    if not behaviour:
        return "behaviour    lick: one lick port"
    fitted = "the recorded lick rates" if behaviour["name"] == "lick_rate" else "the trials' choices"
    return (f"behaviour    {behaviour['kind']}: a lick rate per port ({', '.join(behaviour['ports'])}), fitted to "
            f"{fitted}; scored as Δ{behaviour_measure(behaviour['kind'])}")


def format_comparison(summary: list, reference: dict | None = None) -> str:
    """A text table of :func:`~nwb_biornn.analysis.compare.summarize` (mean ± std, n), one row per preset and grid
    point, best light-on trial-matching loss first."""
    keys = [f"{block}.{name}" for block, name in SCORES]
    kinds = {entry.get("behaviour", "lick") for entry in summary}
    change = f"|Δ{behaviour_measure(kinds.pop())}|" if len(kinds) == 1 else "|Δ behaviour|"
    short = ["TM light-off", "PSTH light-off", "TM light-on", change, "Δ cosine", "Δ right sign"]
    width = max([22] + [len(entry["label"]) + 2 for entry in summary])
    lines = [f"{'preset':<{width}}" + "".join(f"{name:>20}" for name in short)]

    def cell(stat):
        if not np.isfinite(stat["mean"]):
            return f"{'n/a':>20}"
        spread = f" ± {stat['std']:.3f}" if np.isfinite(stat["std"]) else ""
        return f"{stat['mean']:.3f}{spread} ({stat['n']})".rjust(20)

    def light_on(entry):
        mean = entry[keys[2]]["mean"]
        return mean if np.isfinite(mean) else np.inf

    for entry in sorted(summary, key=light_on):
        lines.append(f"{entry['label']:<{width}}" + "".join(cell(entry[key]) for key in keys))
    if reference:
        lines.append(f"{'reference circuit':<{width}}" + "".join(cell(reference[key]) for key in keys))
    return "\n".join(lines)


def format_sweep_progress(counts: dict) -> str:
    """One line of a running sweep (:func:`nwb_biornn.sweep.run_sweep`'s progress counts)."""
    left = "" if counts["eta_seconds"] is None else f"; about {_clock(counts['eta_seconds'])} left"
    skipped = f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
    return (f"[{_clock(counts['elapsed_seconds'])}] {counts['done']} done{skipped}, {counts['running']} running, "
            f"{counts['failed']} failed, {counts['to_run']} to run{left}")


def format_sweep(document: dict) -> str:
    """The jobs of a finished sweep, one line each, then the totals."""
    lines = []
    for job in document["jobs"]:
        what = f"{job['preset']} seed {job['seed']}" + "".join(f" {k}={v}" for k, v in job["grid"].items())
        where = ", ".join(job["sessions"]) if len(job["sessions"]) <= 2 else f"{len(job['sessions'])} sessions"
        line = f"{job['status']:>8}  {what} [{where}] {job['seconds']:.0f} s"
        if job["status"] == "failed":
            line += f": {job['error']}"
        lines.append(line)
    totals = {status: sum(job["status"] == status for job in document["jobs"])
              for status in ("done", "skipped", "failed")}
    lines.append(f"{len(document['jobs'])} jobs ({document['executor']}): "
                 + ", ".join(f"{n} {s}" for s, n in totals.items()) + f"; model files under {document['out']}")
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_benchmark(report: dict) -> str:
    """The benchmark report as a few lines for people."""
    lines = [
        f"training step of {report['neurons']} neurons x {report['time_steps']} steps x {report['batch']} trials "
        f"({report['preset']}, dt {report['dt'] * 1000:g} ms, {report['delay_blocks']} delay block(s), "
        f"{report['device']}, {report['threads']} thread(s))",
        f"  {report['seconds_per_step']:.3f} s per step (median of {report['steps']})"
        + ("" if report.get("thread_speedup") is None else
           f"; {report['one_thread_seconds_per_step']:.3f} s on one thread: {report['thread_speedup']:.2f}x from "
           f"{report['threads']} threads"),
        f"  {report['gflops']:.3g} GFLOP/s of {report['flops'] / 1e9:.3g} GFLOP; matrix multiply "
        f"{report['gemm_gflops']:.3g} GFLOP/s ({report['gflops'] / report['gemm_gflops']:.0%}; floor "
        f"{report['floor_seconds']:.3g} s)",
        f"  peak memory {report['peak_memory_mb']:.0f} MB"]
    if report["spike_density"] is not None:
        products = (f"sums of rows in steps at most {report['sparse_max_density']:.0%} dense" if report["sparse_products"]
                    else "dense")
        lines.append(f"  spike density {report['spike_density']:.2%} per step; recurrent products: {products}")
    return "\n".join(lines)
