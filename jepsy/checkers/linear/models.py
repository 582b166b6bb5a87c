"""Sequential specifications for the linearizability checker: a model is a struct of pure functions.

A ``Model`` says what one object (a register, a mutex, a queue ...) does when the
operations of a history are applied to it one at a time.  The checker asks it
nothing else, so any Python user can write one::

    Model(name="counter", init=lambda: 0,
          step=lambda s, inp, out: (True, s + inp[1]) if inp[0] == "add" else (out == s, s))

The contract of each field:

* ``init() -> state``: the state before the first operation.
* ``step(state, input, output) -> (ok, new_state)``: apply one operation.
  ``input`` is ``(f, value)`` of the invocation; ``output`` is the value of its
  ``ok`` completion, or ``CRASHED`` when the operation never completed (``info``
  or no completion: then only the input constrains it).  ``ok`` is False when the
  operation could not have returned ``output`` in ``state``.  Must not mutate
  ``state``: the checker keeps old states and goes back to them.  Given
  ``CRASHED``, it must be at least as permissive as with any real output: accept
  wherever some output would be accepted, and allow afterwards whatever that
  output would allow (the checker relies on it when it checks a history prefix
  by prefix, crashing the calls still open at the cut).
* States must be hashable and compare equal exactly when they are the same state,
  because the checker caches ``(linearized ops, state)`` pairs; a model whose
  natural state is not hashable supplies ``state_key`` (state -> hashable key,
  equal keys for equal states).
* ``partition(calls) -> {key: calls}`` (optional): split a history into
  independent sub-histories (P-compositionality: the whole is linearizable iff
  every part is).  It may rewrite each call's ``input``/``output`` (e.g. drop the
  key from Jepsen's ``[key, value]`` pairs) but must keep ``id``.
* ``read_only(input, output) -> bool`` (optional): True only if the call leaves
  unchanged *every* state in which it is legal (a read, a get, a dequeue that
  found the queue empty).  The checker then linearizes it as soon as it is
  legal, without branching (on Knossos's histories, 7 times fewer dead ends),
  and is wrong if the promise is false (a write of the current value preserves
  *this* state, not every state: it is not read-only).
* ``native_op(input, output) -> instruction | None`` (optional, for speed): the
  call as plain data that the compiled search (``checkers.linear.native``) runs
  without calling ``step``; it must say exactly what ``step`` does:
  ``("read", v)`` legal iff ``v == state``, state unchanged; ``("write", v)``
  state becomes v; ``("cas", old, new)`` legal iff ``old == state``, state
  becomes new; ``("any",)`` legal, state unchanged; ``("add", v)`` state becomes
  ``state + v``; ``("never",)`` illegal; None: call ``step`` for this one.
  Ignored for models with ``state_key``.
* ``describe_op(input, output) -> str`` and ``describe_state(state) -> str`` word
  the explanation of a violation: ``"read of 3"``; ``"hold 1"`` (the text says
  "the cas-register could only hold 1 or 4 then").

Built-in factories, each callable with an optional ``init=`` (the CLI's ``--init``):
``register``, ``cas_register``, ``multi_register``, ``mutex``, ``set_model``,
``fifo_queue``, ``unordered_queue`` and ``kv`` (Porcupine's key-value histories).

Reads of ``None``: jepsy's register workloads record ``null`` for "key absent", so
with ``init=None`` (the default) a read of None is an ordinary read: the register
holds None.  Jepsen and Knossos histories record ``:ok :read nil`` for reads that
learned nothing, and Knossos's CAS register lets such a read pass in any state;
registers give that reading when built with ``nil_read="unknown"``, and by
default (``nil_read="auto"``) whenever an initial value is given, since a
register that starts at a value can only hold None if a write put it there.
The rule depends on the initial value, not on the file format, so that a history
means the same whatever it was stored as; in practice, for ``jepsy check``:

* jepsy JSONL from jepsy's register workloads: ``--model cas-register`` (no
  ``--init``: registers start absent; a read of null means absent);
* Knossos and Jepsen EDN register histories: ``--model cas-register --init 0``
  (as Knossos's own tests do: a read of nil learned nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal
from weakref import WeakKeyDictionary

import msgspec

__all__ = [
    "CRASHED",
    "MODELS",
    "Call",
    "Model",
    "cas_register",
    "fifo_queue",
    "independent",
    "kv",
    "multi_register",
    "mutex",
    "plain_of",
    "register",
    "set_model",
    "unordered_queue",
]


class _Crashed:
    """The output of an operation that never completed (``info``, or no completion)."""

    _instance: _Crashed | None = None

    def __new__(cls) -> _Crashed:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "CRASHED"

    def __reduce__(self) -> str:
        return "CRASHED"


CRASHED: Any = _Crashed()

Input = tuple[str, Any]
# An instruction of the compiled search (see native_op in the module docstring).
NativeOp = tuple[Any, ...]
StepFn = Callable[[Any, Input, Any], tuple[bool, Any]]


class Call(msgspec.Struct):
    """One operation as the checker and models see it: an invocation and its outcome.

    ``id`` is the operation's position among the prepared calls (the checker's
    handle on it); ``input`` is ``(f, invoke value)``; ``output`` the ``ok`` value
    or ``CRASHED``.  ``extra`` holds the source op's other fields (Porcupine's
    ``key``).  Treat it as immutable (it is not frozen only because frozen
    records are slower to build): a partition function that rewrites input or
    output makes a new one (``msgspec.structs.replace``).

    ``Call``, ``Model`` and the checker's other records are msgspec Structs, as
    ``Op`` is: their classes are built in C, where a dataclass costs every
    start-up a few million instructions to generate its methods.
    """

    id: int
    process: int
    input: Input
    output: Any
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def crashed(self) -> bool:
        return self.output is CRASHED


Partition = Callable[[Sequence[Call]], dict[Hashable, list[Call]]]


def _show(v: Any) -> str:
    """A value as explanations quote it; None is JSON's ``null`` (jepsy's histories are JSON)."""
    if isinstance(v, str):
        return repr(v)
    if v is None:
        return "null"
    return str(v)


def _default_describe_op(inp: Input, out: Any) -> str:
    f, value = inp
    if out is CRASHED:
        return f"{f} {_show(value)} (crashed)" if value is not None else f"{f} (crashed)"
    if value is None and out is not None:
        return f"{f} of {_show(out)}"
    return f"{f} {_show(value)}" if value is not None else f


class Model(msgspec.Struct, frozen=True, kw_only=True):
    """A sequential specification: pure functions only (see the module docstring)."""

    name: str
    init: Callable[[], Any]
    step: StepFn
    state_key: Callable[[Any], Hashable] | None = None
    partition: Partition | None = None
    read_only: Callable[[Input, Any], bool] | None = None
    describe_op: Callable[[Input, Any], str] = _default_describe_op
    describe_state: Callable[[Any], str] = lambda s: f"be {_show(s)}"
    native_op: Callable[[Input, Any], NativeOp | None] | None = None


# -- plain models: what the fused path runs without calling Python ---------------------------------

PLAIN_REGISTER = 0  # the register family: read, write, cas (the codes of _linear_fused.c)
PLAIN_MUTEX = 1
PLAIN_MULTI = 2  # multi_register's transactions


class Plain(msgspec.Struct, frozen=True):
    """A built-in model's calls, as the compiled fused path computes them (``checkers.linear.fused``).

    ``kind`` names the instruction set (``PLAIN_REGISTER``: ``_register_native_op``
    with ``nil_unknown`` and ``allow_cas``; ``PLAIN_MUTEX``: the mutex's;
    ``PLAIN_MULTI``: ``multi_register``'s transactions); ``partition`` is the
    function it stands for (the step is the key it is registered under).
    """

    kind: int
    partition: Partition | None
    nil_unknown: bool = False
    allow_cas: bool = False


# A built-in model's step -> its Plain; weak, so that models come and go.
_PLAIN: WeakKeyDictionary[Callable[..., Any], Plain] = WeakKeyDictionary()


def plain_of(model: Model) -> Plain | None:
    """``model``'s ``Plain`` if it is a built-in model as built, else None.

    Found by the model's ``step`` (what the fused path computes in C is that
    step's).  A model made from a built-in one with ``msgspec.structs.replace``
    may have another ``partition`` (``independent``) or a ``state_key``: it is
    plain only if those are still the ones described.
    """
    p = _PLAIN.get(model.step)
    if p is None or model.partition is not p.partition or model.state_key is not None:
        return None
    return p


# -- registers ---------------------------------------------------------------------------------

NilRead = Literal["auto", "absent", "unknown"]


def _register_step(nil_unknown: bool, allow_cas: bool) -> StepFn:
    def step(state: Any, inp: Input, out: Any) -> tuple[bool, Any]:
        f, value = inp
        if f == "read":
            if out is CRASHED or (out is None and nil_unknown):
                return True, state
            return out == state, state
        if f == "write":
            return True, value
        if f == "cas" and allow_cas:
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                return False, state
            return value[0] == state, value[1] if value[0] == state else state
        return False, state

    return step


def _register_native_op(nil_unknown: bool, allow_cas: bool) -> Callable[[Input, Any], NativeOp]:
    """``_register_step``'s calls as instructions (see ``native_op``)."""

    def native_op(inp: Input, out: Any) -> NativeOp:
        f, value = inp
        if f == "read":
            if out is CRASHED or (out is None and nil_unknown):
                return ("any",)
            return ("read", out)
        if f == "write":
            return ("write", value)
        if f == "cas" and allow_cas:
            return ("cas", value[0], value[1]) if _is_pair(value) else ("never",)
        return ("never",)

    return native_op


def _register_read_only(inp: Input, out: Any) -> bool:
    f, value = inp
    return f == "read" or (f == "cas" and _is_pair(value) and value[0] == value[1])


def _register_describe_op(inp: Input, out: Any) -> str:
    f, value = inp
    if f == "read":
        return "read (crashed)" if out is CRASHED else f"read of {_show(out)}"
    if f == "cas" and isinstance(value, (list, tuple)) and len(value) == 2:
        text = f"cas from {_show(value[0])} to {_show(value[1])}"
    else:
        text = f"{f} of {_show(value)}"
    return text + (" (crashed)" if out is CRASHED else "")


def _is_pair(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2


def _split_independent(calls: Sequence[Call]) -> dict[Hashable, list[Call]]:
    parts: dict[Hashable, list[Call]] = {}
    for c in calls:
        f, value = c.input
        key = value[0]
        out = c.output if c.output is CRASHED or not _is_pair(c.output) else c.output[1]
        k = _hashable(key)
        parts.setdefault(k, []).append(Call(c.id, c.process, (f, value[1]), out, c.extra))
    return parts


def _hashable(v: Any) -> Hashable:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), _hashable(x)) for k, x in v.items()))
    return v  # type: ignore[no-any-return]


def _auto_register_partition(calls: Sequence[Call]) -> dict[Hashable, list[Call]]:
    """Split by key when every op follows Jepsen's independent ``[key, value]`` convention.

    A plain register's reads are invoked with value None and its cas values are
    ``[old, new]``, so a history is taken as independent only when every
    invocation value is a pair and every cas's inner value is a pair too.
    """
    if calls and all(
        _is_pair(c.input[1]) and (c.input[0] != "cas" or _is_pair(c.input[1][1]))
        for c in calls
    ):
        return _split_independent(calls)
    return {None: list(calls)}


def cas_register(init: Any = None, *, nil_read: NilRead = "auto") -> Model:
    """A compare-and-set register: ``read``, ``write v``, ``cas [old, new]``.

    ``nil_read`` says what an ``ok`` read of None means: ``"absent"`` the
    register holds None; ``"unknown"`` (Knossos's CAS register) the read learned
    nothing and passes in any state; ``"auto"`` is ``"unknown"`` when ``init`` is
    not None, else ``"absent"``.  Histories following Jepsen's independent
    convention (values ``[key, value]``) are split by key.
    """
    return _register_model("cas-register", init, nil_read, cas=True)


def register(init: Any = None, *, nil_read: NilRead = "auto") -> Model:
    """A read/write register (a ``cas`` makes a history invalid); see ``cas_register``."""
    return _register_model("register", init, nil_read, cas=False)


def _register_model(name: str, init: Any, nil_read: NilRead, *, cas: bool) -> Model:
    nil_unknown = nil_read == "unknown" or (nil_read == "auto" and init is not None)
    step, native_op = _register_step(nil_unknown, cas), _register_native_op(nil_unknown, cas)
    _PLAIN[step] = Plain(PLAIN_REGISTER, _auto_register_partition, nil_unknown, cas)
    return Model(name=name, init=lambda: init, step=step, native_op=native_op,
                 partition=_auto_register_partition, describe_op=_register_describe_op,
                 read_only=_register_read_only,
                 describe_state=lambda s: f"hold {_show(s)}")


def _freeze_regs(d: Any) -> tuple[tuple[str, Any], ...]:
    if d is None:
        return ()
    if isinstance(d, dict):
        return tuple(sorted((str(k), v) for k, v in d.items()))
    raise ValueError(f"multi-register init must be a map of register to value, not {d!r}")


def multi_register(init: Any = None) -> Model:
    """Registers updated by transactions: ``txn`` over ``[["read", k, v], ["write", k, v]]``.

    The state is a sorted tuple of ``(register, value)`` pairs; a register never
    written and absent from ``init`` holds None.  A read of None in an ``ok``
    transaction learned nothing (Knossos's multi-register treats it as a
    wildcard), which is also how a transaction's invocation lists its reads.
    """
    start = _freeze_regs(init if init is not None else {})

    def step(state: Any, inp: Input, out: Any) -> tuple[bool, Any]:
        f, value = inp
        mops = value if out is CRASHED or out is None else out
        if f != "txn" or not isinstance(mops, (list, tuple)):
            return False, state
        regs = dict(state)
        for mop in mops:
            if not isinstance(mop, (list, tuple)) or len(mop) != 3:
                return False, state
            kind, k, v = mop
            if kind in ("read", "r"):
                if v is not None and out is not CRASHED and regs.get(str(k)) != v:
                    return False, state
            elif kind in ("write", "w"):
                regs[str(k)] = v
            else:
                return False, state
        return True, tuple(sorted(regs.items()))

    def describe_state(s: Any) -> str:
        return "hold " + ", ".join(f"{k}={_show(v)}" for k, v in s) if s else "be empty"

    def describe_op(inp: Input, out: Any) -> str:
        mops = inp[1] if out is CRASHED or out is None else out
        body = " ".join(f"{m[0]} {m[1]} {_show(m[2])}" for m in mops if len(m) == 3)
        return f"txn [{body}]" + (" (crashed)" if out is CRASHED else "")

    def read_only(inp: Input, out: Any) -> bool:
        mops = inp[1] if out is CRASHED or out is None else out
        return isinstance(mops, (list, tuple)) and all(
            isinstance(m, (list, tuple)) and len(m) == 3 and m[0] in ("read", "r") for m in mops)

    _PLAIN[step] = Plain(PLAIN_MULTI, None)  # (the fused path runs its transactions in C)
    return Model(name="multi-register", init=lambda: start, step=step, read_only=read_only,
                 describe_state=describe_state, describe_op=describe_op)


# -- mutex, set, queues -----------------------------------------------------------------------

def mutex(init: Any = None) -> Model:
    """A lock: ``acquire`` needs it free, ``release`` needs it held; state is ``held``."""
    held0 = bool(init)

    def step(state: Any, inp: Input, out: Any) -> tuple[bool, Any]:
        f = inp[0]
        if f == "acquire":
            return (not state, True)
        if f == "release":
            return (bool(state), False)
        return False, state

    def native_op(inp: Input, out: Any) -> NativeOp:
        f = inp[0]
        if f == "acquire":
            return ("cas", False, True)
        return ("cas", True, False) if f == "release" else ("never",)

    _PLAIN[step] = Plain(PLAIN_MUTEX, None)
    return Model(name="mutex", init=lambda: held0, step=step, native_op=native_op,
                 describe_op=lambda i, o: i[0] + (" (crashed)" if o is CRASHED else ""),
                 describe_state=lambda s: "be held" if s else "be free")


def _show_coll(xs: Any) -> str:
    items = sorted(xs, key=repr)
    return "{" + ", ".join(_show(x) for x in items) + "}"


def set_model(init: Any = None) -> Model:
    """A grow-only set: ``add x``; ``read`` returns every element (any order)."""
    start = frozenset(_hashable(x) for x in (init or ()))

    def step(state: Any, inp: Input, out: Any) -> tuple[bool, Any]:
        f, value = inp
        if f == "add":
            return True, state | {_hashable(value)}
        if f == "read":
            if out is CRASHED:
                return True, state
            if not isinstance(out, (list, tuple, set, frozenset)):
                return False, state
            return frozenset(_hashable(x) for x in out) == state, state
        return False, state

    return Model(name="set", init=lambda: start, step=step, read_only=lambda i, o: i[0] == "read",
                 describe_state=lambda s: f"contain {_show_coll(s)}")


def _queue_describe_op(inp: Input, out: Any) -> str:
    f, value = inp
    if f == "dequeue":
        if out is CRASHED:
            return "dequeue (crashed)"
        return "dequeue that found it empty" if out is None else f"dequeue of {_show(out)}"
    return f"{f} of {_show(value)}" + (" (crashed)" if out is CRASHED else "")


def fifo_queue(init: Any = None) -> Model:
    """A FIFO queue: ``enqueue x``; ``dequeue`` returns the oldest element (None if empty)."""
    start = tuple(_hashable(x) for x in (init or ()))

    def step(state: Any, inp: Input, out: Any) -> tuple[bool, Any]:
        f, value = inp
        if f == "enqueue":
            return True, (*state, _hashable(value))
        if f == "dequeue":
            if out is CRASHED:
                return True, state[1:]
            if not state:
                return out is None, state
            return _hashable(out) == state[0], state[1:]
        return False, state

    return Model(name="fifo-queue", init=lambda: start, step=step, describe_op=_queue_describe_op,
                 read_only=lambda i, o: i[0] == "dequeue" and o is None,
                 describe_state=lambda s: "hold [" + ", ".join(_show(x) for x in s) + "]")


def unordered_queue(init: Any = None) -> Model:
    """A queue that may dequeue any element it holds (a multiset); None when empty.

    A crashed dequeue may have removed any element, and a step cannot branch, so
    it removes none but leaves a token: the state is ``(sorted (element, count)
    pairs, tokens)``, and a dequeue that found the queue empty passes when the
    tokens could account for every element left.  This never reports a violation
    that a choice of removed elements would explain; it can miss one that hinges
    on which element a crashed dequeue took.
    """
    start = (tuple(sorted(Counter(_hashable(x) for x in (init or ())).items(), key=repr)), 0)

    def step(state: Any, inp: Input, out: Any) -> tuple[bool, Any]:
        f, value = inp
        pairs, tokens = state
        if f == "dequeue" and out is CRASHED:
            held = sum(n for _, n in pairs)
            return True, (pairs, tokens + 1) if held > tokens else state
        if f == "dequeue" and out is None:
            return sum(n for _, n in pairs) <= tokens, state
        bag = Counter(dict(pairs))
        if f == "enqueue":
            bag[_hashable(value)] += 1
        elif f == "dequeue":
            x = _hashable(out)
            if bag[x] <= 0:
                return False, state
            bag[x] -= 1
        else:
            return False, state
        return True, (tuple(sorted(((k, n) for k, n in bag.items() if n > 0), key=repr)), tokens)

    def describe_state(s: Any) -> str:
        pairs, tokens = s
        held = "hold " + _show_coll([k for k, n in pairs for _ in range(n)]) if pairs else "be empty"
        return held + (f" ({tokens} crashed dequeues may have taken some)" if tokens and pairs else "")

    return Model(name="unordered-queue", init=lambda: start, step=step,
                 describe_op=_queue_describe_op,
                 read_only=lambda i, o: i[0] == "dequeue" and o is None,
                 describe_state=describe_state)


# -- Porcupine's key-value histories ------------------------------------------------------------

def _split_by_extra_key(calls: Sequence[Call]) -> dict[Hashable, list[Call]]:
    parts: dict[Hashable, list[Call]] = {}
    for c in calls:
        parts.setdefault(_hashable(c.extra.get("key")), []).append(c)
    return parts


def kv(init: Any = None) -> Model:
    """Porcupine's key-value store: ``get``, ``put v``, ``append v`` on ``extra["key"]``.

    Partitioned by key; each key's state is a string, initially ``init`` or ``""``
    (Porcupine's kv model: a get of a missing key returns the empty string).
    """
    start = "" if init is None else str(init)

    def step(state: Any, inp: Input, out: Any) -> tuple[bool, Any]:
        f, value = inp
        if f == "get":
            return (True if out is CRASHED else out == state), state
        if f == "put":
            return True, value
        if f == "append":
            return True, state + value
        return False, state

    def native_op(inp: Input, out: Any) -> NativeOp:
        f, value = inp
        if f == "get":
            return ("any",) if out is CRASHED else ("read", out)
        if f == "put":
            return ("write", value)
        return ("add", value) if f == "append" else ("never",)

    return Model(name="kv", init=lambda: start, step=step, partition=_split_by_extra_key,
                 native_op=native_op,
                 read_only=lambda i, o: i[0] == "get",
                 describe_op=_register_describe_kv, describe_state=lambda s: f"hold {_show(s)}")


def _register_describe_kv(inp: Input, out: Any) -> str:
    f, value = inp
    if f == "get":
        return "get (crashed)" if out is CRASHED else f"get of {_show(out)}"
    return f"{f} {_show(value)}" + (" (crashed)" if out is CRASHED else "")


def independent(model: Model) -> Model:
    """``model`` applied per key of Jepsen's ``[key, value]`` convention."""
    return msgspec.structs.replace(model, partition=_split_independent,
                                   name=f"independent {model.name}")


MODELS: dict[str, Callable[..., Model]] = {
    "register": register,
    "cas-register": cas_register,
    "multi-register": multi_register,
    "mutex": mutex,
    "set": set_model,
    "fifo-queue": fifo_queue,
    "unordered-queue": unordered_queue,
    "kv": kv,
}
