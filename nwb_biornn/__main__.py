"""``python -m nwb_biornn`` runs the command line."""
from nwb_biornn.cli import main

main()
