"""The pre-fit summary: what was loaded from each session, in plain text, before anything is fitted.

Examples
--------
>>> print(summarize([session]))                                         # doctest: +SKIP
session m01 / ses-1 (sub-m01.nwb)
  trials: 160 (150 usable), window -1.700..1.000 s around go_cue, bins 2 ms
  units: 30 (ALM: 24 E, 6 I)
  ...
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from nwb_biornn.core.session import UNPERTURBED, Session


def _counts(values) -> str:
    return ", ".join(f"{value} {count}" for value, count in Counter(values).items())


def summarize_session(session: Session) -> str:
    """The summary lines of one session."""
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


def summarize(sessions) -> str:
    """Plain-text summary of loaded sessions: units per area and cell type, trials, light conditions with trial
    counts, behaviour signals, and excluded trials with their reasons."""
    sessions = list(sessions)
    header = f"{len(sessions)} session(s), {sum(s.n_units for s in sessions)} units, " \
             f"{sum(s.n_trials for s in sessions)} trials"
    return "\n".join([header] + [summarize_session(session) for session in sessions])
