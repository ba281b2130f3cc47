"""Errors a user can cause and fix, and how stages report them and log."""

from __future__ import annotations

import logging
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
    """Run a stage's main with logs on stderr; a UserError becomes one line there and exit status 1."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted; nothing was half-written, run the stage again", file=sys.stderr)
        sys.exit(130)
