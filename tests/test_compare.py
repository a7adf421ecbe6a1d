"""compare's summaries: scores averaged per preset, grid point and kind of behaviour."""
import pytest

from nwb_biornn.analysis.compare import SCORES, summarize
from nwb_biornn.render.text import format_comparison


def _row(preset, behaviour, value):
    return {"preset": preset, "grid": {}, "behaviour": behaviour,
            **{f"{block}.{name}": value for block, name in SCORES}}


def test_lick_and_choice_models_are_never_averaged_together():
    rows = [_row("biornn", "lick", 0.1), _row("biornn", "lick", 0.3), _row("biornn", "choice", 0.9)]
    entries = {entry["label"]: entry for entry in summarize(rows)}
    assert set(entries) == {"biornn (lick)", "biornn (choice)"}
    assert entries["biornn (lick)"]["perturbed.delta_behaviour_abs_error"]["mean"] == pytest.approx(0.2)
    assert entries["biornn (choice)"]["n_models"] == 1
    assert "|Δ behaviour|" in format_comparison(list(entries.values()))


def test_a_table_of_choice_models_names_its_measure():
    entries = summarize([_row("biornn", "choice", 0.2), _row("sigma_rnn", "choice", 0.4)])
    assert [entry["label"] for entry in entries] == ["biornn", "sigma_rnn"]
    assert "|ΔP(correct)|" in format_comparison(entries).splitlines()[0]
