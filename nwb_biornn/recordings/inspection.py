"""What a loaded session holds, as a JSON-able document: what ``inspect`` prints and what ``fit`` prints before
training (both render :func:`describe_session`).

The document of one session::

    {"session", "subject", "path", "units", "units_by_area": {area: {"E": n, "I": n}}, "trials",
     "trial_types": {name: n}, "behaviour": "lick" | "choice" | None, "behaviour_recorded", "ports",
     "behaviour_source", "usable_trials", "fitted_trials",
     "conditions": [{"label", "area", "cell_type", "power", "power_unit", "n_trials", "n_usable", "recorded",
                     "epoch", "window", "site"}],
     "excluded": {reason: n}, "warnings": [...],
     "grid": {"align_event", "t_start", "t_stop", "bin_size"}, "response_window", "responses",
     "choice_task", "choices": {label: n}, "light_layout", "no_light_trials", "hidden_areas"}

``behaviour`` is the session's :attr:`~nwb_biornn.core.session.Session.behaviour_kind` (``"lick"``: go/no-go,
``"choice"``: two-choice), None when no trial's choice is known; ``behaviour_recorded`` says whether lick traces
were recorded (else the choice comes from trial labels), ``ports`` lists the session's ports, ``choice_task`` names
the task they give (``"two-choice"`` or ``"go/no-go"``), ``choices`` counts ``Session.choice`` (``"unknown"`` for
``""``) and ``responses`` the trials with a response at any port.
``usable_trials`` counts the trials not excluded, ``fitted_trials`` the usable light-off trials (what a fit trains
and tests on); a condition is ``recorded`` when its area has recorded units or is one of the session's hidden
areas.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from nwb_biornn.core.session import UNPERTURBED, Session

_TASKS = {"choice": "two-choice", "lick": "go/no-go"}


def behaviour_kind(session: Session) -> str | None:
    """``session.behaviour_kind`` (``"lick"`` or ``"choice"``), None when nothing tells any trial's choice."""
    known = session.behaviour_name != "none" or bool(np.any(session.choice != ""))
    return session.behaviour_kind if known else None


def describe_session(session: Session) -> dict:
    """The inspection document of one session (module docstring)."""
    modelled = set(session.areas) | set(session.metadata.get("hidden_areas", ()))
    conditions = []
    for index, condition in enumerate(session.conditions):
        conditions.append({
            "label": condition.label, "area": condition.area, "cell_type": condition.cell_type,
            "power": float(condition.power), "power_unit": condition.power_unit,
            "n_trials": int(np.sum(session.condition == index)), "n_usable": int(session.trials_of(index).sum()),
            "recorded": set(condition.areas) <= modelled, "epoch": condition.epoch,
            "window": [float(condition.onset), float(condition.offset)], "site": condition.site,
        })
    kind = behaviour_kind(session)
    return {
        "session": session.session_id or session.identifier,
        "subject": session.subject.get("subject_id"),
        "path": str(session.source.path),
        "units": int(session.n_units),
        "units_by_area": {area: {cell_type: int(np.sum((session.unit_area == area)
                                                       & (session.unit_cell_type == cell_type)))
                                 for cell_type in ("E", "I")} for area in session.areas},
        "trials": int(session.n_trials),
        "trial_types": dict(Counter(session.trial_type.tolist())),
        "behaviour": kind,
        "behaviour_recorded": session.behaviour_name != "none",
        "ports": list(session.ports),
        "behaviour_source": session.metadata.get("behaviour_source") or None,
        "usable_trials": int(session.usable.sum()),
        "fitted_trials": int(session.unperturbed.sum()),
        "conditions": conditions,
        "excluded": dict(Counter(reason for reason in session.excluded.tolist() if reason)),
        "warnings": list(session.metadata.get("warnings", [])),
        "grid": {"align_event": session.align_event, "t_start": float(session.t_start),
                 "t_stop": float(session.t_start + session.n_time * session.dt), "bin_size": float(session.dt)},
        "response_window": [float(t) for t in session.response_window],
        "responses": int(np.sum(session.response)),
        "choice_task": _TASKS[kind] if kind else None,
        "choices": dict(Counter(str(c) or "unknown" for c in session.choice.tolist())) if kind else None,
        "light_layout": session.metadata.get("photostim_layout") or None,
        "no_light_trials": int(np.sum(session.condition == UNPERTURBED)),
        "hidden_areas": list(session.metadata.get("hidden_areas", [])),
    }


def inspection_document(sessions) -> dict:
    """``{"sessions": [describe_session(s) for s in sessions]}``."""
    return {"sessions": [describe_session(session) for session in sessions]}
