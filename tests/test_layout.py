import numpy as np
import pytest
from synthetic_sessions import make_session

from nwb_biornn.core.errors import UserError
from nwb_biornn.model.layout import HIDDEN, NeuronLayout, layout_for_sessions


def small_session(areas, cell_types, session_id="s"):
    session = make_session(n_trials=2, n_time=10, areas=("A",), units_per_area=(1, 1), session_id=session_id)
    n = len(areas)
    session.spikes = np.zeros((2, 10, n), np.uint8)
    session.unit_ids, session.unit_area, session.unit_cell_type = np.arange(n), np.array(areas), np.array(cell_types)
    return session


def test_layout_orders_by_area_then_cell_type_and_maps_every_unit_once():
    first = small_session(["M1", "S1", "M1", "M1"], ["I", "E", "E", "E"])
    second = small_session(["S1", "ALM"], ["I", "E"])
    layout = layout_for_sessions([first, second], hidden_per_area=5, excitatory_fraction=0.8)
    assert layout.areas == ("M1", "S1", "ALM")
    assert layout.n_neurons == 6 + 3 * 5
    m1 = layout.area == "M1"
    assert layout.cell_type[m1].tolist() == ["E"] * 6 + ["I"] * 2
    assert layout.session[m1].tolist() == [0, 0] + [HIDDEN] * 4 + [0, HIDDEN]
    assert layout.unit[m1].tolist() == [2, 3] + [HIDDEN] * 4 + [0, HIDDEN]
    for index, session in enumerate((first, second)):
        neurons, units = layout.neurons_of(index)
        assert units.tolist() == list(range(session.n_units))
        assert layout.area[neurons].tolist() == session.unit_area.tolist()
        assert layout.cell_type[neurons].tolist() == session.unit_cell_type.tolist()
    assert np.array_equal(layout.area_index, np.array([0] * 8 + [1] * 7 + [2] * 6))


def test_layout_without_hidden_neurons_has_only_recorded_units():
    layout = layout_for_sessions([small_session(["A", "B"], ["E", "I"])])
    assert layout.session.tolist() == [0, 0] and layout.unit.tolist() == [0, 1]


def test_layout_rejects_unlabelled_cell_types_and_empty_sessions():
    with pytest.raises(UserError, match="cell type"):
        layout_for_sessions([small_session(["A"], ["unknown"])])
    with pytest.raises(UserError, match="no units"):
        layout_for_sessions([])


def test_hidden_layout_and_validation():
    layout = NeuronLayout.hidden({"A": 5}, excitatory_fraction=0.6)
    assert layout.cell_type.tolist() == ["E", "E", "E", "I", "I"] and layout.excitatory.sum() == 3
    with pytest.raises(ValueError):
        NeuronLayout(area=np.array(["A"]), cell_type=np.array(["X"]), session=np.array([0]), unit=np.array([0]),
                     areas=("A",))


def test_hidden_areas_are_sized_like_a_recorded_area_or_as_asked():
    session = small_session(["Thalamus"] * 4 + ["M1"] * 6, ["E", "E", "E", "I"] + ["E"] * 5 + ["I"])
    layout = layout_for_sessions([session], hidden_areas=("ALM",))
    assert layout.areas == ("Thalamus", "M1", "ALM")
    alm = layout.area == "ALM"
    assert layout.cell_type[alm].tolist() == ["E", "E", "E", "E", "I"]          # mean of 4 and 6 units, 80 % E
    assert (layout.session[alm] == HIDDEN).all() and (layout.unit[alm] == HIDDEN).all()
    tiny = layout_for_sessions([session], hidden_areas=("ALM", "vS1"), hidden_area_neurons=1)
    assert tiny.cell_type[tiny.area == "ALM"].tolist() == ["E", "I"]          # at least one E and one I
    assert tiny.areas[-2:] == ("ALM", "vS1")
    on_top = layout_for_sessions([session], hidden_per_area=2, hidden_areas=("M1",), hidden_area_neurons=5)
    assert int(np.sum(on_top.area == "M1")) == 6 + 2 + 5
