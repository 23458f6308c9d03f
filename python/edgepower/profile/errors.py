"""What to say when the user's model raises while edgepower runs it.

Two different failures used to read alike ("rejected the inputs"):

* the inputs do not fit ``forward()``'s signature (a missing, extra or misnamed argument): an
  input mismatch, found by binding the inputs to the signature before the model runs;
* the forward starts and something inside it raises (a shape mismatch in a layer, a bug in the
  model's code): the model's own exception, reported with its type and message and the innermost
  module whose ``forward`` was running, found from the traceback.

Both are a :class:`ModelError` (a ValueError, so callers catching ValueError keep working) with
``layer`` (the module's qualified name, ``""`` for the model's own forward, None when unknown),
``input_mismatch`` and the original exception as ``__cause__``.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional, Tuple


class ModelError(ValueError):
    """The model raised while edgepower ran it; the message has the model's exception and where."""

    def __init__(self, message: str, *, layer: Optional[str] = None, input_mismatch: bool = False):
        super().__init__(message)
        self.layer = layer
        self.input_mismatch = input_mismatch


def signature_mismatch(model: Any, args: tuple, kwargs: Dict[str, Any]) -> Optional[str]:
    """Why ``model.forward`` cannot be called with these inputs, or None if it can (or its
    signature is unknown)."""
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError, AttributeError):
        return None
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        return f"forward{sig} cannot take them: {exc}"
    return None


def where(model: Any, exc: BaseException) -> Optional[Tuple[str, str]]:
    """(qualified name, class name) of the innermost module of ``model`` whose code is in the
    traceback of ``exc``: the layer that was running when it was raised."""
    names = {id(m): n for n, m in model.named_modules()}
    found = None
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and id(owner) in names:
            found = (names[id(owner)], type(owner).__name__)
        tb = tb.tb_next
    return found


def model_error(model: Any, exc: Exception, args: tuple, kwargs: Dict[str, Any], inputs: str,
                call: str = "profile(*args, **kwargs)") -> ModelError:
    """The :class:`ModelError` for ``exc`` raised by ``model(*args, **kwargs)``; ``inputs``
    describes them (shapes)."""
    name = type(model).__name__
    mismatch = signature_mismatch(model, args, kwargs)
    if mismatch is not None:
        return ModelError(f"{name} does not take the inputs given ({inputs or 'none'}): {mismatch}. Pass the "
                          f"inputs its forward() takes, as {call}.", input_mismatch=True)
    at = where(model, exc)
    if at is None:
        place = "before any of its modules ran"
    elif at[0] == "":
        place = f"in its own forward ({at[1]}.forward)"
    else:
        place = f"in layer {at[0]!r} ({at[1]})"
    return ModelError(f"{name} raised {type(exc).__name__} {place} with inputs ({inputs or 'none'}): {exc}. The "
                      "error comes from the model's code or from inputs of the wrong shape or type; run the "
                      "model on them alone to reproduce it.", layer=at[0] if at else None)


__all__ = ["ModelError", "model_error", "signature_mismatch", "where"]
