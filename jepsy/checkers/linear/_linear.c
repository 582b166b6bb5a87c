/*
 * jepsy.checkers.linear._linear: the linearizability search loop, compiled (optional).
 *
 * This is the same search as linear/search.py (read that module's docstring
 * first: configurations, Lowe's cache of failures, legal reads linearized
 * greedily, crashed calls optional), with the loop in C.  Search lays the calls
 * out exactly as search.layout does (slots, candidate masks, the ok
 * calls by return); the Python wrapper, linear/native.py, drives it a slice of
 * steps at a time, so budgets, interleaving of keys and the explanation stay
 * in Python.  Without a C compiler the package installs without this module
 * and the Python search runs instead; both find the same linearizations and
 * violations (tests/property/test_linear/native.py).
 *
 * Model states stay Python objects.  Each call is an instruction (code, a, b),
 * given by Model.native_op as plain data ("read", a), ("write", a) ...:
 *   OP_CALL  (None) call the model's step(state, input, output) -> (ok, new state)
 *   OP_READ  legal iff a == state; the state is unchanged
 *   OP_WRITE always legal; the state becomes a
 *   OP_CAS   legal iff a == state; the state becomes b
 *   OP_ANY   always legal; the state is unchanged
 *   OP_ADD   always legal; the state becomes state + a
 *   OP_NEVER never legal
 *   OP_TXN   a multi-register transaction (fused path only): a, a tuple of
 *            (is_write, register, value) in order; a read is legal iff the
 *            register (None if absent) is not != value; the state is a sorted
 *            tuple of (register, value) pairs, as models.multi_register's
 * Built-in models describe their calls this way, so the loop calls no Python
 * code for them; any other model runs through OP_CALL.
 *
 * Neither type is tracked by the garbage collector: model states must not refer
 * back to a search or a cache (no built-in model could).
 *
 * Two types:
 *   FailCache(words, crashed)  a set of failed configurations (bitset of `words`
 *                     64-bit words in canonical numbering, state), shared by every
 *                     search of one partition and carried from prefix to prefix.
 *   Search(...)       one resumable search; run(iters) -> 0 running, 1 valid,
 *                     2 invalid.  An exception raised by the model (or by a
 *                     state's __hash__/__eq__) propagates with err_slot set to
 *                     the slot of the call being applied.
 * Search.__init__ and what lays a partition's calls out for a search are in
 * _linear_layout.c; the module's function, fused(), is in _linear_fused.c;
 * _linear.h holds what the three files share.
 */
#include "_linear.h"

/* The search loop's helpers, inlined into it (gcc keeps some out of line otherwise). */
#define HOT_INLINE __attribute__((always_inline))

PyObject *str_input, *str_output;  /* interned attribute names of a Call (see _linear.h) */

/* ---------------------------------------------------------------- FailCache */

/* Words of `bits` up to its last nonzero one. */
static Py_ssize_t trimmed(const word *bits, Py_ssize_t n) {
    while (n > 0 && !bits[n - 1]) n--;
    return n;
}

/* Encodes `bits` (c->words words) into c->enc: [L, nA, nB, A[nA], B[nB]] where the
 * first L words (crashed bits counted as set) are full, A is words L..T-1 (T: the
 * last nonzero word of bits) with crashed bits set, and B the crashed calls' bits,
 * gathered in order, trailing zero words dropped.  One-to-one for a given cmask.
 * Returns the encoding's length in words. */
static inline HOT_INLINE Py_ssize_t encode(FailCache *c, const word *bits) {
    if (c->words == 1 && !c->cmask) {  /* a partition of up to 64 calls: the same words, at once */
        word w = bits[0], *e = c->enc;
        e[0] = w == ~(word)0;
        e[1] = w != 0 && w != ~(word)0;
        e[2] = 0;
        e[3] = w;
        return 3 + (Py_ssize_t)e[1];
    }
    Py_ssize_t t = trimmed(bits, c->words);
    const word *cm = c->cmask;
    word *e = c->enc;
    Py_ssize_t l = 0, m = 3;
    if (cm) {
        while (l < t && (bits[l] | cm[l]) == ~(word)0) l++;
        for (Py_ssize_t w = l; w < t; w++) e[m++] = bits[w] | cm[w];
    } else {
        while (l < t && bits[l] == ~(word)0) l++;
        for (Py_ssize_t w = l; w < t; w++) e[m++] = bits[w];
    }
    Py_ssize_t na = m - 3;
    if (cm) {
        word acc = 0;
        int k = 0;
        for (Py_ssize_t w = 0; w < t; w++) {
            word mk = cm[w], b = bits[w];
            while (mk) {
                word low = mk & (~mk + 1);
                if (b & low) acc |= (word)1 << k;
                mk ^= low;
                if (++k == 64) {
                    e[m++] = acc;
                    acc = 0;
                    k = 0;
                }
            }
        }
        if (k) e[m++] = acc;
        while (m > 3 + na && !e[m - 1]) m--;
    }
    e[0] = (word)l;
    e[1] = (word)na;
    e[2] = (word)(m - 3 - na);
    return m;
}

/* -1 on error (the state is unhashable). */
static inline int config_hash(const FailCache *c, const word *bits, Py_ssize_t n, PyObject *state, word *out) {
    Py_hash_t sh = c->canon ? (Py_hash_t)((uintptr_t)state >> 4) : PyObject_Hash(state);
    if (sh == -1 && PyErr_Occurred()) return -1;
    /* A full mix per word: a cheaper one (a multiply and a shift) lengthened the
     * probes of the large tables of long histories (bench_long.py, 128k calls: 6 %). */
    word h = (word)sh * 0x9e3779b97f4a7c15ULL;
    for (Py_ssize_t i = 0; i < n; i++) h = mix64(h ^ bits[i]) + (word)i;
    *out = mix64(h);
    return 0;
}

/* 1 found, 0 not, -1 error.  *slot receives the table slot where it is or would go. */
static inline int same_words(const word *a, const word *b, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static inline int cache_find(FailCache *c, const word *bits, Py_ssize_t n, PyObject *state, word h,
                             size_t *slot) {
    size_t i = (size_t)h & c->tmask;
    for (;;) {
        uint32_t e = c->table[i];
        if (!e) { *slot = i; return 0; }
        word *ent = c->arena + c->offs[e - 1];
        if (ent[0] == h && (Py_ssize_t)ent[2] == n && same_words(ent + 3, bits, n)) {
            PyObject *s = (PyObject *)(uintptr_t)ent[1];
            if (s == state) return 1;
            if (!c->canon) {
                int eq = PyObject_RichCompareBool(s, state, Py_EQ);
                if (eq != 0) return eq;  /* 1 or -1 */
            }
        }
        i = (i + 1) & c->tmask;
    }
}

static int cache_grow_table(FailCache *c) {
    size_t size = (c->tmask + 1) * 2;
    uint32_t *t = PyMem_Calloc(size, sizeof(uint32_t));
    if (!t) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t k = 0; k < c->len; k++) {
        size_t i = (size_t)c->arena[c->offs[k]] & (size - 1);
        while (t[i]) i = (i + 1) & (size - 1);
        t[i] = (uint32_t)(k + 1);
    }
    PyMem_Free(c->table);
    c->table = t;
    c->tmask = size - 1;
    return 0;
}

/* Adds (bits, state) unless present: 0 ok, -1 error. */
static int cache_add(FailCache *c, const word *raw, PyObject *state) {
    word h;
    size_t slot;
    Py_ssize_t n = encode(c, raw);
    const word *bits = c->enc;
    if (config_hash(c, bits, n, state, &h) < 0) return -1;
    int found = cache_find(c, bits, n, state, h, &slot);
    if (found) return found < 0 ? -1 : 0;
    if (c->len >= (Py_ssize_t)UINT32_MAX - 1) { PyErr_NoMemory(); return -1; }
    if (c->len == c->offcap) {
        Py_ssize_t cap = c->offcap ? c->offcap * 2 : 256;
        Py_ssize_t *o = PyMem_Realloc(c->offs, (size_t)cap * sizeof(Py_ssize_t));
        if (!o) { PyErr_NoMemory(); return -1; }
        c->offs = o;
        c->offcap = cap;
    }
    if (c->used + 3 + n > c->cap) {
        Py_ssize_t cap = c->cap ? c->cap : 1024;
        while (cap < c->used + 3 + n) cap *= 2;
        word *a = PyMem_Realloc(c->arena, (size_t)cap * sizeof(word));
        if (!a) { PyErr_NoMemory(); return -1; }
        c->arena = a;
        c->cap = cap;
    }
    word *ent = c->arena + c->used;
    c->offs[c->len] = c->used;
    c->used += 3 + n;
    ent[0] = h;
    Py_INCREF(state);
    ent[1] = (word)(uintptr_t)state;
    ent[2] = (word)n;
    memcpy(ent + 3, bits, (size_t)n * sizeof(word));
    c->table[slot] = (uint32_t)(c->len + 1);
    c->len++;
    if ((size_t)c->len * 2 > c->tmask + 1) return cache_grow_table(c);
    return 0;
}

static inline HOT_INLINE int cache_contains(FailCache *c, const word *raw, PyObject *state) {
    word h;
    size_t slot;
    Py_ssize_t n = encode(c, raw);
    if (config_hash(c, c->enc, n, state, &h) < 0) return -1;
    return cache_find(c, c->enc, n, state, h, &slot);
}

/* Sets an empty cache up: `words` words per bitset, the calls crashed[0 .. nc) stored apart,
 * a table of `slots` (a power of 2; it doubles when half full). */
int cache_setup(FailCache *self, Py_ssize_t words, const Py_ssize_t *crashed, Py_ssize_t nc,
                       size_t slots) {
    if (words < 1 || words > PY_SSIZE_T_MAX / 128 - 4 || self->table) {
        PyErr_SetString(PyExc_ValueError, "FailCache(words): words >= 1, initialized once");
        return -1;
    }
    self->words = words;
    if (nc) {
        self->cmask = PyMem_Calloc((size_t)words, sizeof(word));
        if (!self->cmask) { PyErr_NoMemory(); return -1; }
    }
    for (Py_ssize_t k = 0; k < nc; k++) {
        Py_ssize_t i = crashed[k];
        if (i < 0 || i >= words * 64) {
            PyErr_SetString(PyExc_ValueError, "FailCache: a crashed call index out of range");
            return -1;
        }
        self->cmask[i / 64] |= (word)1 << (i % 64);
    }
    /* At most 3 + words + words: A is at most words, B at most words too. */
    self->enc = PyMem_Calloc((size_t)(3 + 2 * words), sizeof(word));
    if (!self->enc) { PyErr_NoMemory(); return -1; }
    self->tmask = slots - 1;
    self->table = PyMem_Calloc(slots, sizeof(uint32_t));
    if (!self->table) { PyErr_NoMemory(); return -1; }
    return 0;
}

static int FailCache_init(FailCache *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"words", "crashed", NULL};
    Py_ssize_t words;
    PyObject *crashed = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|O", kwlist, &words, &crashed)) return -1;
    Py_ssize_t nc = 0, *ix = NULL;
    if (crashed && crashed != Py_None) {
        PyObject *seq = PySequence_Fast(crashed, "FailCache: crashed must be a sequence of call indices");
        if (!seq) return -1;
        nc = PySequence_Fast_GET_SIZE(seq);
        ix = PyMem_Calloc((size_t)nc + 1, sizeof(Py_ssize_t));
        if (!ix) { Py_DECREF(seq); PyErr_NoMemory(); return -1; }
        for (Py_ssize_t k = 0; k < nc; k++) {
            ix[k] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, k));
            if (ix[k] == -1 && PyErr_Occurred()) { Py_DECREF(seq); PyMem_Free(ix); return -1; }
        }
        Py_DECREF(seq);
    }
    int rc = cache_setup(self, words, ix, nc, 512);
    PyMem_Free(ix);
    return rc;
}

static void FailCache_dealloc(FailCache *self) {
    for (Py_ssize_t k = 0; k < self->len; k++)
        Py_DECREF((PyObject *)(uintptr_t)self->arena[self->offs[k] + 1]);
    PyMem_Free(self->arena);
    PyMem_Free(self->offs);
    PyMem_Free(self->table);
    PyMem_Free(self->cmask);
    PyMem_Free(self->enc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t FailCache_len(FailCache *self) { return self->len; }

static PyObject *FailCache_nbytes(FailCache *self, void *closure) {
    (void)closure;
    return PyLong_FromSize_t((size_t)self->cap * sizeof(word) + (size_t)self->offcap * sizeof(Py_ssize_t)
                             + (self->tmask + 1) * sizeof(uint32_t)
                             + (size_t)(3 + 2 * self->words + (self->cmask ? self->words : 0)) * sizeof(word));
}

static PyObject *FailCache_words(FailCache *self, void *closure) {
    (void)closure;
    return PyLong_FromSsize_t(self->words);
}

static PySequenceMethods FailCache_as_seq = {.sq_length = (lenfunc)FailCache_len};

static PyGetSetDef FailCache_getset[] = {
    {"nbytes", (getter)FailCache_nbytes, NULL, "bytes held by the arena and the table", NULL},
    {"words", (getter)FailCache_words, NULL, "64-bit words per configuration's bitset", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject FailCacheType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "jepsy.checkers.linear._linear.FailCache",
    .tp_doc = "FailCache(words, crashed=()): failed configurations (bitset of `words` words, state); "
              "crashed: the indices of the partition's crashed calls (stored apart, see encode).",
    .tp_basicsize = sizeof(FailCache),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FailCache_init,
    .tp_dealloc = (destructor)FailCache_dealloc,
    .tp_as_sequence = &FailCache_as_seq,
    .tp_getset = FailCache_getset,
};

/* ------------------------------------------------------------------- Search */

static int not_ready(Search *s) {
    if (s->ready) return 0;
    PyErr_SetString(PyExc_RuntimeError, "Search is not initialized");
    return 1;
}


/* Lowest set bit of w (ws words), cleared; -1 if none.  *k0: a word below which w
 * is all zero, moved up to the word found: a step that tries many candidates of a
 * long partition scans the zero words before the frontier once, not per candidate. */
static inline Py_ssize_t pop_low(word *w, Py_ssize_t ws, Py_ssize_t *k0) {
    for (Py_ssize_t k = *k0; k < ws; k++) {
        if (w[k]) {
            int t = __builtin_ctzll(w[k]);
            w[k] &= w[k] - 1;
            *k0 = k;
            return k * 64 + t;
        }
    }
    *k0 = ws;
    return -1;
}

static int any_bit(const word *w, Py_ssize_t ws) {
    for (Py_ssize_t k = 0; k < ws; k++)
        if (w[k]) return 1;
    return 0;
}

/* a == b as Python's `==` (no identity shortcut): 1, 0, or -1 on error. */
static int apply_call(Search *s, Py_ssize_t j, PyObject **nxt);
static int apply_txn(PyObject *st, PyObject *ops, PyObject **nxt);

/* Applies slot j to the current state: 1 legal (*nxt new reference), 0 illegal, -1 error.
 * Inline: the loop applies a candidate per try, most often a plain instruction. */
static inline HOT_INLINE int apply(Search *s, Py_ssize_t j, PyObject **nxt) {
    PyObject *st = s->state;
    int ok;
    switch (s->code[j]) {
    case OP_READ:
        ok = s->canon ? s->a[j] == st : py_eq(s->a[j], st);
        if (ok == 1) { Py_INCREF(st); *nxt = st; }
        return ok;
    case OP_WRITE:
        Py_INCREF(s->a[j]);
        *nxt = s->a[j];
        return 1;
    case OP_CAS:
        ok = s->canon ? s->a[j] == st : py_eq(s->a[j], st);
        if (ok == 1) { Py_INCREF(s->b[j]); *nxt = s->b[j]; }
        return ok;
    case OP_ANY:
        Py_INCREF(st);
        *nxt = st;
        return 1;
    case OP_ADD:
        *nxt = PyNumber_Add(st, s->a[j]);
        return *nxt ? 1 : -1;
    case OP_NEVER:
        return 0;
    case OP_TXN:
        return apply_txn(st, s->a[j], nxt);
    default:
        return apply_call(s, j, nxt);
    }
}

/* 1 if the transaction `ops` (OP_TXN's operand) writes. */
/* apply's OP_TXN: models.multi_register's step on the state `st`, a sorted tuple of
 * (register, value) pairs, registers exact strs.  The registers are held in two
 * arrays (a transaction touches a few), kept sorted; a transaction that writes
 * nothing leaves `st` itself (an equal state: the model makes a copy). */
#define TXN_REGS 16
static int apply_txn(PyObject *st, PyObject *ops, PyObject **nxt) {
    if (!PyTuple_CheckExact(st)) {
        PyErr_SetString(PyExc_TypeError, "multi-register state: a tuple of (register, value) pairs");
        return -1;
    }
    Py_ssize_t nr = PyTuple_GET_SIZE(st), cap = nr + PyTuple_GET_SIZE(ops);
    PyObject *kbuf[TXN_REGS], *vbuf[TXN_REGS], *pbuf[TXN_REGS];
    PyObject **keys = kbuf, **vals = vbuf, **pairs = pbuf;  /* borrowed; pairs: st's, NULL if changed */
    if (cap > TXN_REGS) {
        keys = PyMem_Malloc((size_t)cap * sizeof(PyObject *));
        vals = PyMem_Malloc((size_t)cap * sizeof(PyObject *));
        pairs = PyMem_Malloc((size_t)cap * sizeof(PyObject *));
        if (!keys || !vals || !pairs) { PyErr_NoMemory(); nr = -1; goto out; }
    }
    for (Py_ssize_t i = 0; i < nr; i++) {
        PyObject *pr = PyTuple_GET_ITEM(st, i);
        if (!PyTuple_CheckExact(pr) || PyTuple_GET_SIZE(pr) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pr, 0))) {
            PyErr_SetString(PyExc_TypeError, "multi-register state: a tuple of (register, value) pairs");
            nr = -1;
            goto out;
        }
        keys[i] = PyTuple_GET_ITEM(pr, 0);
        vals[i] = PyTuple_GET_ITEM(pr, 1);
        pairs[i] = pr;
    }
    int ok = 1, wrote = 0;
    for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(ops) && ok == 1; q++) {
        PyObject *mop = PyTuple_GET_ITEM(ops, q);
        PyObject *key = PyTuple_GET_ITEM(mop, 1), *v = PyTuple_GET_ITEM(mop, 2);
        Py_ssize_t lo = 0, hi = nr;  /* the register's place: binary search on the sorted keys */
        int found = 0;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            int c = keys[mid] == key ? 0 : PyUnicode_Compare(keys[mid], key);
            if (c == -1 && PyErr_Occurred()) { ok = -1; break; }
            if (c == 0) { lo = mid; found = 1; break; }
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        if (ok < 0) break;
        if (PyTuple_GET_ITEM(mop, 0) != Py_True) {  /* a read: regs.get(register) != value fails */
            PyObject *ne = PyObject_RichCompare(found ? vals[lo] : Py_None, v, Py_NE);
            if (!ne) { ok = -1; break; }
            int t = PyObject_IsTrue(ne);
            Py_DECREF(ne);
            ok = t < 0 ? -1 : !t;
        } else if (found) {
            vals[lo] = v;
            pairs[lo] = NULL;
            wrote = 1;
        } else {
            memmove(keys + lo + 1, keys + lo, (size_t)(nr - lo) * sizeof(PyObject *));
            memmove(vals + lo + 1, vals + lo, (size_t)(nr - lo) * sizeof(PyObject *));
            memmove(pairs + lo + 1, pairs + lo, (size_t)(nr - lo) * sizeof(PyObject *));
            keys[lo] = key, vals[lo] = v, pairs[lo] = NULL;
            nr++;
            wrote = 1;
        }
    }
    if (ok == 1 && !wrote) {
        Py_INCREF(st);
        *nxt = st;
    } else if (ok == 1) {
        PyObject *t = PyTuple_New(nr);
        for (Py_ssize_t i = 0; t && i < nr; i++) {
            PyObject *pr = pairs[i];
            if (pr) Py_INCREF(pr);
            else if (!(pr = PyTuple_Pack(2, keys[i], vals[i]))) Py_CLEAR(t);
            if (t) PyTuple_SET_ITEM(t, i, pr);
        }
        if (t) *nxt = t;
        else ok = -1;
    }
    nr = ok;
out:
    if (keys != kbuf) { PyMem_Free(keys); PyMem_Free(vals); PyMem_Free(pairs); }
    return (int)nr;
}

/* apply's OP_CALL: the model's step(state, input, output) -> (ok, new state). */
static int apply_call(Search *s, Py_ssize_t j, PyObject **nxt) {
    PyObject *st = s->state;
    int ok;
    {
        PyObject *res = PyObject_CallFunctionObjArgs(s->step, st, s->inputs[j], s->outputs[j], NULL);
        if (!res) return -1;
        PyObject *okv, *nv;
        if (PyTuple_CheckExact(res) && PyTuple_GET_SIZE(res) == 2) {
            okv = PyTuple_GET_ITEM(res, 0);
            nv = PyTuple_GET_ITEM(res, 1);
        } else {
            PyObject *seq = PySequence_Fast(res, "a model's step must return (ok, state)");
            if (!seq || PySequence_Fast_GET_SIZE(seq) != 2) {
                if (seq) PyErr_SetString(PyExc_TypeError, "a model's step must return (ok, state)");
                Py_XDECREF(seq);
                Py_DECREF(res);
                return -1;
            }
            Py_DECREF(res);
            res = seq;
            okv = PySequence_Fast_GET_ITEM(seq, 0);
            nv = PySequence_Fast_GET_ITEM(seq, 1);
        }
        ok = PyObject_IsTrue(okv);
        if (ok == 1) { Py_INCREF(nv); *nxt = nv; }
        Py_DECREF(res);
        return ok;
    }
}

/* The configuration (clin with slot j's canonical bit, nxt) is in the cache? */
static inline HOT_INLINE int known_dead(Search *s, Py_ssize_t j, PyObject *nxt) {
    /* An empty cache knows nothing (a valid history's search often never fails).  A
     * lookup hashes the state, so an unhashable one still raises here, as it does in
     * the Python search (canonical states are hashable). */
    if (!s->cache->len) {
        if (!s->canon && PyObject_Hash(nxt) == -1 && PyErr_Occurred()) return -1;
        return 0;
    }
    Py_ssize_t c = s->cslot[j];
    int had = (int)BIT_GET(s->clin, c);
    BIT_SET(s->clin, c);
    int found = cache_contains(s->cache, s->clin, nxt);
    if (!had) BIT_CLR(s->clin, c);
    return found;
}

/* Makes s->mask the candidate mask of ok return r. */
static inline void mask_to(Search *s, Py_ssize_t r) {
    Py_ssize_t want = s->upto[r];
    while (s->mask_upto < want) { BIT_SET(s->mask, s->slot_of[s->mask_upto]); s->mask_upto++; }
    while (s->mask_upto > want) { s->mask_upto--; BIT_CLR(s->mask, s->slot_of[s->mask_upto]); }
}

/* The states met just before the furthest failure, in order, each once, up to
 * MAX_STUCK_STATES: a dict used as an ordered set, or for canonical states (equal
 * iff identical) an array compared by identity, which costs no hashing. */
static void best_clear(Search *s) {
    if (s->best_states) PyDict_Clear(s->best_states);
    for (int k = 0; k < s->n_best; k++) Py_CLEAR(s->best_arr[k]);
    s->n_best = 0;
}

static int best_add(Search *s, PyObject *state) {
    if (!s->canon) {
        if (PyDict_GET_SIZE(s->best_states) >= MAX_STUCK_STATES) return 0;
        return PyDict_SetItem(s->best_states, state, Py_None);
    }
    for (int k = 0; k < s->n_best; k++)
        if (s->best_arr[k] == state) return 0;
    if (s->n_best < MAX_STUCK_STATES) {
        Py_INCREF(state);
        s->best_arr[s->n_best++] = state;
    }
    return 0;
}

static PyObject *fail_at(Search *s, Py_ssize_t j) {
    s->err_slot = j;
    return NULL;
}

PyObject *Search_run(Search *s, PyObject *arg) {
    if (not_ready(s)) return NULL;
    long iters = PyLong_AsLong(arg);
    if (iters == -1 && PyErr_Occurred()) return NULL;
    const Py_ssize_t ws = s->ws;
    word *cand = s->cand;
    if (s->status != RUNNING) return PyLong_FromLong(s->status);
    for (;;) {
        if (s->r == s->n_ok) {
            s->status = VALID;
            return PyLong_FromLong(VALID);
        }
        if (iters <= 0) return PyLong_FromLong(RUNNING);
        iters--;
        s->steps++;
        Py_ssize_t j = -1;
        PyObject *nxt = NULL;
        int forced = 0;
        if (!s->resume) {  /* a configuration seen for the first time */
            mask_to(s, s->r);
            const word *m = s->mask;
            for (Py_ssize_t k = 0; k < ws; k++) {
                cand[k] = m[k] & ~s->lin[k];
                s->tmp[k] = cand[k] & s->romask[k];
            }
            s->cand_k0 = 0;
            /* A legal read-only candidate is taken alone (linear/search.py). */
            Py_ssize_t q, tk0 = 0;
            while ((q = pop_low(s->tmp, ws, &tk0)) >= 0) {
                int ok = apply(s, q, &nxt);
                if (ok < 0) return fail_at(s, q);
                if (ok) { j = q; break; }
            }
            if (j >= 0) {
                forced = 1;
                int dead = known_dead(s, j, nxt);
                if (dead < 0) { Py_DECREF(nxt); return fail_at(s, j); }
                if (dead) { Py_CLEAR(nxt); j = -2; }
            } else {
                for (Py_ssize_t k = 0; k < ws; k++) cand[k] &= ~s->romask[k];
            }
        }
        s->resume = 0;
        if (j == -1) {
            Py_ssize_t q;
            while ((q = pop_low(cand, ws, &s->cand_k0)) >= 0) {
                if (s->crashed[q]) {  /* a crashed twin before it still pending: that one serves */
                    Py_ssize_t t = s->twin[q];
                    while (t >= 0 && BIT_GET(s->lin, t)) t = s->twin[t];
                    if (t >= 0) continue;
                }
                int ok = apply(s, q, &nxt);
                if (ok < 0) return fail_at(s, q);
                if (!ok) continue;
                if (s->crashed[q]) {
                    int same = s->canon ? nxt == s->state : py_eq(nxt, s->state);  /* `nxt == state` */
                    if (same < 0) { Py_DECREF(nxt); return fail_at(s, q); }
                    if (same) { Py_CLEAR(nxt); continue; }
                }
                int dead = known_dead(s, q, nxt);
                if (dead < 0) { Py_DECREF(nxt); return fail_at(s, q); }
                if (!dead) { j = q; break; }
                Py_CLEAR(nxt);
            }
            if (j < 0) j = -2;
        }
        if (j >= 0) {  /* go forward */
            Py_ssize_t d = s->depth++;
            s->p_j[d] = j;
            s->p_state[d] = s->state;  /* the stack owns it now */
            s->p_r[d] = s->r;
            s->p_forced[d] = (char)forced;
            BIT_SET(s->lin, j);
            BIT_SET(s->clin, s->cslot[j]);
            s->state = nxt;
            if (j == s->rslot[s->r]) {
                s->r++;
                while (s->rslot[s->r] >= 0 && BIT_GET(s->lin, s->rslot[s->r])) s->r++;
            }
            continue;
        }
        /* Backtrack: this configuration has no linearization; go back to the
         * nearest one with candidates left (forced steps have none). */
        for (;;) {
            if (cache_add(s->cache, s->clin, s->state) < 0) return fail_at(s, -1);
            if (s->r >= s->best_r) {
                if (s->r > s->best_r) {
                    s->best_r = s->r;
                    best_clear(s);
                    memcpy(s->best_path, s->p_j, (size_t)s->depth * sizeof(Py_ssize_t));
                    s->best_depth = s->depth;
                    memcpy(s->best_lin, s->lin, (size_t)ws * sizeof(word));
                }
                if (best_add(s, s->state) < 0) return fail_at(s, -1);
            }
            if (s->depth == 0) {
                s->status = INVALID;
                return PyLong_FromLong(INVALID);
            }
            Py_ssize_t d = --s->depth;
            Py_ssize_t pj = s->p_j[d];
            Py_DECREF(s->state);
            s->state = s->p_state[d];
            s->p_state[d] = NULL;
            s->r = s->p_r[d];
            BIT_CLR(s->lin, pj);
            BIT_CLR(s->clin, s->cslot[pj]);
            if (s->p_forced[d]) continue;
            /* The candidates left at this depth, recomputed rather than kept (n rows
             * of ws words were n²/8 bytes): those of the step's set, mask & ~lin &
             * ~romask as it was then (lin is again what it was), above the slot
             * taken, since candidates are tried lowest slot first. */
            mask_to(s, s->r);
            Py_ssize_t w0 = pj >> 6;
            for (Py_ssize_t k = 0; k < w0; k++) cand[k] = 0;
            s->cand_k0 = w0;
            for (Py_ssize_t k = w0; k < ws; k++) cand[k] = s->mask[k] & ~s->lin[k] & ~s->romask[k];
            cand[w0] &= ~(word)0 << (pj & 63) << 1;
            if (any_bit(cand + w0, ws - w0)) {
                s->resume = 1;
                break;
            }
        }
    }
}

static PyObject *words_to_bytes(const word *w, Py_ssize_t count) {
    PyObject *b = PyBytes_FromStringAndSize(NULL, count * 8);
    if (!b) return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(b);
    for (Py_ssize_t k = 0; k < count; k++)
        for (int i = 0; i < 8; i++) p[k * 8 + i] = (unsigned char)(w[k] >> (8 * i));
    return b;
}

static void Search_free_arrays(Search *s) {
    PyObject **lists[4] = {s->a, s->b, s->inputs, s->outputs};
    for (int l = 0; l < 4; l++) {
        if (!lists[l]) continue;
        for (Py_ssize_t i = 0; i < s->n; i++) Py_XDECREF(lists[l][i]);
        PyMem_Free(lists[l]);
    }
    s->a = s->b = s->inputs = s->outputs = NULL;
    if (s->p_state)
        for (Py_ssize_t d = 0; d < s->depth; d++) Py_XDECREF(s->p_state[d]);
    PyMem_Free(s->p_state);
    s->p_state = NULL;
    void *plain[] = {s->code, s->cslot, s->crashed, s->twin, s->romask, s->upto, s->slot_of, s->mask, s->rslot,
                     s->slot_ret, s->lin, s->clin, s->cand, s->tmp, s->p_j, s->p_r, s->p_forced, s->best_path,
                     s->best_lin};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) PyMem_Free(plain[i]);
    s->code = NULL;
    s->cslot = s->rslot = s->slot_ret = s->p_j = s->p_r = s->best_path = NULL;
    s->crashed = NULL;
    s->twin = NULL;
    s->romask = s->mask = s->lin = s->clin = s->cand = s->tmp = s->best_lin = NULL;
    s->upto = s->slot_of = NULL;
    s->p_forced = NULL;
}

static void Search_dealloc(Search *s) {
    Search_free_arrays(s);
    Py_XDECREF(s->state);
    Py_XDECREF(s->init);
    Py_XDECREF(s->step);
    Py_XDECREF(s->cache);
    best_clear(s);
    Py_XDECREF(s->best_states);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *index_list(const Py_ssize_t *v, Py_ssize_t n) {
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyLong_FromSsize_t(v[i]);
        if (!x) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, i, x);
    }
    return out;
}

static PyObject *Search_layout(Search *s, PyObject *Py_UNUSED(ignored)) {
    if (not_ready(s)) return NULL;
    PyObject *perm = index_list(s->cslot, s->n);
    PyObject *rslot = index_list(s->rslot, s->n_ok + 1);
    PyObject *ret = index_list(s->slot_ret, s->n_ok + 1);
    PyObject *out = perm && rslot && ret ? PyTuple_Pack(3, perm, rslot, ret) : NULL;
    Py_XDECREF(perm);
    Py_XDECREF(rslot);
    Py_XDECREF(ret);
    return out;
}

static PyObject *Search_mask(Search *s, PyObject *arg) {
    if (not_ready(s)) return NULL;
    Py_ssize_t r = PyLong_AsSsize_t(arg);
    if (r == -1 && PyErr_Occurred()) return NULL;
    if (r < 0 || r >= s->n_ok) {
        PyErr_SetString(PyExc_IndexError, "mask(r): r out of range");
        return NULL;
    }
    word *m = PyMem_Calloc((size_t)s->ws, sizeof(word));
    if (!m) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < s->upto[r]; i++) BIT_SET(m, s->slot_of[i]);
    PyObject *out = words_to_bytes(m, s->ws);
    PyMem_Free(m);
    return out;
}

static PyObject *Search_order(Search *s, PyObject *arg) {
    if (not_ready(s)) return NULL;
    int best = PyObject_IsTrue(arg);
    if (best < 0) return NULL;
    Py_ssize_t depth = best ? s->best_depth : s->depth;
    Py_ssize_t *path = best ? s->best_path : s->p_j;
    PyObject *out = PyList_New(depth);
    if (!out) return NULL;
    for (Py_ssize_t d = 0; d < depth; d++) {
        PyObject *v = PyLong_FromSsize_t(path[d]);
        if (!v) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, d, v);
    }
    return out;
}

static PyObject *Search_best_states(Search *s, PyObject *Py_UNUSED(ignored)) {
    if (not_ready(s)) return NULL;
    if (!s->canon) return PySequence_List(s->best_states);
    PyObject *out = PyList_New(s->n_best);
    for (int k = 0; out && k < s->n_best; k++) {
        Py_INCREF(s->best_arr[k]);
        PyList_SET_ITEM(out, k, s->best_arr[k]);
    }
    return out;
}

static int cmp_ssize(const void *x, const void *y) {
    Py_ssize_t a = *(const Py_ssize_t *)x, b = *(const Py_ssize_t *)y;
    return a < b ? -1 : a > b;
}

/* Slot j is a crashed call that leaves every state of the furthest failure as it is
 * (or cannot apply there): an explanation passes over it.  Canonical states only
 * (an unchanged state is the same object); else, or on an error, 0. */
static int idle_crashed(Search *s, Py_ssize_t j) {
    if (!s->canon || !s->crashed[j]) return 0;
    PyObject *saved = s->state;
    int idle = 1;
    for (int k = 0; k < s->n_best && idle; k++) {
        PyObject *nxt = NULL;
        s->state = s->best_arr[k];
        int ok = apply(s, j, &nxt);
        if (ok < 0) { PyErr_Clear(); idle = 0; }
        else if (ok) { idle = nxt == s->best_arr[k]; Py_DECREF(nxt); }
    }
    s->state = saved;
    return idle;
}

/* Search.invalid_parts(relevant): what engine.invalid makes of an invalid search, in
 * its calls' numbers (the cache's): (stuck, pending, states, order): the call whose
 * completion could not be passed, the other calls that could still take effect
 * there (ascending), the states met just before it, the furthest path.  relevant:
 * pending without the crashed calls that change none of those states, which
 * explain.explain passes over (it steps each through the model in Python). */
static PyObject *Search_invalid_parts(Search *s, PyObject *arg) {
    if (not_ready(s)) return NULL;
    int relevant = PyObject_IsTrue(arg);
    if (relevant < 0) return NULL;
    if (s->status != INVALID) {
        PyErr_SetString(PyExc_RuntimeError, "invalid_parts: the search did not end invalid");
        return NULL;
    }
    Py_ssize_t r = s->best_r, stuck_slot = s->rslot[r], np = 0;
    Py_ssize_t *pend = PyMem_Malloc(((size_t)s->upto[r] + 1) * sizeof(Py_ssize_t));
    if (!pend) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < s->upto[r]; i++) {  /* the candidates of return r ... */
        Py_ssize_t j = s->slot_of[i];
        if (j != stuck_slot && !BIT_GET(s->best_lin, j) && !(relevant && idle_crashed(s, j)))
            pend[np++] = s->cslot[j];  /* ... still open */
    }
    qsort(pend, (size_t)np, sizeof(Py_ssize_t), cmp_ssize);
    PyObject *pending = index_list(pend, np);
    PyMem_Free(pend);
    PyObject *states = pending ? Search_best_states(s, NULL) : NULL;
    PyObject *args = states ? Py_BuildValue("(iO)", 1, Py_None) : NULL;
    PyObject *order = args ? Search_path_items(s, args) : NULL;
    Py_XDECREF(args);
    PyObject *out = order ? Py_BuildValue("(nOOO)", s->cslot[stuck_slot], pending, states, order) : NULL;
    Py_XDECREF(pending);
    Py_XDECREF(states);
    Py_XDECREF(order);
    return out;
}

static PyObject *Search_best_lin(Search *s, PyObject *Py_UNUSED(ignored)) {
    if (not_ready(s)) return NULL;
    return words_to_bytes(s->best_lin, s->ws);
}

static PyObject *Search_get_state(Search *s, void *closure) {
    if (not_ready(s)) return NULL;
    (void)closure;
    Py_INCREF(s->state);
    return s->state;
}

/* Search.path_items(best, items): items[call] for each call of the current path
 * (the furthest one when best), calls numbered as in the cache: the path as the
 * caller's own handles on its calls, without a list of slots in between; with
 * items None, the calls' numbers. */
PyObject *Search_path_items(Search *s, PyObject *args) {
    if (not_ready(s)) return NULL;
    int best;
    PyObject *items;
    if (!PyArg_ParseTuple(args, "pO", &best, &items)) return NULL;
    if (items != Py_None && (!PyList_Check(items) || PyList_GET_SIZE(items) != s->n)) {
        PyErr_Format(PyExc_ValueError, "path_items: None or a list of %zd items", s->n);
        return NULL;
    }
    Py_ssize_t depth = best ? s->best_depth : s->depth;
    Py_ssize_t *path = best ? s->best_path : s->p_j;
    PyObject *out = PyList_New(depth);
    if (!out) return NULL;
    for (Py_ssize_t d = 0; d < depth; d++) {
        PyObject *v;
        if (items == Py_None) {
            if (!(v = PyLong_FromSsize_t(s->cslot[path[d]]))) { Py_DECREF(out); return NULL; }
        } else {
            v = PyList_GET_ITEM(items, s->cslot[path[d]]);
            Py_INCREF(v);
        }
        PyList_SET_ITEM(out, d, v);
    }
    return out;
}

/* Search.path_states(best): the model's state after each call of the current path
 * (the furthest one when best), replayed from the initial state: states_along's
 * answer without a Python step per call.  Stops where a step is refused, as
 * states_along does (a path the search took never has one).  With canonical
 * values (canon), (distinct, picks): the distinct states in order of first
 * appearance, and for each call the position of its state among them. */
static PyObject *Search_path_states(Search *s, PyObject *arg) {
    if (not_ready(s)) return NULL;
    int best = PyObject_IsTrue(arg);
    if (best < 0) return NULL;
    if (s->status == RUNNING) {
        PyErr_SetString(PyExc_RuntimeError, "path_states: the search is still running");
        return NULL;
    }
    Py_ssize_t depth = best ? s->best_depth : s->depth;
    Py_ssize_t *path = best ? s->best_path : s->p_j;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    PyObject *distinct = NULL, *picks = NULL, *where = NULL;  /* canonical: (distinct, picks) */
    if (s->canon && (!(distinct = PyList_New(0)) || !(picks = PyList_New(0)) || !(where = PyDict_New()))) {
        Py_XDECREF(distinct);
        Py_XDECREF(picks);
        Py_DECREF(out);
        return NULL;
    }
    PyObject *saved = s->state;  /* apply() steps s->state: borrowed back below */
    PyObject *st = s->init;
    Py_INCREF(st);
    for (Py_ssize_t d = 0; d < depth; d++) {
        PyObject *nxt = NULL;
        s->state = st;
        int ok = apply(s, path[d], &nxt);
        s->state = saved;
        if (ok < 0) goto fail;
        if (!ok) break;
        Py_DECREF(st);
        st = nxt;
        if (s->canon) {  /* equal states are one object (and hashable: None, bool, int, str) */
            PyObject *ki = PyDict_GetItemWithError(where, st);
            if (!ki) {
                if (PyErr_Occurred() || !(ki = PyLong_FromSsize_t(PyList_GET_SIZE(distinct)))) goto fail;
                int bad = PyDict_SetItem(where, st, ki) < 0 || PyList_Append(distinct, st) < 0;
                Py_DECREF(ki);  /* (the dict holds it) */
                if (bad) goto fail;
            }
            if (PyList_Append(picks, ki) < 0) goto fail;
        } else if (PyList_Append(out, st) < 0) {
            goto fail;
        }
    }
    s->state = saved;
    Py_DECREF(st);
    if (s->canon) {
        Py_DECREF(out);
        Py_DECREF(where);
        return Py_BuildValue("(NN)", distinct, picks);
    }
    return out;
fail:
    Py_DECREF(st);
    Py_DECREF(out);
    Py_XDECREF(distinct);
    Py_XDECREF(picks);
    Py_XDECREF(where);
    return NULL;
}

static PyMethodDef Search_methods[] = {
    {"run", (PyCFunction)Search_run, METH_O,
     "run(iters) -> 0 still running, 1 valid, 2 invalid; at most iters steps."},
    {"order", (PyCFunction)Search_order, METH_O,
     "order(best) -> slots of the current path, or of the furthest one when best."},
    {"best_states", (PyCFunction)Search_best_states, METH_NOARGS,
     "States found just before the furthest ok call that could not be passed (up to 16)."},
    {"layout", (PyCFunction)Search_layout, METH_NOARGS,
     "(perm, rslot, slot_ret): slot -> call; the slots of the ok calls by return, then -1; "
     "their history positions, then 0."},
    {"mask", (PyCFunction)Search_mask, METH_O,
     "mask(r) -> the candidate slots while the r-th ok return is pending, little-endian bytes."},
    {"path_states", (PyCFunction)Search_path_states, METH_O,
     "path_states(best) -> the state after each call of the path, replayed from the start."},
    {"path_items", (PyCFunction)Search_path_items, METH_VARARGS,
     "path_items(best, items) -> items[call] for each call of the current (or furthest) path."},
    {"invalid_parts", (PyCFunction)Search_invalid_parts, METH_O,
     "invalid_parts(relevant) -> (stuck, pending, states, order) of a search ended invalid, "
     "in the calls' numbers."},
    {"best_lin", (PyCFunction)Search_best_lin, METH_NOARGS,
     "The furthest path's linearized slots, little-endian bytes."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Search_members[] = {
    {"r", T_PYSSIZET, offsetof(Search, r), READONLY, "first ok call (by return) not linearized"},
    {"best_r", T_PYSSIZET, offsetof(Search, best_r), READONLY, "furthest r a failure reached"},
    {"steps", T_PYSSIZET, offsetof(Search, steps), READONLY, "steps so far"},
    {"canon", T_INT, offsetof(Search, canon), READONLY,
     "1 if values are canonical (fused path): equal iff identical"},
    {"err_slot", T_PYSSIZET, offsetof(Search, err_slot), READONLY,
     "slot of the call whose step raised, or -1"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef Search_getset[] = {
    {"state", (getter)Search_get_state, NULL, "the current state", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject SearchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "jepsy.checkers.linear._linear.Search",
    .tp_doc = "One resumable linearizability search (see linear/native.py).",
    .tp_basicsize = sizeof(Search),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Search_init,
    .tp_dealloc = (destructor)Search_dealloc,
    .tp_methods = Search_methods,
    .tp_members = Search_members,
    .tp_getset = Search_getset,
};

static PyMethodDef linear_functions[] = {
    {"fused", (PyCFunction)(void (*)(void))fused, METH_FASTCALL,
     "fused(history, op_type, kind, init, nil_unknown, allow_cas, compact, iters, name, workers) -> "
     "None, a valid result, or (search, cache, calls, failed, crashed, indices, invokes, completions, "
     "status); see linear/fused.py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef linear_module = {
    PyModuleDef_HEAD_INIT, "_linear",
    "The linearizability search loop in C (optional; see linear/native.py).", -1,
    linear_functions, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__linear(void) {
    if (PyType_Ready(&FailCacheType) < 0 || PyType_Ready(&SearchType) < 0) return NULL;
    if (!(str_input = PyUnicode_InternFromString("input")) || !(str_output = PyUnicode_InternFromString("output"))
        || fused_setup() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&linear_module);
    if (!m) return NULL;
    if (PyModule_AddType(m, &FailCacheType) < 0 || PyModule_AddType(m, &SearchType) < 0
        || PyModule_AddIntConstant(m, "OP_CALL", OP_CALL) < 0
        || PyModule_AddIntConstant(m, "OP_READ", OP_READ) < 0
        || PyModule_AddIntConstant(m, "OP_WRITE", OP_WRITE) < 0
        || PyModule_AddIntConstant(m, "OP_CAS", OP_CAS) < 0
        || PyModule_AddIntConstant(m, "OP_ANY", OP_ANY) < 0
        || PyModule_AddIntConstant(m, "OP_ADD", OP_ADD) < 0
        || PyModule_AddIntConstant(m, "OP_NEVER", OP_NEVER) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
