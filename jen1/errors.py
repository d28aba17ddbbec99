"""The one exception family jen1 raises for user-facing problems.

The CLI prints ``error: <message>`` for any :class:`Jen1Error` and exits with code 2; messages
are one line and name the file or key at fault.
"""


class Jen1Error(Exception):
    """A user-facing error with a one-line message."""


class AudioError(Jen1Error):
    """An audio file could not be read or written."""


class CheckpointError(Jen1Error):
    """A model directory or training checkpoint is missing, corrupt or does not match."""


class TextEncoderError(Jen1Error):
    """A text encoder could not be loaded (missing package or weights)."""
