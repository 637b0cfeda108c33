"""Expected conditions a person can act on.

Every condition that fiw expects (a bad setting, a missing exports folder, a home it cannot write,
an unreachable exports database, another run in progress) is raised as :class:`FiwError`: the
command prints its one or two lines (the cause, then what to do) and exits with its code, with no
Python traceback on the screen. Anything else is a bug or an outage: its traceback goes to the
run's log file and the screen gets one line and the log's path (``fiw.cli``).
"""

from __future__ import annotations

EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2


class FiwError(Exception):
    """A condition with a cause and, where there is one, what to do about it."""

    def __init__(self, cause: str, action: str | None = None, exit_code: int = EXIT_ERROR):
        super().__init__(cause if action is None else f"{cause} {action}")
        self.cause = cause
        self.action = action
        self.exit_code = exit_code

    def lines(self) -> list[str]:
        return [self.cause] + ([self.action] if self.action else [])


class SettingError(FiwError):
    """A setting (environment variable or option) whose value makes no sense (interface.md)."""

    def __init__(self, name: str, value: str, expected: str):
        super().__init__(
            f"setting {name}={value!r} is not valid: {expected}.",
            f"Fix or unset {name} and run again; nothing was touched.",
        )
        self.name = name
