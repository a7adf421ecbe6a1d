"""nwb-biornn: biologically informed RNNs fitted to optogenetics sessions from NWB files and DANDI.

The Python API is :mod:`nwb_biornn.api`, with the verbs of the command line::

    from nwb_biornn import api
    sessions = api.load_sessions("demo")
    result = api.fit(sessions, "biornn", steps=300, out="demo-fit")
    paths, evaluations = api.save(result, sessions, "demo-fit")
    model_file = api.load_model(paths[0])
    document, predictions = api.evaluate(paths[0])
    api.perturb(paths[0], "B", (0.0, 0.1), power=5.0)
    api.target(paths[0], n_neurons=10)
"""

__version__ = "0.1.0"
