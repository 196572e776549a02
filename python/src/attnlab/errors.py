"""The exceptions the package raises: one base class, so `except attnlab.AttnLabError` catches all."""


class AttnLabError(Exception):
    """A failure of AttnLab: the binary's `error:` line, or a problem the package found itself.

    `message` is what went wrong (the binary's `error:` line without the prefix); `command` and
    `returncode` are set when the binary failed, with its whole `stderr`.
    """

    def __init__(self, message, command=None, returncode=None, stderr=""):
        super().__init__(message)
        self.message = message
        self.command = command
        self.returncode = returncode
        self.stderr = stderr


class BinaryNotFoundError(AttnLabError):
    """No `attnlab` binary was found ($ATTNLAB, PATH, the repository's build)."""


class TraceFileError(AttnLabError, ValueError):
    """A trace file (or a trace about to be written) is not valid."""
