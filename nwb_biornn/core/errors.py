"""The one exception type that the command line turns into a one-line error message."""


class UserError(Exception):
    """A problem the user can fix: bad input, missing data, unreachable server.

    ``str(error)`` is one line naming the problem and what to do about it. The command line prints it to
    stderr as ``error: <message>`` and exits with status 1, without a traceback.

    Examples
    --------
    >>> raise UserError("no trials table in session.nwb: the file has no intervals/trials")
    Traceback (most recent call last):
    ...
    nwb_biornn.core.errors.UserError: no trials table in session.nwb: the file has no intervals/trials
    """
