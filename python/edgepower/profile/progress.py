"""A progress bar for ``LayerProfiler(progress=True)``: ``tqdm.auto`` (a widget in Jupyter, text in
a terminal), one step per measured window, labelled with the round and the call site."""
from __future__ import annotations

from typing import Any, Optional

from .run import Progress


class ProgressBar:
    """A callable for the profiler's ``progress`` argument that draws a ``tqdm.auto`` bar.

    Parameters
    ----------
    **tqdm_options
        Passed to :func:`tqdm.auto.tqdm` (``leave``, ``file``, ``disable``...).
    """

    def __init__(self, **tqdm_options: Any):
        self.tqdm_options = dict(unit="window", dynamic_ncols=True, **tqdm_options)
        self.bar: Optional[Any] = None

    def __call__(self, p: Progress) -> None:
        if p.stage == "capture" and p.done == 0:
            self.close()  # a new profile with the same profiler: a new bar
            return
        if p.stage == "done":
            self.close()
            return
        if p.stage != "measure":
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=p.total, **self.tqdm_options)
        if self.bar.total != p.total:  # extra rounds for a CI target (profile/precision.py)
            self.bar.total = p.total
        self.bar.n = p.done
        if p.label:
            self.bar.set_description(f"round {p.round + 1}/{p.rounds} {p.label}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        """Closes the bar (the next profile draws a new one)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["ProgressBar"]
