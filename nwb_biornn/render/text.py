"""Plain-text renderings of the documents and objects the commands print; :func:`json_safe` for ``--json``.

Every renderer takes what the API returns (a JSON-able document, or loaded sessions) and returns a string;
nothing here computes a score, reads a file or prints.

Examples
--------
>>> number(0.12345), number(float("nan")), number(None)
('0.123', 'n/a', 'n/a')
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from nwb_biornn.analysis.compare import SCORES
from nwb_biornn.core.session import UNPERTURBED, Session


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


def evaluation_headline(document: dict) -> str:
    """One line of held-out scores (and the ground truth's, for synthetic sessions)."""
    unperturbed, perturbed = document["unperturbed"], document["perturbed"]
    line = (f"light-off TM {number(unperturbed['trial_matching_loss'])}, PSTH {number(unperturbed['psth_error'])} "
            f"({unperturbed['n_trials']} trials); light-on TM {number(perturbed['trial_matching_loss'])}, "
            f"|Δ behaviour| {number(perturbed['delta_behaviour_abs_error'])} ({perturbed['n_conditions']} conditions, "
            f"{perturbed['n_trials']} trials)")
    if "reference" in document:
        reference = document["reference"]
        line += (f"; ground truth: light-off TM {number(reference['unperturbed']['trial_matching_loss'])}, "
                 f"light-on TM {number(reference['perturbed']['trial_matching_loss'])}, "
                 f"|Δ behaviour| {number(reference['perturbed']['delta_behaviour_abs_error'])}")
    return line


def format_evaluation(document: dict) -> str:
    """The evaluation document as a short table for people."""
    unperturbed, perturbed = document["unperturbed"], document["perturbed"]
    lines = [f"session {document['session']}: held out {document['held_out']['test_trials']} light-off test trials "
             f"and {document['held_out']['perturbation_trials']} perturbation trials",
             f"  unperturbed  trial-matching {number(unperturbed['trial_matching_loss'])}"
             f"  PSTH error {number(unperturbed['psth_error'])}  ({unperturbed['n_trials']} trials)",
             f"  perturbed    trial-matching {number(perturbed['trial_matching_loss'])}"
             f"  |Δ behaviour| error {number(perturbed['delta_behaviour_abs_error'])}"
             f"  ({perturbed['n_conditions']} conditions, {perturbed['n_trials']} trials)"]
    if "reference" in document:
        reference = document["reference"]
        lines.append(f"  reference    trial-matching {number(reference['unperturbed']['trial_matching_loss'])} "
                     f"(light off), {number(reference['perturbed']['trial_matching_loss'])} (light on)"
                     f"  |Δ behaviour| error {number(reference['perturbed']['delta_behaviour_abs_error'])}")
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
    return "\n".join(lines)


def _counts(values) -> str:
    return ", ".join(f"{value} {count}" for value, count in Counter(values).items())


def format_session(session: Session) -> str:
    """What was loaded from one session, before anything is fitted (what ``fit`` and ``inspect`` print)."""
    subject = session.subject.get("subject_id") or "?"
    lines = [f"session {subject} / {session.session_id or session.identifier} ({session.source.path})",
             f"  trials: {session.n_trials} ({int(session.usable.sum())} usable), window "
             f"{session.t_start:.3f}..{session.t_start + session.n_time * session.dt:.3f} s around "
             f"{session.align_event}, bins {session.dt * 1000:g} ms",
             f"  trial types: {_counts(session.trial_type.tolist())}"]
    per_area = [f"{area}: " + ", ".join(f"{int(np.sum((session.unit_area == area) & (session.unit_cell_type == t)))}"
                                        f" {t}" for t in ("E", "I")) for area in session.areas]
    lines.append(f"  units: {session.n_units} ({'; '.join(per_area)})")
    source = session.metadata.get("behaviour_source", "")
    lines.append(f"  behaviour: {session.behaviour_name}" + (f" from {source}" if source else "") +
                 f"; response in {session.response_window[0]:.3f}..{session.response_window[1]:.3f} s in "
                 f"{int(session.response.sum())} of {session.n_trials} trials")
    layout = session.metadata.get("photostim_layout", "")
    lines.append(f"  light: {len(session.conditions)} condition(s)" + (f" from {layout}" if layout else "") +
                 f"; {int(np.sum(session.condition == UNPERTURBED))} trials with no decoded light")
    for index, condition in enumerate(session.conditions):
        trials = session.condition == index
        lines.append(f"    {condition.label}: {int(trials.sum())} trials ({int(session.trials_of(index).sum())} "
                     "usable)")
    reasons = Counter(reason for reason in session.excluded.tolist() if reason)
    lines.append("  excluded: " + ("; ".join(f"{reason} ({count})" for reason, count in reasons.items())
                                   if reasons else "none"))
    return "\n".join(lines)


def format_sessions(sessions) -> str:
    """Plain-text summary of loaded sessions: units per area and cell type, trials, light conditions with trial
    counts, behaviour signals, and excluded trials with their reasons."""
    sessions = list(sessions)
    header = f"{len(sessions)} session(s), {sum(s.n_units for s in sessions)} units, " \
             f"{sum(s.n_trials for s in sessions)} trials"
    return "\n".join([header] + [format_session(session) for session in sessions])


def format_info(info: dict) -> str:
    """The text of ``nwb-biornn info`` for :func:`describe_model_file`'s dict."""
    source = info["source"]
    origin = (f"DANDI:{source['dandiset_id']}/{source['version'] or 'draft'} {source['asset_path'] or ''}".strip()
              if source["dandiset_id"] else source["path"])
    training, sparsity = info["training"], info["across_area_weights"]
    lines = [
        f"model file   {info['path']}",
        f"source       {origin} (subject {info['subject_id']}, session {info['session_id']})",
        f"model        {info['preset']} by {info['software']}, id {info['model_id']}, dt {info['dt'] * 1e3:g} ms, "
        f"{info['n_neurons']} neurons, {info['n_inputs']} inputs",
        "neurons      " + "; ".join(f"{area}: {c['E']} E + {c['I']} I ({c['mapped']} mapped)"
                                    for area, c in info["neurons"].items()),
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
    """One line for :func:`nwb_biornn.api.perturb`'s result: the predicted (and recorded) change in behaviour."""
    text = f"{result['condition']}: predicted change in response probability {result['predicted_delta_behaviour']:+.3f}"
    if result["recorded_trials"]:
        text += (f"; recorded {result['recorded_delta_behaviour']:+.3f} over {result['recorded_trials']} held-out "
                 f"trials; trial-matching loss {result['trial_matching_loss']:.3f}")
    return text


def format_targeting(document: dict) -> str:
    """The targeting document as a short table for people."""
    lines = [f"objective {document['objective']} (baseline {document['baseline']:.3f}), window "
             f"{document['window'][0]:.3f}..{document['window'][1]:.3f} s, power {document['power']:g}, "
             f"{document['n_trials']} trials",
             f"  {'set':<10} {'neurons':>7} {'predicted':>10} {'simulated':>10} {'± sem':>7}"
             + (f" {'ground truth':>13} {'± sem':>7}" if "transfer" in document else "")]
    for name, entry in document["sets"].items():
        line = (f"  {name:<10} {len(entry['neurons']['model_ids']):>7} {entry['predicted']:>+10.3f} "
                f"{entry['simulated']:>+10.3f} {entry['simulated_sem']:>7.3f}")
        if "transfer" in document:
            transfer = document["transfer"][name]
            line += f" {transfer['simulated']:>+13.3f} {transfer['simulated_sem']:>7.3f}"
        lines.append(line)
    return "\n".join(lines)


def format_comparison(summary: dict, reference: dict | None = None) -> str:
    """A text table of :func:`~nwb_biornn.analysis.compare.summarize_by_preset` (mean ± std, n), best light-on
    trial-matching loss first."""
    keys = [f"{block}.{name}" for block, name in SCORES]
    short = ["TM light-off", "PSTH light-off", "TM light-on", "|Δ behaviour|"]
    lines = [f"{'preset':<22}" + "".join(f"{name:>20}" for name in short)]

    def cell(stat):
        if not np.isfinite(stat["mean"]):
            return f"{'n/a':>20}"
        spread = f" ± {stat['std']:.3f}" if np.isfinite(stat["std"]) else ""
        return f"{stat['mean']:.3f}{spread} ({stat['n']})".rjust(20)

    for preset, stats in sorted(summary.items(), key=lambda kv: kv[1][keys[2]]["mean"]):
        lines.append(f"{preset:<22}" + "".join(cell(stats[key]) for key in keys))
    if reference:
        lines.append(f"{'reference circuit':<22}" + "".join(cell(reference[key]) for key in keys))
    return "\n".join(lines)


def format_benchmark(report: dict) -> str:
    """The benchmark report as a few lines for people."""
    lines = [
        f"training step of {report['neurons']} neurons x {report['time_steps']} steps x {report['batch']} trials "
        f"({report['preset']}, dt {report['dt'] * 1000:g} ms, {report['delay_blocks']} delay block(s), "
        f"{report['device']}, {report['threads']} thread(s))",
        f"  {report['seconds_per_step']:.3f} s per step (median of {report['steps']})",
        f"  {report['gflops']:.3g} GFLOP/s of {report['flops'] / 1e9:.3g} GFLOP; matrix multiply "
        f"{report['gemm_gflops']:.3g} GFLOP/s ({report['gflops'] / report['gemm_gflops']:.0%}; floor "
        f"{report['floor_seconds']:.3g} s)",
        f"  peak memory {report['peak_memory_mb']:.0f} MB"]
    if report["spike_density"] is not None:
        products = (f"sums of rows in steps at most {report['sparse_max_density']:.0%} dense" if report["sparse_products"]
                    else "dense")
        lines.append(f"  spike density {report['spike_density']:.2%} per step; recurrent products: {products}")
    return "\n".join(lines)
