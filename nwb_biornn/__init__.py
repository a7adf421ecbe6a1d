"""nwb-biornn: biologically informed RNNs fitted to optogenetics sessions from NWB files and DANDI.

The Python API is :mod:`nwb_biornn.api`, with the verbs of the command line::

    from nwb_biornn import api
    sessions = api.load_sessions("demo")
    model_config, fit_config = api.configure("biornn", source="demo")
    result = api.fit(sessions, model_config, fit_config, out="demo-fit")
    paths = api.save(result, sessions, api.predict(result, sessions), "demo-fit")
    document, predictions = api.evaluate(paths[0])
    api.perturb(paths[0], "B", (0.0, 0.1), power=5.0)
    api.target(paths[0], n_neurons=10)

The layers of the package, and which imports which, are drawn in docs/architecture.md.
"""

__version__ = "0.1.0"
