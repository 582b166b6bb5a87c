"""List-append on columns: prove a history clean in array operations, or hand it back.

Most histories a checker sees are valid, and for those the general path
(``list_append.ListAppend`` on ``Txn`` objects, a dict-of-dicts graph, Tarjan
in Python) spends its time building per-micro-op Python objects that end up
saying nothing.  This module asks the same questions of ``TxnColumns`` with
NumPy, and answers only one way: "no anomaly at all", with the same stats the
general path would give.  Whenever any anomaly *could* be present it returns
None, and the checker runs the general path, whose anomaly names and
explanations are the reference; so verdicts cannot differ, only the time and
memory spent on clean histories.

Why each step gives exactly what ``ListAppend.analyze`` and ``add_edges``
would, stated once (``order[k]`` is key k's longest committed read):

* every committed read is compared, element by element, with the prefix of
  ``order[k]``: if all agree there is no ``incompatible-order`` and every read
  is a prefix of one sequence, so whichever longest read the general path
  picks, its content is ``order[k]``;
* then ``duplicate-elements`` and ``thin-air-read`` can only show in
  ``order[k]`` itself, and ``G1a`` / ``dirty-update`` need an element of
  ``order[k]`` written by an aborted transaction: any of those, hand back;
* a transaction that touches each key at most once, or only reads it (all
  reads then equal) or only appends to it, has no ``internal`` or
  ``future-read`` anomaly and reads from others exactly what it first read;
  the few that read and append one key go through ``list_append.external_reads``;
* ``G1b`` needs a read ending on an append its writer followed with another
  append to the same key; ``lost-update`` two committed readers of the same
  prefix that both append to that key: both tested directly;
* the ww, wr, rw, process and real-time edges are the general path's, built
  as arrays (real time through the same chain of time points, see
  ``graph.py``), deduplicated per (source, target) pair as its dicts do; if
  SciPy's strongly connected components find one of more than one node,
  there may be a cycle, so hand back.

Two steps are loops over runs of varying length, done in C when
``_fastpath.c`` is built (else in NumPy, same answers): the prefix comparison,
and every committed transaction's external reads.

Duplicate appends of one value to one key also hand back (the general path
keeps the last writer; nothing here needs to reproduce that choice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from jepsy.checkers.elle.columns import APPEND, FAIL, NONE, OK, READ, TxnColumns
from jepsy.checkers.elle.list_append import external_reads

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["clean_list_append"]

_CHUNK = 1 << 23  # read elements compared per step (bounds the temporary arrays)


class _HandBack(Exception):
    """Some anomaly may be present: the general path must decide."""


def clean_list_append(c: TxnColumns) -> dict[str, Any] | None:
    """``{"edges": n}`` if the history has no anomaly at all, else None (see the module doc)."""
    try:
        return {"edges": _edges(c)}
    except _HandBack:
        return None


def _ranges(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """The concatenation of ``arange(s, s + n)`` for each start and length."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    out = np.ones(total, dtype=np.int64)
    nz = lengths > 0
    s = starts[nz]
    first = (ends - lengths)[nz]
    out[first[0]] = s[0]
    # each run starts at its start: the step into it undoes the previous run's end
    prev_end = s[:-1] + lengths[nz][:-1] - 1
    out[first[1:]] = s[1:] - prev_end
    return np.cumsum(out)


def _edges(c: TxnColumns) -> int:
    n = len(c)
    if n == 0:
        return 0
    f, key, txn, value, length = c.f, c.key, c.txn, c.value, c.length
    if bool(np.any((f != APPEND) & (f != READ))):
        raise _HandBack
    ttype = c.type
    is_app = f == APPEND
    is_read = (f == READ) & (ttype[txn] == OK)
    # --- composite (key, value) codes ------------------------------------------------------
    a_idx = np.flatnonzero(is_app)
    a_key, a_val = key[a_idx], value[a_idx]
    r_idx = np.flatnonzero(is_read)
    r_key = key[r_idx]
    r_len = np.maximum(length[r_idx], 0)
    r_start = value[r_idx]
    vals = [a_val, c.elems] if len(c.elems) else [a_val]
    lo = min(int(v.min()) for v in vals if len(v)) if any(len(v) for v in vals) else 0
    hi = max(int(v.max()) for v in vals if len(v)) if any(len(v) for v in vals) else 0
    kmin = int(key.min()) if len(key) else 0
    kmax = int(key.max()) if len(key) else 0
    span = hi - lo + 1
    if (kmax - kmin + 1) * span >= 1 << 62:
        raise _HandBack

    def code(k: NDArray[np.int64], v: NDArray[np.int64]) -> NDArray[np.int64]:
        return (k - kmin) * span + (v - lo)

    a_code = code(a_key, a_val)
    a_order = np.argsort(a_code, kind="stable")
    a_sorted = a_code[a_order]
    if len(a_sorted) > 1 and bool(np.any(a_sorted[1:] == a_sorted[:-1])):
        raise _HandBack
    # --- the longest read of each key, and every read a prefix of it ------------------------
    by_key = np.lexsort((-r_len, r_key))
    first = np.ones(len(by_key), dtype=bool)
    first[1:] = r_key[by_key][1:] != r_key[by_key][:-1]
    keys = r_key[by_key][first]  # sorted, unique: the keys anyone read
    o_start = r_start[by_key][first]
    o_len = r_len[by_key][first]
    r_k = np.searchsorted(keys, r_key)  # each read's key, as a row of keys
    cand = np.flatnonzero((r_start != o_start[r_k]) & (r_len > 0))
    if not _prefixes_agree(c.elems, r_start[cand], o_start[r_k[cand]], r_len[cand]):
        raise _HandBack
    del cand
    # --- the version orders: writers of their elements -------------------------------------
    oe = _ranges(o_start, o_len)
    oe_row = np.repeat(np.arange(len(keys)), o_len)  # which key row each element is of
    oe_code = code(keys[oe_row], c.elems[oe])
    del oe
    if len(oe_code) and not len(a_sorted):
        raise _HandBack  # thin-air read
    at = np.searchsorted(a_sorted, oe_code)
    at[at == len(a_sorted)] = 0
    if len(oe_code) and not bool(np.all(a_sorted[at] == oe_code)):
        raise _HandBack  # thin-air read
    oe_mop = a_idx[a_order[at]]
    oe_w = txn[oe_mop]
    if bool(np.any(ttype[oe_w] == FAIL)):
        raise _HandBack  # G1a or dirty-update
    sorted_codes = np.sort(oe_code)
    if len(sorted_codes) > 1 and bool(np.any(sorted_codes[1:] == sorted_codes[:-1])):
        raise _HandBack  # duplicate elements
    del sorted_codes, at
    o_first = np.cumsum(o_len) - o_len  # each key row's first element in oe_*
    # --- reads from others -----------------------------------------------------------------
    ext = _external_reads(c, keys, kmin, kmax)
    if ext is None:
        raise _HandBack  # internal or future-read
    et, er, el = ext
    del ext
    # --- G1b: a read ending on an append its writer followed with another to that key ------
    a_tk = txn[a_idx] * (kmax - kmin + 1) + (a_key - kmin)
    a_by = np.lexsort((a_idx, a_tk))
    last = np.ones(len(a_idx), dtype=bool)
    last[:-1] = a_tk[a_by][1:] != a_tk[a_by][:-1]
    is_last = np.zeros(len(f), dtype=bool)
    is_last[a_idx[a_by][last]] = True
    has = el > 0
    end = o_first[er[has]] + el[has] - 1
    w_end = oe_w[end]
    if bool(np.any((w_end != et[has]) & ~is_last[oe_mop[end]])):
        raise _HandBack
    # --- lost update: two committed readers of one prefix that both append to the key ------
    a_tk_sorted = np.sort(a_tk)
    e_tk = et * (kmax - kmin + 1) + (keys[er] - kmin)
    pos = np.searchsorted(a_tk_sorted, e_tk)
    pos[pos == len(a_tk_sorted)] = 0
    appends_too = a_tk_sorted[pos] == e_tk if len(a_tk_sorted) else np.zeros(len(e_tk), dtype=bool)
    g = er[appends_too] * (int(o_len.max()) + 1 if len(o_len) else 1) + el[appends_too]
    gs = np.sort(g)
    if len(gs) > 1 and bool(np.any(gs[1:] == gs[:-1])):
        raise _HandBack
    del a_tk_sorted, e_tk, pos, appends_too, g, gs, a_tk, a_by, last, is_last
    # --- committed appends no read shows ---------------------------------------------------
    oc_sorted = np.sort(oe_code)
    hit = np.searchsorted(oc_sorted, a_code)
    hit[hit == len(oc_sorted)] = 0
    seen_a = oc_sorted[hit] == a_code if len(oc_sorted) else np.zeros(len(a_code), dtype=bool)
    unseen = np.flatnonzero(~seen_a & (ttype[txn[a_idx]] == OK))
    u_key, u_w = a_key[unseen], txn[a_idx[unseen]]
    del oc_sorted, hit, seen_a, a_code, a_sorted, a_order
    # --- edges -----------------------------------------------------------------------------
    src: list[NDArray[np.int64]] = []
    dst: list[NDArray[np.int64]] = []
    same = np.zeros(len(oe_row), dtype=bool)
    same[1:] = oe_row[1:] == oe_row[:-1]
    src.append(oe_w[:-1][same[1:]])
    dst.append(oe_w[1:][same[1:]])
    # unseen appends follow the last writer of their key; readers of the whole order precede them
    u_row = np.searchsorted(keys, u_key)
    u_row[u_row == len(keys)] = 0
    u_in = (keys[u_row] == u_key) if len(keys) else np.zeros(len(u_key), dtype=bool)
    u_in &= o_len[u_row] > 0 if len(keys) else u_in
    src.append(oe_w[o_first[u_row[u_in]] + o_len[u_row[u_in]] - 1])
    dst.append(u_w[u_in])
    src.append(w_end)
    dst.append(et[has])
    before = el < o_len[er]
    src.append(et[before])
    dst.append(oe_w[o_first[er[before]] + el[before]])
    whole = np.flatnonzero(~before)
    if len(whole) and len(u_key):
        uk = keys[er[whole]]
        u_order = np.argsort(u_key, kind="stable")
        uks = u_key[u_order]
        lo_i = np.searchsorted(uks, uk, side="left")
        hi_i = np.searchsorted(uks, uk, side="right")
        cnt = hi_i - lo_i
        src.append(np.repeat(et[whole], cnt))
        dst.append(u_w[u_order[_ranges(lo_i, cnt)]])
    live = np.flatnonzero(ttype != FAIL)
    proc = c.process[live]
    by_p = np.argsort(proc, kind="stable")
    chain_p = proc[by_p][1:] == proc[by_p][:-1]
    src.append(live[by_p][:-1][chain_p])
    dst.append(live[by_p][1:][chain_p])
    points = _realtime(c, n, src, dst)
    s = np.concatenate(src)
    d = np.concatenate(dst)
    del src, dst
    keep = s != d
    s, d = s[keep], d[keep]
    size = n + points
    pairs = s * size + d
    del s, d
    pairs.sort()
    if len(pairs) > 1:
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
    from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

    # CSR straight from the sorted pairs (sources ascending): no COO copy on the way
    small = np.int32 if size < 1 << 31 else np.int64
    indptr = np.searchsorted(pairs, np.arange(size + 1, dtype=np.int64) * size).astype(small)
    indices = (pairs % size).astype(small)
    edges = len(pairs)
    del pairs
    m = csr_matrix((np.ones(edges, dtype=np.int8), indices, indptr), shape=(size, size))
    del indices, indptr
    _, labels = connected_components(m, directed=True, connection="strong")
    if len(labels) and int(np.bincount(labels).max()) > 1:
        raise _HandBack  # a component of several nodes: there may be a cycle
    return edges


_NATIVE: Any = None  # the C loops (``_fastpath.c``), once imported; False: not built


def _native() -> Any:
    global _NATIVE
    if _NATIVE is None:
        try:
            from jepsy.checkers.elle import _fastpath
            _NATIVE = _fastpath
        except ImportError:
            _NATIVE = False
    return _NATIVE


def _prefixes_agree(elems: NDArray[np.int64], starts: NDArray[np.int64], prefix_starts: NDArray[np.int64],
                    lengths: NDArray[np.int64]) -> bool:
    """Whether ``elems[s:s+n] == elems[p:p+n]`` for each start, prefix start and length.

    In C a memcmp per read; in NumPy, index arrays as long as the reads, a
    chunk of ``_CHUNK`` elements at a time.
    """
    native = _native()
    if native:
        return bool(native.prefixes_agree(elems, starts, prefix_starts, lengths))
    done = 0
    while done < len(starts):
        upto = int(np.searchsorted(np.cumsum(lengths[done:]), _CHUNK, side="right")) or 1
        part = slice(done, done + upto)
        done += upto
        mine = _ranges(starts[part], lengths[part])
        theirs = _ranges(prefix_starts[part], lengths[part])
        if not np.array_equal(elems[mine], elems[theirs]):
            return False
        del mine, theirs
    return True


Reads = tuple["NDArray[np.int64]", "NDArray[np.int64]", "NDArray[np.int64]"]


def _external_reads(c: TxnColumns, keys: NDArray[np.int64], kmin: int, kmax: int) -> Reads | None:
    """What each committed transaction read of each key from others, as (txn, key row in
    ``keys``, length): ``list_append.external_reads`` of every one of them (its versions
    are prefixes of the key's order, so a length says which); None if any has an
    ``internal`` or ``future-read`` anomaly.  In C one loop over the transactions."""
    native = _native()
    if native:
        got = native.external_reads(c.type, c.mop_start, c.mop_count, c.f, c.key, c.value, c.length,
                                    c.elems)
        if got is None:
            return None
        et, ek, el = (np.frombuffer(b, dtype=np.int64) for b in got)
        return et, np.searchsorted(keys, ek), el
    return _external_reads_numpy(c, keys, kmin, kmax)


def _external_reads_numpy(c: TxnColumns, keys: NDArray[np.int64], kmin: int, kmax: int) -> Reads | None:
    f, key, txn, length, ttype = c.f, c.key, c.txn, c.length, c.type
    # Group each committed transaction's micro-ops by key, in program order.  A group of
    # reads of one length (equal, since all are prefixes of one order) or of appends alone
    # needs no more; a group mixing reads and appends, or reads of different lengths, sends
    # its transaction through ``external_reads``.
    ok_mops = np.flatnonzero(ttype[txn] == OK)
    tk = txn[ok_mops] * (kmax - kmin + 1) + (key[ok_mops] - kmin)
    by_tk = np.argsort(tk, kind="stable")
    mop_s = ok_mops[by_tk]
    tks = tk[by_tk]
    del tk, by_tk, ok_mops
    gid = np.cumsum(np.concatenate(([True], tks[1:] != tks[:-1]))) - 1 if len(tks) else tks
    del tks
    isr = f[mop_s] == READ
    appends_in = np.bincount(gid[~isr], minlength=int(gid[-1]) + 1 if len(gid) else 0)
    rg = gid[isr]
    rmop = mop_s[isr]
    del gid, isr, mop_s
    seg = np.flatnonzero(np.concatenate(([True], rg[1:] != rg[:-1]))) if len(rg) else rg
    rl = np.maximum(length[rmop], 0)
    uneven = (np.minimum.reduceat(rl, seg) != np.maximum.reduceat(rl, seg)) if len(rg) else rg > 0
    complex_ = uneven | (appends_in[rg[seg]] > 0) if len(rg) else uneven
    first = rmop[seg]
    twice = np.unique(txn[first[complex_]])
    simple = ~np.isin(txn[first], twice)
    e_txn = [txn[first][simple]]
    e_row = [np.searchsorted(keys, key[first][simple])]
    e_len = [np.maximum(length[first][simple], 0)]
    del rg, rmop, seg, rl, uneven, complex_, first, simple, appends_in
    if len(twice):
        xt, xk, xl = [], [], []
        for t in c.txn_objs(twice):
            seen, bad = external_reads(t)
            if bad:
                return None
            for k, r in seen.items():
                xt.append(t.id)
                xk.append(k)
                xl.append(len(r))
        e_txn.append(np.array(xt, dtype=np.int64))
        e_row.append(np.searchsorted(keys, np.array(xk, dtype=np.int64)))
        e_len.append(np.array(xl, dtype=np.int64))
    et, er, el = (np.concatenate(x) for x in (e_txn, e_row, e_len))
    return et, er, el


def _realtime(c: TxnColumns, n: int, src: list[NDArray[np.int64]], dst: list[NDArray[np.int64]]) -> int:
    """``Graph.add_realtime_order``'s chain of time points as arrays; returns how many points."""
    t = np.flatnonzero((c.type != FAIL) & (c.invoke_time != NONE))
    done = t[(c.type[t] == OK) & (c.complete_time[t] != NONE)]
    if len(done) == 0:
        return 0
    times = np.concatenate([c.invoke_time[t], c.complete_time[done]])
    kinds = np.concatenate([np.zeros(len(t), dtype=np.int8), np.ones(len(done), dtype=np.int8)])
    ids = np.concatenate([t, done])
    o = np.lexsort((ids, kinds, times))
    kinds, ids = kinds[o], ids[o]
    comp = kinds == 1
    new = comp.copy()
    new[1:] &= ~comp[:-1]  # a completion right after an invoke (or the first event) makes a point
    point = np.cumsum(new) - 1  # the current point at each event (-1: none yet)
    count = int(new.sum())
    src.append(ids[comp])
    dst.append(n + point[comp])
    inv = ~comp & (point >= 0)
    src.append(n + point[inv])
    dst.append(ids[inv])
    chain = np.arange(count - 1, dtype=np.int64)
    src.append(n + chain)
    dst.append(n + chain + 1)
    return count
