"""The project's own error type: every problem with user input is raised as a KgrecError."""


class KgrecError(Exception):
    """A problem the user can fix (bad file, bad config); the CLI prints it without a traceback."""


class DataError(KgrecError):
    """Bad input data. The message names the file, the 1-based line (header = line 1) and the problem."""

    def __init__(self, path, line: int | None, problem: str, hint: str | None = None):
        where = f"{path}" if line is None else f"{path}, line {line}"
        message = f"{where}: {problem}"
        if hint:
            message += f" (hint: {hint})"
        super().__init__(message)
        self.path, self.line, self.problem = str(path), line, problem
