"""Progress on long commands: rich bars and spinners on stderr, and only at a terminal.

Where stderr is not a terminal (a pipe, a log file, CI, a timer's journal) they show nothing:
the command's summary line says what was done, and a log keeps no half-drawn bars. What they
show is the fixed text the command gives and counts, never data, so never a secret.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

Counted = Callable[[int, int], None]  # (done, total)
Described = Callable[[str], None]  # what the work is doing now


def shows_progress(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stderr by default) is a terminal that can draw a bar.

    Asked of the stream itself, not of rich, which also draws for FORCE_COLOR (set on some
    CI runners, where the bars would fill the log).
    """
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


@contextmanager
def _progress(
    description: str, columns: tuple[ProgressColumn, ...], stream: TextIO | None
) -> Iterator[tuple[Progress, int] | None]:
    """A running rich progress display with one task, or None when there is no terminal."""
    stream = stream or sys.stderr
    if not shows_progress(stream):
        yield None
        return
    # transient: the bar goes when the work ends; the summary line the command prints stays.
    console = Console(file=stream, force_terminal=True)
    with Progress(*columns, console=console, transient=True) as progress:
        yield progress, progress.add_task(description, total=None)


@contextmanager
def progress_bar(description: str, stream: TextIO | None = None) -> Iterator[Counted]:
    """A bar for work that counts, as a ``(done, total)`` callback (a no-op off a terminal)."""
    columns = (_description(), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _progress(description, columns, stream) as shown:
        if shown is None:
            yield lambda _done, _total: None
            return
        progress, task = shown
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _description() -> TextColumn:
    return TextColumn("{task.description}", markup=False)  # a path may hold [brackets]


def _spinner_columns() -> tuple[ProgressColumn, ...]:
    return (SpinnerColumn(), _description(), TimeElapsedColumn())


@contextmanager
def spinner(description: str, stream: TextIO | None = None) -> Iterator[Described]:
    """A spinner and the time taken for work that cannot count (one sync pass, a database
    upgrade), as a callback that changes its text (a no-op off a terminal)."""
    with _progress(description, _spinner_columns(), stream) as shown:
        if shown is None:
            yield lambda _text: None
            return
        progress, task = shown
        yield lambda text: progress.update(task, description=text)


@contextmanager
def steps(description: str, stream: TextIO | None = None) -> Iterator[Described]:
    """For work made of named steps (a backup: dump, copy, write), a callback that reports
    each: a line "step..." on the stream, terminal or not, so that a log keeps them too; at
    a terminal a spinner below the lines shows the step in progress and its time."""
    stream = stream or sys.stderr
    with _progress(description, _spinner_columns(), stream) as shown:
        if shown is None:
            yield lambda step: print(f"{step}...", file=stream, flush=True)
            return
        progress, task = shown

        def report(step: str) -> None:
            # Through rich's console, which prints above the spinner.
            progress.console.print(f"{step}...", markup=False, highlight=False, soft_wrap=True)
            progress.update(task, description=step)

        yield report
