"""Which errors are the user's, and the exit status each kind of failure ends a command with.

A user mistake (a bad value, a missing or unwritable file) ends a command in one line and exit status
:data:`EXIT_USAGE`; an I/O failure that is not the user's in :data:`EXIT_FAILURE`; Ctrl-C in
:data:`EXIT_INTERRUPTED`. The command line (:mod:`neuro_llm.cli.main`) and the ranks of a distributed run
(:mod:`neuro_llm.distributed`) map errors to these the same way.
"""
from __future__ import annotations

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, FloatingPointError, NotADirectoryError,
               IsADirectoryError, FileExistsError)
