"""The errors confab raises for what a user can fix: a missing file, a malformed record, an option or request that
makes no sense, a missing dependency. The command line prints the message and exits with status 2; any other
exception is a bug and keeps its traceback.

Each is also the built-in error it refines (InvalidInput is a ValueError, MissingInput a FileNotFoundError), so code
that catches those keeps working."""


class ConfabError(Exception):
    """A problem with confab's input or set-up, in words that name the file, line or field at fault."""


class InvalidInput(ConfabError, ValueError):
    """A record, file, option, config value or request that confab cannot use."""


class MissingInput(ConfabError, FileNotFoundError):
    """A file or folder that was named but is not there."""


class OutputExists(ConfabError, FileExistsError):
    """An output that is there already and would be overwritten by a different job."""


class SetupError(ConfabError, RuntimeError):
    """Something confab needs from its installation or machine is missing: a package, Java, a model file."""
