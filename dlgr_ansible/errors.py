"""The one exception type the CLI turns into a message and a non-zero exit code."""


class DlgrError(Exception):
    """A problem the researcher can fix; the message says what is wrong and what to do."""
