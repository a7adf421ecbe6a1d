"""Which model neuron stands for which recorded unit: :class:`NeuronLayout`.

Every recorded unit of every fitted session gets exactly one model neuron of the same area and cell type;
``hidden_per_area`` adds neurons with no recorded counterpart. Neurons are ordered by area, and inside an area
excitatory (E) before inhibitory (I) neurons.

Examples
--------
>>> layout = NeuronLayout.hidden({"A": 4, "B": 2}, excitatory_fraction=0.5)
>>> layout.area.tolist(), layout.cell_type.tolist()
(['A', 'A', 'A', 'A', 'B', 'B'], ['E', 'E', 'I', 'I', 'E', 'I'])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nwb_biornn.core.errors import UserError

HIDDEN = -1
"""Value of :attr:`NeuronLayout.session` and :attr:`NeuronLayout.unit` for a neuron without a recorded unit."""


@dataclass(frozen=True)
class NeuronLayout:
    """Model neuron -> area, cell type and (session, unit).

    Attributes
    ----------
    area : ndarray, shape (N,), str
        Model area of each neuron.
    cell_type : ndarray, shape (N,), str
        ``"E"`` or ``"I"``.
    session : ndarray, shape (N,), int
        Index of the session the neuron is fitted to, ``HIDDEN`` (-1) for hidden neurons.
    unit : ndarray, shape (N,), int
        Column of that session's ``Session.spikes``, ``HIDDEN`` for hidden neurons.
    areas : tuple of str
        Area names, in the order the neurons are laid out.
    """

    area: np.ndarray
    cell_type: np.ndarray
    session: np.ndarray
    unit: np.ndarray
    areas: tuple

    def __post_init__(self):
        n = len(self.area)
        for name in ("cell_type", "session", "unit"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"layout.{name} has {len(getattr(self, name))} entries for {n} neurons")
        if not set(self.cell_type.tolist()) <= {"E", "I"}:
            raise ValueError("layout.cell_type must hold only 'E' and 'I'")
        if not set(self.area.tolist()) <= set(self.areas):
            raise ValueError("layout.areas must name every neuron's area")

    @property
    def n_neurons(self) -> int:
        return len(self.area)

    @property
    def excitatory(self) -> np.ndarray:
        """Boolean mask of excitatory neurons."""
        return self.cell_type == "E"

    @property
    def area_index(self) -> np.ndarray:
        """Index into :attr:`areas` of each neuron's area."""
        lookup = {name: i for i, name in enumerate(self.areas)}
        return np.array([lookup[a] for a in self.area.tolist()], dtype=np.int64)

    def neurons_of(self, session_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Model neurons fitted to one session and the unit (spike column) each one stands for.

        Returns
        -------
        neurons, units : ndarray of int
            ``spikes_model[..., neurons]`` is compared with ``session.spikes[..., units]``; sorted by unit.
        """
        neurons = np.flatnonzero(self.session == session_index)
        order = np.argsort(self.unit[neurons], kind="stable")
        return neurons[order], self.unit[neurons][order]

    @classmethod
    def hidden(cls, neurons_per_area: dict, excitatory_fraction: float = 0.8) -> "NeuronLayout":
        """A layout with no recorded units: ``neurons_per_area[name]`` hidden neurons in each area."""
        return _build([], {area: _split(n, excitatory_fraction) for area, n in neurons_per_area.items()})


def layout_for_sessions(sessions, hidden_per_area: int = 0, excitatory_fraction: float = 0.8,
                        hidden_areas=(), hidden_area_neurons: int = 0) -> NeuronLayout:
    """The layout of a network fitted to ``sessions``.

    Parameters
    ----------
    sessions : sequence of Session
        Their ``unit_area`` and ``unit_cell_type`` give the mapped neurons; areas are ordered by first appearance.
    hidden_per_area : int
        Unmapped neurons added to every area, split into E and I by ``excitatory_fraction``.
    excitatory_fraction : float
        Fraction of the hidden neurons of an area that are excitatory (rounded).
    hidden_areas : sequence of str
        Areas with no recorded unit, added after the recorded ones with hidden neurons only
        (``ModelConfig.hidden_areas``); an area that is also recorded gets these neurons on top of its own.
    hidden_area_neurons : int
        Neurons of each hidden area; 0 sizes it like a recorded area: the mean number of neurons per recorded
        area (units of all sessions plus ``hidden_per_area``), rounded. A hidden area always has at least one E
        and one I neuron.

    Raises
    ------
    UserError
        If no session has a unit, or a unit's cell type is neither ``"E"`` nor ``"I"``.
    """
    units = []
    for s, session in enumerate(sessions):
        for u, (area, cell_type) in enumerate(zip(session.unit_area.tolist(), session.unit_cell_type.tolist())):
            if cell_type not in ("E", "I"):
                raise UserError(f"unit {session.unit_ids[u]} of session {session.session_id!r} has cell type "
                                f"{cell_type!r}; every unit must be labelled 'E' or 'I' before fitting")
            units.append((str(area), cell_type, s, u))
    if not units:
        raise UserError("the sessions have no units to fit; check the units table and the area mapping")
    areas = dict.fromkeys(area for area, *_ in units)
    hidden = {area: _split(hidden_per_area, excitatory_fraction) for area in areas}
    for area in dict.fromkeys(hidden_areas):
        size = hidden_area_neurons or int(round(len(units) / len(areas) + hidden_per_area))
        n_e = min(max(1, int(round(size * excitatory_fraction))), max(size - 1, 1))
        before = hidden.get(area, (0, 0))
        hidden[area] = (before[0] + n_e, before[1] + max(1, size - n_e))
    return _build(units, hidden)


def _split(n_hidden: int, excitatory_fraction: float) -> tuple:
    n_e = int(round(n_hidden * excitatory_fraction))
    return n_e, n_hidden - n_e


def _build(units: list, hidden: dict) -> NeuronLayout:
    """Rows per area: its E units, its hidden E, its I units, its hidden I (``hidden[area] = (n_e, n_i)``)."""
    rows = []
    areas = tuple(dict.fromkeys([a for a, *_ in units] + list(hidden)))
    for area in areas:
        n_hidden_e, n_hidden_i = hidden.get(area, (0, 0))
        for cell_type, n_extra in (("E", n_hidden_e), ("I", n_hidden_i)):
            rows += [row for row in units if row[0] == area and row[1] == cell_type]
            rows += [(area, cell_type, HIDDEN, HIDDEN)] * n_extra
    area, cell_type, session, unit = zip(*rows) if rows else ((), (), (), ())
    return NeuronLayout(area=np.array(area, dtype=str), cell_type=np.array(cell_type, dtype="<U1"),
                        session=np.array(session, dtype=np.int64), unit=np.array(unit, dtype=np.int64), areas=areas)
