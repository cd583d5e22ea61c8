"""The one exception type for errors a user can cause (bad files, keys, values, rows)."""


class AudiotexError(Exception):
    """A user-facing error; its message names the file, row or key at fault.

    The CLI and the workflow scripts catch it once and print ``str(err)`` as a single line, without a
    traceback. Anything else that escapes is a bug in audiotex.
    """
