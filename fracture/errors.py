"""Errors a user can cause and fix, and the one-line way stages report them."""

from __future__ import annotations

import sys
from typing import Callable


class UserError(Exception):
    """A problem with params, input data or the environment that the user can fix.

    Stages print its message as one line and exit with status 1, never a traceback.
    """


class ParamError(UserError):
    """A params.yaml value that a stage cannot use."""

    def __init__(self, key: str, value, expected: str):
        super().__init__(f"params.yaml: {key} = {value!r} is not valid; {expected}")
        self.key, self.value = key, value


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main, turning a UserError into one line on stderr and exit status 1."""
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted; nothing was half-written, run the stage again", file=sys.stderr)
        sys.exit(130)
