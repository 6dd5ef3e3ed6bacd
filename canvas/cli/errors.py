"""Errors the command line turns into one line on stderr and an exit code."""

from __future__ import annotations


class UserError(Exception):
    """Bad arguments or input: exit status 2, nothing written."""

    exit_code = 2
