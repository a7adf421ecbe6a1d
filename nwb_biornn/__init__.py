"""nwb-biornn: biologically informed RNNs fitted to optogenetics sessions from NWB files and DANDI."""

__version__ = "0.1.0"
