"""Plain-text renderings of evaluation documents (``fit``, ``evaluate`` and ``info`` print them)."""
from __future__ import annotations


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
