"""Capture of the tensor operations a model runs *outside* its selected layers.

A layer profile times modules; what a model computes between them (a residual ``out +=
identity``, ``torch.flatten``, attention's ``matmul``/``softmax`` or
``scaled_dot_product_attention`` in a functional call, ``view``/``transpose`` glue, mask
building) lands in ``(unattributed)``. :func:`capture_op_calls` runs one forward under a
:class:`torch.overrides.TorchFunctionMode` and keeps every outermost torch call that returns
a tensor while no selected layer is running, with its inputs cloned before the call and the
enclosing module's name. With ``edgepower._torch`` available the op observer runs during that
forward and names each call by the ATen op(s) it dispatched (``aten::add_``), and calls that
dispatch none (``contiguous()`` of a contiguous tensor) are left to ``(unattributed)`` as the
Python they are; without the observer calls are named by the Python function
(``Tensor.add_``, operator methods such as ``__iadd__`` by the method they run).

Each :class:`OpCall` can be called on its own (:meth:`OpCall.run`), restored after an in-place
call, and wrapped in an ``nn.Module`` (:meth:`OpCall.as_module`: the tensors become the
module's inputs, everything else is baked in) for ``torch.export`` and the native runner.

Labels: ``<op>#<k>``, the k-th call of that op outside the layers in the forward, in
execution order: the same labels :mod:`edgepower.profile.op_rows` gives the op observer's stamps in
in-situ mode, so both modes name a residual add alike.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

log = logging.getLogger("edgepower")

__all__ = ["OpCall", "capture_op_calls", "func_name", "shapes"]


# Python's operator methods, named by the tensor method they run: ``out += identity`` reached
# __torch_function__ as ``Tensor.add_`` in one process and as ``Tensor.__iadd__`` in another (the
# full test suite, after other tests had run), and a row label must not depend on that.
_OPERATORS = {"__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_", "__itruediv__": "div_",
              "__add__": "add", "__radd__": "add", "__sub__": "sub", "__rsub__": "sub", "__mul__": "mul",
              "__rmul__": "mul", "__truediv__": "div", "__rtruediv__": "div", "__matmul__": "matmul",
              "__rmatmul__": "matmul", "__neg__": "neg"}


def func_name(func: Callable[..., Any]) -> str:
    """A readable name of a torch callable: ``torch.flatten``, ``Tensor.add_``, ``softmax``;
    operator methods by the method they run (``Tensor.__iadd__`` is ``Tensor.add_``)."""
    q = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    for prefix, new in (("_TensorBase.", "Tensor."), ("TensorBase.", "Tensor."), ("_VariableFunctionsClass.", "torch."),
                        ("_C._nn.", "torch._C._nn.")):
        if q.startswith(prefix):
            q = new + q[len(prefix):]
            break
    head, _, method = q.rpartition(".")
    if head == "Tensor" and method in _OPERATORS:
        return f"Tensor.{_OPERATORS[method]}"
    return q


def _clone(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_clone(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    return obj


def _has_tensor(obj: Any) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_has_tensor(o) for o in obj)
    if isinstance(obj, dict):
        return any(_has_tensor(o) for o in obj.values())
    return False


@dataclass
class OpCall:
    """One torch call made outside the selected layers in the captured forward.

    Attributes
    ----------
    label : str
        ``<op>#<k>`` (see the module docstring).
    op : str
        The ATen op it dispatched first (``aten::add_``), or the Python function's name.
    aten_ops : list of str
        Every outermost ATen op it dispatched, in order (empty without the op observer).
    func : callable
        The torch function or Tensor method.
    args, kwargs
        Its inputs, tensors cloned before the call.
    parent : str
        The innermost module running around it (``layer1.0``; ``""`` for the model's own
        forward).
    order : int
        Position among the captured calls.
    prev_layer : str
        The selected layer that last finished before it (``""``: none yet).
    """

    label: str
    op: str
    aten_ops: List[str]
    func: Callable[..., Any]
    args: tuple
    kwargs: Dict[str, Any]
    parent: str
    order: int
    prev_layer: str = ""
    inplace: Optional[bool] = None
    _work: Optional[Tuple[tuple, Dict[str, Any]]] = field(default=None, repr=False)
    _pairs: List[Tuple[Any, Any]] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        return func_name(self.func)

    def prepare(self) -> None:
        """Working copies of the inputs (the capture stays pristine to restore from)."""
        from .runners import tensor_leaves

        if self._work is None:
            self._work = (_clone(self.args), _clone(self.kwargs))
            self._pairs = list(zip(tensor_leaves(*self._work), tensor_leaves(self.args, self.kwargs)))

    def run(self) -> Any:
        a, k = self._work if self._work is not None else (self.args, self.kwargs)
        return self.func(*a, **k)

    def restore(self) -> None:
        for dst, src in self._pairs:
            dst.copy_(src)

    def mutated(self) -> bool:
        return any(not torch.equal(d, s) for d, s in self._pairs)

    def work(self) -> Tuple[tuple, Dict[str, Any]]:
        self.prepare()
        return self._work  # type: ignore[return-value]

    def release(self) -> None:
        self._work, self._pairs = None, []

    def as_module(self) -> Any:
        """An ``nn.Module`` whose ``forward(*tensors)`` makes this call (for torch.export)."""
        return _OpModule(self.func, self.args, self.kwargs)


class _OpModule(torch.nn.Module):
    """One captured torch call as a module: tensor inputs are forward's arguments, the rest
    (ints, slices, dtypes) are baked in."""

    def __init__(self, func: Callable[..., Any], args: tuple, kwargs: Dict[str, Any]):
        super().__init__()
        self.func = func
        leaves, self.spec = pytree.tree_flatten((tuple(args), dict(kwargs)))
        self.is_tensor = [isinstance(x, torch.Tensor) for x in leaves]
        self.consts = [None if t else x for x, t in zip(leaves, self.is_tensor)]

    def forward(self, *tensors: Any) -> Any:
        it = iter(tensors)
        leaves = [next(it) if t else c for t, c in zip(self.is_tensor, self.consts)]
        a, k = pytree.tree_unflatten(leaves, self.spec)
        return self.func(*a, **k)

    def extra_repr(self) -> str:
        return f"{func_name(self.func)}, consts={self.consts!r}"


# Calls that return tensors but compute nothing worth a row, or that the mode sees as
# attribute access.
_SKIP = {"Tensor.__get__", "Tensor.dim", "Tensor.size", "Tensor.numel", "Tensor.item", "Tensor.tolist",
         "Tensor.__len__", "Tensor.__bool__", "Tensor.__format__", "Tensor.__repr__"}


def capture_op_calls(model: Any, args: Sequence[Any], kwargs: Optional[Dict[str, Any]], layer_names: Sequence[str],
                     observe: bool = True) -> List[OpCall]:
    """The torch calls ``model(*args, **kwargs)`` makes outside the modules ``layer_names``.

    Runs one forward in eval mode under :func:`torch.inference_mode` (modes restored after).

    Parameters
    ----------
    model : torch.nn.Module
    args, kwargs
        The forward's inputs.
    layer_names : sequence of str
        The selected layers (qualified names): calls inside them are theirs, not captured.
    observe : bool
        Name the calls by their ATen ops with the op observer when ``edgepower._torch`` is
        available.

    Returns
    -------
    list of OpCall, in execution order.
    """
    kwargs = dict(kwargs or {})
    named = dict(model.named_modules())
    unknown = [n for n in layer_names if n not in named]
    if unknown:
        raise ValueError(f"capture_op_calls: {type(model).__name__} has no modules {unknown}")
    selected = {id(named[n]) for n in layer_names}
    state = {"inside": 0, "stack": [""], "prev": ""}
    names_of = {id(m): n for n, m in named.items()}
    handles = []

    def pre(mod: Any, a: Any) -> None:
        state["stack"].append(names_of.get(id(mod), ""))
        if id(mod) in selected:
            state["inside"] += 1

    def post(mod: Any, a: Any, o: Any) -> None:
        state["stack"].pop()
        if id(mod) in selected:
            state["inside"] -= 1
            state["prev"] = names_of.get(id(mod), "")

    obs = None
    if observe:
        from .. import torch_native

        if torch_native.available():
            obs = torch_native.OpObserver(capacity_events=1 << 20, max_depth=1)
    raw: List[Tuple[Callable[..., Any], tuple, Dict[str, Any], str, str, List[str]]] = []

    class _Capture(TorchFunctionMode):
        def __torch_function__(self, func, types, a=(), k=None):  # noqa: N805
            k = k or {}
            if state["inside"] or func_name(func) in _SKIP or getattr(func, "__name__", "") == "__get__":
                return func(*a, **k)
            ca, ck = _clone(a), _clone(k)
            n0 = len(obs) if obs is not None else 0
            out = func(*a, **k)
            if not _has_tensor(out):
                return out
            ops: List[str] = []
            if obs is not None:
                st = obs.stamps(n0)
                ops = [st.names[int(i)] for i, kk in zip(st.op, st.kind) if kk == 1]
                if not ops:  # dispatched nothing (contiguous() of a contiguous tensor): Python only
                    return out
            raw.append((func, ca, ck, state["stack"][-1], state["prev"], ops))
            return out

    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        for m in named.values():
            if m is model:
                continue
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post, always_call=True))
        with torch.inference_mode():
            if obs is not None:
                obs.start()
            try:
                with _Capture():
                    model(*args, **kwargs)
            finally:
                if obs is not None:
                    obs.stop()
    finally:
        for h in handles:
            h.remove()
        for m, was in modes.items():
            m.train(was)
    calls: List[OpCall] = []
    count: Dict[str, int] = {}
    for i, (func, a, k, parent, prev, ops) in enumerate(raw):
        op = ops[0] if ops else func_name(func)
        c = count.get(op, 0)
        count[op] = c + 1
        calls.append(OpCall(f"{op}#{c}", op, ops, func, a, k, parent, i, prev))
    log.info("captured %d torch calls outside the %d selected layers", len(calls), len(layer_names))
    return calls


def shapes(args: Sequence[Any], kwargs: Dict[str, Any]) -> str:
    """Tensor shapes of a call's inputs, e.g. ``1x64x56x56, 1x64x56x56`` (other values by repr)."""
    def one(x: Any) -> str:
        if isinstance(x, torch.Tensor):
            return "x".join(str(d) for d in x.shape) if x.dim() else "scalar"
        if isinstance(x, (list, tuple)):
            return "(" + ", ".join(one(v) for v in x) + ")"
        return repr(x) if isinstance(x, (int, float, bool, type(None), slice)) else type(x).__name__

    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items() if v is not None]
    return ", ".join(parts)
