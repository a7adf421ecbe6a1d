"""What each trial of a fitted session is used for."""
from __future__ import annotations

from enum import StrEnum


class Split(StrEnum):
    """The role of a trial in a fit; a split array holds these values, one per trial (``str`` arrays compare equal).

    Examples
    --------
    >>> import numpy as np
    >>> split = np.array(["train", "test", "perturbation"])
    >>> (split == Split.TRAIN).tolist(), [s.value for s in Split]
    ([True, False, False], ['train', 'test', 'perturbation', 'excluded'])
    """

    TRAIN = "train"
    """Light-off trials the network is fitted to."""
    TEST = "test"
    """Light-off trials held out for the unperturbed scores (and for choosing the returned parameters)."""
    PERTURBATION = "perturbation"
    """Light-on trials, held out: the predictions are scored on them."""
    EXCLUDED = "excluded"
    """Trials never used (early licks, missing events, light on an unrecorded area...)."""
