"""The error confab raises for what a user can fix: a missing file, a malformed record, a request that makes no
sense. The command line prints its message and exits with status 2; any other exception is a bug and keeps its
traceback."""


class ConfabError(Exception):
    """A problem with confab's input or set-up, said in words that name the file, line or field at fault."""
