/*
 * jepsy.checkers.linear._linear, the layout: a partition's calls laid out for a Search.
 *
 * Search.__init__ (the general path, from native.py) and the fused path
 * (_linear_fused.c) both end in search_setup: the calls' instructions decoded
 * (decode), the slots in the order the search tries them (by invocation, or the
 * ok calls by return then the crashed ones), the candidate masks' bounds, the
 * twins among crashed calls with equal inputs, the cache's canonical numbering.
 * What search.layout does in Python, with the same results (tests/property).
 */
#include "_linear.h"

#define ALLOC(ptr, count) \
    do { \
        (ptr) = PyMem_Calloc((size_t)(count) + 1, sizeof(*(ptr))); \
        if (!(ptr)) { PyErr_NoMemory(); return -1; } \
    } while (0)

/* A list of n Python ints (None allowed as -1 when none_ok) into out. */
static int take_ints(PyObject *list, Py_ssize_t n, Py_ssize_t *out, int none_ok, const char *what) {
    if (!PyList_Check(list) || PyList_GET_SIZE(list) != n) {
        PyErr_Format(PyExc_ValueError, "%s: a list of %zd items", what, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(list, i);
        if (none_ok && v == Py_None) { out[i] = -1; continue; }
        out[i] = PyLong_AsSsize_t(v);
        if (out[i] == -1 && PyErr_Occurred()) return -1;
        if (out[i] < 0) {
            PyErr_Format(PyExc_ValueError, "%s[%zd] is negative", what, i);
            return -1;
        }
    }
    return 0;
}

static const Py_ssize_t *sort_key;
static int by_key(const void *x, const void *y) {
    Py_ssize_t a = sort_key[*(const Py_ssize_t *)x], b = sort_key[*(const Py_ssize_t *)y];
    if (a != b) return a < b ? -1 : 1;
    Py_ssize_t i = *(const Py_ssize_t *)x, j = *(const Py_ssize_t *)y;
    return i < j ? -1 : i > j;
}

/* Sorts idx[0 .. n) by key[idx] (distinct keys).  Calls taken in invocation order
 * mostly return in that order too (a call overlaps a few others): an insertion
 * sort costs n plus the pairs out of order, less than qsort's calls through a
 * comparator; past a budget of moves (many long calls) qsort finishes it. */
static void sort_by_key(Py_ssize_t *idx, Py_ssize_t n, const Py_ssize_t *key) {
    Py_ssize_t budget = 8 * n + 64;
    for (Py_ssize_t i = 1; i < n; i++) {
        Py_ssize_t v = idx[i], kv = key[v], j = i;
        while (j > 0 && key[idx[j - 1]] > kv) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
        budget -= i - j;
        if (budget < 0) {
            sort_key = key;
            qsort(idx, (size_t)n, sizeof(Py_ssize_t), by_key);
            return;
        }
    }
}

void calls_in_free(CallsIn *in) {
    PyObject **lists[4] = {in->a, in->b, in->inputs, in->outputs};
    for (int l = 0; l < 4; l++) {
        if (!lists[l]) continue;
        for (Py_ssize_t i = 0; i < in->n; i++) Py_XDECREF(lists[l][i]);
        PyMem_Free(lists[l]);
    }
    PyMem_Free(in->cpos);
    PyMem_Free(in->rpos);
    PyMem_Free(in->code);
    memset(in, 0, sizeof *in);
}

int calls_in_alloc(CallsIn *in, Py_ssize_t n) {
    memset(in, 0, sizeof *in);
    in->n = n;
    ALLOC(in->cpos, n);
    ALLOC(in->rpos, n);
    ALLOC(in->code, n);
    ALLOC(in->a, n);
    ALLOC(in->b, n);
    ALLOC(in->inputs, n);
    ALLOC(in->outputs, n);
    return 0;
}

/* Call i's instruction from Model.native_op's plain data (None: call step). */
static int decode(CallsIn *in, Py_ssize_t i, PyObject *ins) {
    static const char *names[] = {"call", "read", "write", "cas", "any", "add", "never"};
    static const int arity[] = {0, 1, 1, 2, 0, 1, 0};
    if (ins == Py_None) {
        in->code[i] = OP_CALL;
        return 0;
    }
    if (!PyTuple_Check(ins) || PyTuple_GET_SIZE(ins) < 1 || !PyUnicode_Check(PyTuple_GET_ITEM(ins, 0))) {
        PyErr_SetString(PyExc_ValueError, "native_op must return None or a tuple (name, operands...)");
        return -1;
    }
    PyObject *name = PyTuple_GET_ITEM(ins, 0);
    for (int c = OP_READ; c <= OP_NEVER; c++) {
        if (PyUnicode_CompareWithASCIIString(name, names[c]) != 0) continue;
        if (PyTuple_GET_SIZE(ins) != 1 + arity[c]) {
            PyErr_Format(PyExc_ValueError, "native_op: %s takes %d operand(s)", names[c], arity[c]);
            return -1;
        }
        in->code[i] = c;
        if (arity[c] > 0) { in->a[i] = PyTuple_GET_ITEM(ins, 1); Py_INCREF(in->a[i]); }
        if (arity[c] > 1) { in->b[i] = PyTuple_GET_ITEM(ins, 2); Py_INCREF(in->b[i]); }
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "native_op: unknown instruction %R", name);
    return -1;
}

/* 1 if `v` is a tuple with a list, dict or set item (unhashable for certain), else 0. */
static int plainly_unhashable(PyObject *v) {
    if (!PyTuple_CheckExact(v)) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(v); i++) {
        PyObject *x = PyTuple_GET_ITEM(v, i);
        if (PyList_CheckExact(x) || PyDict_CheckExact(x) || PySet_CheckExact(x)) return 1;
    }
    return 0;
}

/* twin[j]: for a crashed slot, the nearest lower crashed slot whose input is equal
 * as a dict key, or (an unhashable input) the nearest lower one that is identical
 * or ==; else -1.  As search.twins does. */
static int find_twins(Search *s) {
    Py_ssize_t n = s->n;
    s->twin = PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t));
    if (!s->twin) { PyErr_NoMemory(); return -1; }
    PyObject *last = NULL;
    for (Py_ssize_t j = 0; j < n; j++) {
        s->twin[j] = -1;
        if (!s->crashed[j]) continue;
        if (!last && !(last = PyDict_New())) return -1;  /* (most partitions have no crashed call) */
        PyObject *inp = s->inputs[j];
        /* An input holding a list (a cas's [from, to]) is unhashable: scanned at once,
         * without the TypeError that hashing it would raise and cost. */
        int scan = plainly_unhashable(inp);
        PyObject *prev = scan ? NULL : PyDict_GetItemWithError(last, inp);
        if (scan || (!prev && PyErr_Occurred())) {
            if (!scan) {
                if (!PyErr_ExceptionMatches(PyExc_TypeError)) { Py_DECREF(last); return -1; }
                PyErr_Clear();
            }
            for (Py_ssize_t q = j - 1; q >= 0; q--) {
                if (!s->crashed[q]) continue;
                int eq = PyObject_RichCompareBool(s->inputs[q], inp, Py_EQ);
                if (eq < 0) { Py_DECREF(last); return -1; }
                if (eq) { s->twin[j] = q; break; }
            }
            continue;
        }
        if (prev) s->twin[j] = PyLong_AsSsize_t(prev);
        PyObject *idx = PyLong_FromSsize_t(j);
        if (!idx || PyDict_SetItem(last, inp, idx) < 0) { Py_XDECREF(idx); Py_DECREF(last); return -1; }
        Py_DECREF(idx);
    }
    Py_XDECREF(last);
    return 0;
}

/* Lays the calls out (see Search_init), moving in's references into the slots;
 * scratch holds 2n indices. */
static int lay_out(Search *s, int by_call, CallsIn *in, Py_ssize_t *scratch) {
    Py_ssize_t n = s->n;
    const Py_ssize_t *cpos = in->cpos, *rpos = in->rpos;
    Py_ssize_t *order = scratch, *slot_of = scratch + n;
    ALLOC(s->code, n);
    ALLOC(s->cslot, n);  /* perm: slot -> call */
    ALLOC(s->crashed, n);
    ALLOC(s->rslot, n + 1);
    ALLOC(s->slot_ret, n + 1);
    ALLOC(s->p_j, n);
    ALLOC(s->p_r, n);
    ALLOC(s->p_state, n);
    ALLOC(s->best_path, n);
    /* ok calls by return (positions are distinct: a stable order) */
    Py_ssize_t n_ok = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (rpos[i] >= 0) order[n_ok++] = i;
    sort_by_key(order, n_ok, rpos);
    s->n_ok = n_ok;
    Py_ssize_t *perm = s->cslot;
    if (by_call) {
        for (Py_ssize_t i = 0; i < n; i++) perm[i] = i;
    } else {
        Py_ssize_t k = 0;
        for (Py_ssize_t r = 0; r < n_ok; r++) perm[k++] = order[r];
        for (Py_ssize_t i = 0; i < n; i++)
            if (rpos[i] < 0) perm[k++] = i;
    }
    ALLOC(s->a, n);
    ALLOC(s->b, n);
    ALLOC(s->inputs, n);
    ALLOC(s->outputs, n);
    Py_ssize_t ws = s->ws;
    ALLOC(s->romask, ws);
    for (Py_ssize_t j = 0; j < n; j++) {
        Py_ssize_t i = perm[j];
        s->code[j] = in->code[i];
        s->a[j] = in->a[i], in->a[i] = NULL;
        s->b[j] = in->b[i], in->b[i] = NULL;
        s->inputs[j] = in->inputs[i], in->inputs[i] = NULL;
        s->outputs[j] = in->outputs[i], in->outputs[i] = NULL;
        s->crashed[j] = rpos[i] < 0;
        if (s->crashed[j]) continue;
        /* Read-only (linear/search.py): given, or implied by the instruction. */
        int t;
        switch (s->code[j]) {
        case OP_CALL:
            if (!in->ro) {
                PyErr_SetString(PyExc_ValueError, "read_only is needed for calls without instructions");
                return -1;
            }
            t = PyObject_IsTrue(PyList_GET_ITEM(in->ro, i));
            break;
        case OP_READ:
        case OP_ANY:
            t = 1;
            break;
        case OP_CAS:
            t = py_eq(s->a[j], s->b[j]);
            break;
        case OP_TXN:  /* models.multi_register's read_only: nothing but reads */
            t = !txn_writes(s->a[j]);
            break;
        default:
            t = 0;
        }
        if (t < 0) return -1;
        if (t) BIT_SET(s->romask, j);
    }
    if (find_twins(s) < 0) return -1;
    for (Py_ssize_t j = 0; j < n; j++) slot_of[perm[j]] = j;
    /* masks[r]: the slots invoked before the r-th ok return (see mask_to) */
    ALLOC(s->upto, n_ok ? n_ok : 1);
    ALLOC(s->slot_of, n ? n : 1);
    memcpy(s->slot_of, slot_of, (size_t)n * sizeof(Py_ssize_t));
    ALLOC(s->mask, ws);
    s->mask_upto = 0;
    Py_ssize_t k = 0;
    ALLOC(s->tmp, ws);
    for (Py_ssize_t r = 0; r < n_ok; r++) {
        Py_ssize_t rp = rpos[order[r]];
        while (k < n && cpos[k] < rp) k++;
        s->upto[r] = k;
        s->slot_ret[r] = rp;
    }
    s->slot_ret[n_ok] = 0;
    for (Py_ssize_t r = 0; r < n_ok; r++) s->rslot[r] = by_call ? order[r] : r;
    s->rslot[n_ok] = -1;
    ALLOC(s->lin, ws);
    ALLOC(s->clin, s->cache->words);
    ALLOC(s->cand, ws);
    ALLOC(s->p_forced, n ? n : 1);
    ALLOC(s->best_lin, ws);
    return 0;
}

/* Everything Search_init does once its arguments are C data (the fused path
 * calls it too).  Takes in's references. */
int search_setup(Search *s, FailCache *fc, PyObject *step, int by_call, CallsIn *in,
                        PyObject *init) {
    Py_ssize_t n = in->n;
    if ((n + 63) / 64 > fc->words) {
        PyErr_Format(PyExc_ValueError, "%zd calls do not fit a cache of %zd words", n, fc->words);
        return -1;
    }
    s->n = n;
    s->ws = n ? (n + 63) / 64 : 1;
    s->wc = fc->words;
    Py_INCREF(fc);
    s->cache = fc;
    Py_INCREF(step);
    s->step = step;
    Py_ssize_t *scratch = PyMem_Calloc((size_t)n * 2 + 1, sizeof(Py_ssize_t));
    if (!scratch) { PyErr_NoMemory(); return -1; }
    int rc = lay_out(s, by_call, in, scratch);
    PyMem_Free(scratch);
    if (rc < 0) return -1;
    s->best_states = PyDict_New();
    if (!s->best_states) return -1;
    Py_INCREF(init);
    s->state = init;
    Py_INCREF(init);
    s->init = init;
    s->best_r = -1;
    s->err_slot = -1;
    s->ready = 1;
    return 0;
}

/* Search(cache, step, by_call, calls, instructions, read_only, call_pos, ret_pos, init)
 *
 * calls: the partition's Call objects (their input and output are read);
 * instructions: each call's Model.native_op, or None; read_only: the model's
 * read_only of each call, needed only for calls without an instruction (None
 * if all have one: read, any, and a cas from a value to itself are read-only).  Per-call lists in
 * invocation order (the call's index is its canonical number
 * in the cache); ret_pos None for a crashed call.  Lays the calls out as
 * search.layout does: slots in invocation order (by_call, Porcupine's
 * order) or ok calls by return then crashed calls (earliest deadline first). */
int Search_init(Search *s, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"cache", "step", "by_call", "calls", "instructions", "read_only",
                             "call_pos", "ret_pos", "init", NULL};
    PyObject *cache, *step, *calls, *ins, *ro, *call_pos, *ret_pos, *init;
    int by_call;
    if (s->cache) {
        PyErr_SetString(PyExc_RuntimeError, "Search is initialized once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OpOOOOOO", kwlist, &FailCacheType, &cache,
                                     &step, &by_call, &calls, &ins, &ro, &call_pos, &ret_pos, &init))
        return -1;
    if (!PyList_Check(calls)) {
        PyErr_SetString(PyExc_TypeError, "calls must be a list");
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(calls);
    if (!PyList_Check(ins) || PyList_GET_SIZE(ins) != n || (ro != Py_None && (!PyList_Check(ro) || PyList_GET_SIZE(ro) != n))) {
        PyErr_Format(PyExc_ValueError, "calls, instructions and read_only: lists of %zd items", n);
        return -1;
    }
    CallsIn in;
    if (calls_in_alloc(&in, n) < 0) { calls_in_free(&in); return -1; }
    int rc = -1;
    if (take_ints(call_pos, n, in.cpos, 0, "call_pos") < 0 || take_ints(ret_pos, n, in.rpos, 1, "ret_pos") < 0)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *call = PyList_GET_ITEM(calls, i);
        if (!(in.inputs[i] = PyObject_GetAttr(call, str_input))
            || !(in.outputs[i] = PyObject_GetAttr(call, str_output))
            || decode(&in, i, PyList_GET_ITEM(ins, i)) < 0)
            goto done;
    }
    in.ro = ro == Py_None ? NULL : ro;
    rc = search_setup(s, (FailCache *)cache, step, by_call, &in, init);
done:
    calls_in_free(&in);
    return rc;
}
