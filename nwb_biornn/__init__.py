"""nwb-biornn: biologically informed RNNs fitted to optogenetics sessions from NWB files and DANDI.

The verbs of the command line are available here for notebooks (imported on first use, so that the command
line starts fast)::

    import nwb_biornn as nb
    sessions = nb.load_sessions("demo")
    result = nb.fit(sessions, "biornn", steps=300, out="demo-fit")
    paths, evaluations = nb.save(result, sessions, "demo-fit")
    model_file = nb.load_model(paths[0])
    document, predictions = nb.evaluate(paths[0])
    nb.perturb(paths[0], "B", (0.0, 0.1), power=5.0)
    nb.target(paths[0], n_neurons=10)
"""

__version__ = "0.1.0"

_API = ("load_sessions", "configure", "fit", "save", "load_model", "evaluate", "perturb", "target")
__all__ = list(_API)


def __getattr__(name):
    if name in _API:
        from nwb_biornn import api

        return getattr(api, name)
    raise AttributeError(f"module 'nwb_biornn' has no attribute {name!r}")
