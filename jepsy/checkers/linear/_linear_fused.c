/*
 * jepsy.checkers.linear._linear, the fused path: fused(history, ...) takes a history
 * of Ops straight to a search of its one partition, for the plain models
 * (linear/fused.py says which and why).  The search itself is _linear.c's.
 */
#include "_linear.h"

/* -------------------------------------------------------------- fused path */

/* fused(history, op_type, kind, init, nil_unknown, allow_cas, compact, iters, name,
 * workers): a history of jepsy.history.Op straight to a search of its one
 * partition, for the models whose calls C applies itself (linear/fused.py says
 * which and why).  It does what prepare, partition and native.search do before
 * the loop, without a Python object per call: pairs invocations with
 * completions (strictly), drops fail pairs, crashes info and unfinished calls,
 * and turns each call into the instruction the model's native_op gives it (a
 * multi-register transaction: OP_TXN).  Returns None whenever the general path
 * must decide: an op that is not exactly op_type, or whose fields are not at
 * fixed slots; a malformed history (the general path reports it); a process
 * number beyond 64 bits; a register history in Jepsen's independent [key, value]
 * convention, which the model partitions by key; a transaction the model's step
 * refuses; an error in the first slice.  Else it runs the search's first `iters`
 * steps: found valid, the check's result (linear/fused.py's, named `name`,
 * reporting `workers`); else (search, cache, calls, failed, crashed, indices,
 * invokes, completions, status): the search laid out in the "return" order with
 * its own empty cache, the counts of calls, dropped fail pairs and crashed calls,
 * per call the invoke's `index`, the invoke and the completion (None if none),
 * as prepare.Prepared has them, and the search's status.  compact: the cache
 * stores crashed calls' bits apart whatever the size (as the general path's
 * caches do: its memory estimate, for a tight memory budget); else only past
 * COMPACT_CALLS calls. */

enum { KIND_REGISTER = 0, KIND_MUTEX = 1, KIND_MULTI = 2 };
#define COMPACT_CALLS 256

/* Op's fields are read at their slots: a msgspec Struct's fields are member
 * descriptors at fixed offsets, resolved once per type. */
static PyTypeObject *op_type_seen;
static Py_ssize_t off_index, off_type, off_process, off_f, off_value;
static int op_direct;
static PyObject *s_index, *s_type, *s_process, *s_f, *s_value;
static PyObject *s_invoke, *s_ok, *s_fail, *s_read, *s_write, *s_cas, *s_acquire, *s_release;
static PyObject *s_txn, *s_r, *s_w;

static Py_ssize_t member_offset(PyTypeObject *t, PyObject *name) {
    PyObject *d = PyDict_GetItemWithError(t->tp_dict, name);  /* borrowed */
    if (!d || !Py_IS_TYPE(d, &PyMemberDescr_Type)) return -1;
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX && m->type != T_OBJECT) return -1;
    return m->offset;
}

static void resolve_op_type(PyTypeObject *t) {
    op_type_seen = t;
    off_index = member_offset(t, s_index);
    off_type = member_offset(t, s_type);
    off_process = member_offset(t, s_process);
    off_f = member_offset(t, s_f);
    off_value = member_offset(t, s_value);
    PyErr_Clear();
    op_direct = off_index > 0 && off_type > 0 && off_process > 0 && off_f > 0 && off_value > 0;
}

/* The field at `off` of an op (borrowed), NULL if unset. */
#define FIELD(op, off) (*(PyObject **)((char *)(op) + (off)))

/* s is the str `lit` (interned): identity first, since the readers share their strings. */
static int is_str(PyObject *s, PyObject *lit) {
    if (s == lit) return 1;
    if (!PyUnicode_CheckExact(s)) return 0;
    if (!PyUnicode_IS_READY(s)) return PyUnicode_Compare(s, lit) == 0;
    Py_ssize_t k = PyUnicode_GET_LENGTH(s);
    return k == PyUnicode_GET_LENGTH(lit) && PyUnicode_KIND(s) == PyUnicode_KIND(lit)
           && memcmp(PyUnicode_DATA(s), PyUnicode_DATA(lit), (size_t)k * PyUnicode_KIND(s)) == 0;
}

/* models._is_pair: 1, 0, or -1 on error. */
static int is_pair(PyObject *v) {
    if (PyList_CheckExact(v)) return PyList_GET_SIZE(v) == 2;
    if (PyTuple_CheckExact(v)) return PyTuple_GET_SIZE(v) == 2;
    if (!PyList_Check(v) && !PyTuple_Check(v)) return 0;
    Py_ssize_t k = PySequence_Size(v);
    return k < 0 ? -1 : k == 2;
}

/* One call while pairing: its invoke and completion (borrowed from the history). */
typedef struct { PyObject *inv, *comp; Py_ssize_t ipos, cpos; } Pairing;

/* Process number -> index of its open call + 1 (0: none): an array for the small
 * numbers clients have, open addressing for any other. */
#define SMALL_PROCS 512
typedef struct {
    Py_ssize_t *small;  /* SMALL_PROCS entries */
    long long *keys;
    Py_ssize_t *vals;
    char *used;
    size_t mask, count;
} ProcTable;

static Py_ssize_t *proc_big(ProcTable *t, long long p) {
    size_t i = (size_t)mix64((word)p) & t->mask;
    while (t->used[i] && t->keys[i] != p) i = (i + 1) & t->mask;
    if (!t->used[i]) {
        t->used[i] = 1;
        t->keys[i] = p;
        t->vals[i] = 0;
        t->count++;
    }
    return &t->vals[i];
}

static int proc_alloc(ProcTable *t, size_t size) {
    t->mask = size - 1;
    t->count = 0;
    t->keys = PyMem_Calloc(size, sizeof(long long));
    t->vals = PyMem_Calloc(size, sizeof(Py_ssize_t));
    t->used = PyMem_Calloc(size, 1);
    if (!t->keys || !t->vals || !t->used) { PyErr_NoMemory(); return -1; }
    return 0;
}

/* The small numbers' entries: one static array, every entry 0 between calls (a
 * fused call clears the entries it set), so that a check does not zero 4 kB; a
 * table of its own if that one is in use. */
static Py_ssize_t proc_small[SMALL_PROCS];
static int proc_small_busy;

static int proc_init(ProcTable *t) {
    memset(t, 0, sizeof *t);
    if (!proc_small_busy) {
        proc_small_busy = 1;
        t->small = proc_small;
        return 0;
    }
    t->small = PyMem_Calloc(SMALL_PROCS, sizeof(Py_ssize_t));
    if (!t->small) { PyErr_NoMemory(); return -1; }
    return 0;
}

static void proc_free(ProcTable *t) {
    PyMem_Free(t->keys);
    PyMem_Free(t->vals);
    PyMem_Free(t->used);
    t->keys = NULL;
    t->vals = NULL;
    t->used = NULL;
}

/* The slot of process p, NULL on error (no memory). */
static Py_ssize_t *proc_slot(ProcTable *t, long long p) {
    if (p >= 0 && p < SMALL_PROCS) return &t->small[p];
    if (!t->used && proc_alloc(t, 64) < 0) return NULL;
    if ((t->count + 1) * 2 > t->mask + 1) {
        ProcTable u;
        if (proc_alloc(&u, (t->mask + 1) * 2) < 0) { proc_free(&u); return NULL; }
        for (size_t i = 0; i <= t->mask; i++)
            if (t->used[i]) *proc_big(&u, t->keys[i]) = t->vals[i];
        proc_free(t);
        t->keys = u.keys, t->vals = u.vals, t->used = u.used, t->mask = u.mask, t->count = u.count;
    }
    return proc_big(t, p);
}

/* An exact int's value if it is a small nonnegative one (one digit), else -1: the
 * process numbers of clients, read without a call. */
static inline long long small_int(PyObject *p) {
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyLong_CheckExact(p) || !PyUnstable_Long_IsCompact((PyLongObject *)p)) return -1;
    return (long long)PyUnstable_Long_CompactValue((PyLongObject *)p);
#else
    if (!PyLong_CheckExact(p)) return -1;
    Py_ssize_t size = Py_SIZE(p);
    return size == 0 ? 0 : size == 1 ? (long long)((PyLongObject *)p)->ob_digit[0] : -1;
#endif
}

/* Which of `lits` (interned) the str s is, or n if none.  The readers share one
 * object per distinct string, so `seen` remembers the object met for each and
 * most ops cost a pointer comparison. */
static inline int str_code(PyObject *s, PyObject *const *lits, PyObject **seen, int n) {
    for (int k = 0; k < n; k++)
        if (s == seen[k]) return k;
    for (int k = 0; k < n; k++)
        if (is_str(s, lits[k])) {
            seen[k] = s;
            return k;
        }
    return n;
}

/* Item i of a pair (new reference), NULL on error. */
static PyObject *pair_item(PyObject *v, Py_ssize_t i) {
    if (PyList_CheckExact(v)) { Py_INCREF(PyList_GET_ITEM(v, i)); return PyList_GET_ITEM(v, i); }
    if (PyTuple_CheckExact(v)) { Py_INCREF(PyTuple_GET_ITEM(v, i)); return PyTuple_GET_ITEM(v, i); }
    return PySequence_GetItem(v, i);
}

/* Canonical values: replaces each operand (a, b) and *init by the first value equal
 * to it, so that values are equal iff identical and the search compares and
 * hashes pointers, calling no Python code.  Only where that is exact: every value
 * None, a bool, an exact int or an exact str, and values equal only within one
 * type (1 == True, so a history holding both keeps Python's ==).  Then the
 * representative is indistinguishable from the value it stands for (same type,
 * same value: the same JSON, the same words).  Returns 1 done, 0 not possible,
 * -1 on error.  Values replaced before it turns out not possible stay replaced:
 * an equal value of the same type, which no comparison can tell apart. */
static int canon_values(CallsIn *in, PyObject **init) {
    PyObject *d = NULL;
    int rc = 1, small_01[2] = {0, 0}, bools[2] = {0, 0};
    for (Py_ssize_t i = -1; i < in->n && rc == 1; i++) {
        PyObject **slots[2] = {i < 0 ? init : &in->a[i], i < 0 ? NULL : &in->b[i]};
        for (int k = 0; k < 2 && rc == 1; k++) {
            if (!slots[k] || !*slots[k]) continue;
            PyObject *v = *slots[k];
            /* None and the bools are singletons; a small int's representative is
             * CPython's cached object for it: no dict needed for the values
             * registers hold most.  A bool and the int it equals are told apart
             * below (True == 1: not possible). */
            if (v == Py_None) continue;
            if (PyBool_Check(v)) { bools[v == Py_True] = 1; continue; }
            long long x = small_int(v);
            if (x >= 0 && x <= 256) {
                PyObject *r = PyLong_FromLongLong(x);  /* the cached one */
                if (!r) { rc = -1; break; }
                if (r != v) {
                    *slots[k] = r;
                    Py_DECREF(v);
                } else {
                    Py_DECREF(r);
                }
                if (x < 2) small_01[x] = 1;
                continue;
            }
            if (!PyLong_CheckExact(v) && !PyUnicode_CheckExact(v)) {
                rc = 0;
                break;
            }
            if (!d && !(d = PyDict_New())) { rc = -1; break; }
            PyObject *r = PyDict_GetItemWithError(d, v);
            if (!r) {
                if (PyErr_Occurred() || PyDict_SetItem(d, v, v) < 0) rc = -1;
            } else if (Py_TYPE(r) != Py_TYPE(v)) {
                rc = 0;
            } else if (r != v) {
                Py_INCREF(r);
                *slots[k] = r;
                Py_DECREF(v);
            }
        }
    }
    Py_XDECREF(d);
    if (rc == 1 && ((bools[0] && small_01[0]) || (bools[1] && small_01[1]))) rc = 0;
    return rc;
}

/* `st` is a tuple of (register, value) pairs, registers exact strs in strictly
 * increasing order (models._freeze_regs makes it so, unless two registers have
 * the same str): apply_txn's state. */
static int sorted_regs(PyObject *st) {
    if (!PyTuple_CheckExact(st)) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(st); i++) {
        PyObject *pr = PyTuple_GET_ITEM(st, i);
        if (!PyTuple_CheckExact(pr) || PyTuple_GET_SIZE(pr) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pr, 0)))
            return 0;
        if (i > 0) {
            int c = PyUnicode_Compare(PyTuple_GET_ITEM(PyTuple_GET_ITEM(st, i - 1), 0), PyTuple_GET_ITEM(pr, 0));
            if (c >= 0) { PyErr_Clear(); return 0; }
        }
    }
    return 1;
}

/* A multi-register call's OP_TXN operand into *ops (a new tuple): 1 done, 0 a call
 * the fused path leaves to the general one (not a txn, a malformed micro-op: the
 * model's step refuses it, which the general path says), -1 error.  As the step
 * reads it: the ok value's micro-ops (the invoke's if crashed or None), a read
 * of None, or any read of a crashed call, learns nothing and is left out. */
static int txn_of(PyObject *f, PyObject *value, PyObject *out, int crashed, PyObject **ops) {
    if (!is_str(f, s_txn)) return 0;
    PyObject *mops = crashed || out == Py_None ? value : out;
    if (!PyList_CheckExact(mops) && !PyTuple_CheckExact(mops)) return 0;
    PyObject *seq = PySequence_Fast(mops, "");  /* (a list or tuple: no copy) */
    if (!seq) return -1;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq), m = 0;
    PyObject *t = PyTuple_New(k);
    int rc = t ? 1 : -1;
    for (Py_ssize_t i = 0; i < k && rc == 1; i++) {
        PyObject *mop = PySequence_Fast_GET_ITEM(seq, i);
        if ((!PyList_CheckExact(mop) && !PyTuple_CheckExact(mop)) || PySequence_Fast_GET_SIZE(mop) != 3) {
            rc = 0;
            break;
        }
        PyObject *kind = PySequence_Fast_GET_ITEM(mop, 0), *reg = PySequence_Fast_GET_ITEM(mop, 1);
        PyObject *v = PySequence_Fast_GET_ITEM(mop, 2);
        int write = is_str(kind, s_write) || is_str(kind, s_w);
        if (!write && !is_str(kind, s_read) && !is_str(kind, s_r)) { rc = 0; break; }
        if (!write && (v == Py_None || crashed)) continue;
        PyObject *key = PyUnicode_CheckExact(reg) ? (Py_INCREF(reg), reg) : PyObject_Str(reg);
        if (!key) { rc = -1; break; }
        if (!PyUnicode_CheckExact(key)) { Py_DECREF(key); rc = 0; break; }
        PyObject *item = PyTuple_Pack(3, write ? Py_True : Py_False, key, v);
        Py_DECREF(key);
        if (!item) { rc = -1; break; }
        PyTuple_SET_ITEM(t, m++, item);
    }
    Py_DECREF(seq);
    if (rc == 1 && m < k) {  /* (reads left out) */
        PyObject *cut = PyTuple_GetSlice(t, 0, m);
        Py_DECREF(t);
        t = cut;
        if (!t) rc = -1;
    }
    if (rc != 1) Py_XDECREF(t);
    else *ops = t;
    return rc;
}

#define FALLBACK() do { PyErr_Clear(); result = Py_None; Py_INCREF(result); goto done; } while (0)

enum { T_INVOKE, T_OK, T_FAIL, T_OTHER };  /* op types (info and any other: crashed) */
enum { F_READ, F_WRITE, F_CAS, F_ACQUIRE = 0, F_RELEASE = 1 };

/* An op's process number into *pn: 1 a number, 0 not an int (the nemesis), -1 beyond
 * 64 bits.  Reads no Python code: an int subclass is read as the int it is. */
static inline int proc_number(PyObject *p, long long *pn) {
    if (!PyLong_Check(p)) return 0;
    *pn = small_int(p);
    if (*pn < 0 || *pn >= SMALL_PROCS) {
        int overflow;
        *pn = PyLong_AsLongLongAndOverflow(p, &overflow);
        if (overflow || (*pn == -1 && PyErr_Occurred())) return -1;
    }
    return 1;
}

/* Gives the table's small entries back all 0: only calls still open hold one. */
static void proc_release(ProcTable *t, const Pairing *calls, Py_ssize_t ncalls) {
    if (!t->small) return;
    for (Py_ssize_t k = 0; k < ncalls; k++) {
        long long pn;
        if (!calls[k].comp && proc_number(FIELD(calls[k].inv, off_process), &pn) == 1
            && pn >= 0 && pn < SMALL_PROCS)
            t->small[pn] = 0;
    }
    if (t->small == proc_small) proc_small_busy = 0;
    else PyMem_Free(t->small);
    t->small = NULL;
}

/* Pairs the history's invocations with their completions into calls[] (*ncalls of
 * them), each completion's type in ctype[], *open_left: calls left open: 1 done,
 * 0 the general path must decide, -1 error.  The loop every op goes through:
 * the common case (a client's small process number, a type string met before)
 * costs a few loads and comparisons. */
static int pair_ops(PyObject *history, PyTypeObject *op_type, ProcTable *pt, Pairing *calls,
                    char *ctype, Py_ssize_t *ncalls, Py_ssize_t *open_left) {
    PyObject *const types[] = {s_invoke, s_ok, s_fail};
    PyObject *seen_t[] = {s_invoke, s_ok, s_fail};
    PyObject *const *items = ((PyListObject *)history)->ob_item;
    Py_ssize_t len = PyList_GET_SIZE(history), nc = 0, open_now = 0;
    Py_ssize_t *small = pt->small;
    const Py_ssize_t o_proc = off_process, o_type = off_type;
    int rc = 1;
    for (Py_ssize_t pos = 0; pos < len; pos++) {
        PyObject *op = items[pos];
        if (!Py_IS_TYPE(op, op_type)) { rc = 0; break; }
        PyObject *p = FIELD(op, o_proc), *t = FIELD(op, o_type);
        if (!p | !t) { rc = 0; break; }
        long long pn = small_int(p);
        if (pn < 0 || pn >= SMALL_PROCS) {
            int got = proc_number(p, &pn);
            if (got == 0) continue;  /* the nemesis */
            if (got < 0) { rc = 0; break; }
        }
        Py_ssize_t *open = pn >= 0 && pn < SMALL_PROCS ? &small[pn] : proc_slot(pt, pn);
        if (!open) { rc = -1; break; }
        int tc = t == seen_t[T_INVOKE] ? T_INVOKE : str_code(t, types, seen_t, 3);
        if (tc == T_INVOKE) {
            if (*open) { rc = 0; break; }  /* invoked again while open: the general path says so */
            calls[nc] = (Pairing){op, NULL, pos, -1};
            *open = ++nc;
            open_now++;
        } else {
            Py_ssize_t k = *open - 1;
            if (k < 0) { rc = 0; break; }  /* a completion without an invoke */
            calls[k].comp = op;
            calls[k].cpos = pos;
            ctype[k] = (char)tc;
            *open = 0;
            open_now--;
        }
    }
    *ncalls = nc;
    *open_left = open_now;
    return rc;
}

/* Interned keys of a valid result (fused_result). */
enum { K_VALID, K_MODEL, K_OPS, K_FAILED, K_KEYS, K_WORKERS, K_ENGINE, K_TIME, K_TEXT, K_CRASHED,
       K_INDICES, K_CONFIGS, K_LIN, K_NULL, K_C, K_COUNT };
static PyObject *rkeys[K_COUNT];
static const char *rkey_names[K_COUNT] = {"valid", "model", "ops", "failed_dropped", "keys", "workers",
                                          "engine", "time_s", "text", "crashed", "indices", "configs",
                                          "linearization", "null", "c"};

/* Templates of a valid result and of its key's entry: a copy of one has its keys in
 * place (PyDict_Copy clones the key table), so filling it in resizes nothing. */
static PyObject *result_tpl, *entry_tpl;
static const int result_fields[] = {K_VALID, K_MODEL, K_OPS, K_FAILED, K_KEYS, K_WORKERS, K_ENGINE,
                                    K_TIME, K_TEXT};
static const int entry_fields[] = {K_OPS, K_CRASHED, K_INDICES, K_VALID, K_CONFIGS, K_LIN};

static PyObject *template_of(const int *fields, size_t count) {
    PyObject *d = PyDict_New();
    for (size_t k = 0; d && k < count; k++)
        if (PyDict_SetItem(d, rkeys[fields[k]], Py_None) < 0) Py_CLEAR(d);
    return d;
}

/* "Linearizable: {n} operations in 1 key fit the {name} model.", the tail kept for
 * the last model name met (a checker checks many histories with one model). */
static PyObject *valid_text(Py_ssize_t n, PyObject *name) {
    static PyObject *last_name, *last_tail;
    if (name != last_name) {
        PyObject *tail = PyUnicode_FromFormat(" operations in 1 key fit the %U model.", name);
        if (!tail) return NULL;
        Py_XDECREF(last_tail);
        Py_XDECREF(last_name);
        Py_INCREF(name);
        last_name = name;
        last_tail = tail;
    }
    char buf[48] = "Linearizable: ", digits[24];
    size_t len = strlen(buf), k = 0;
    size_t u = (size_t)n;
    do { digits[k++] = (char)('0' + u % 10); u /= 10; } while (u);
    while (k) buf[len++] = digits[--k];
    PyObject *head = PyUnicode_FromStringAndSize(buf, (Py_ssize_t)len);
    if (!head) return NULL;
    PyObject *text = PyUnicode_Concat(head, last_tail);
    Py_DECREF(head);
    return text;
}

/* The checker's result for a search found valid, as linear/fused.py words it (the
 * same fields in the same order; time_s 0.0, for the caller to set). */
static PyObject *fused_result(Search *s, FailCache *fc, Py_ssize_t n, Py_ssize_t failed,
                              Py_ssize_t ncrashed, PyObject *indices, PyObject *name, PyObject *workers) {
    PyObject *entry = NULL, *keys = NULL, *result = NULL, *lin = NULL, *v;
    PyObject *path_args = Py_BuildValue("(OO)", Py_False, indices);
    if (!path_args) return NULL;
    lin = Search_path_items(s, path_args);
    Py_DECREF(path_args);
    if (!lin || !(entry = PyDict_Copy(entry_tpl)) || !(keys = PyDict_New()) || !(result = PyDict_Copy(result_tpl)))
        goto fail;
#define PUT(d, k, expr) do { if (!(v = (expr)) || PyDict_SetItem((d), rkeys[k], v) < 0) { Py_XDECREF(v); goto fail; } Py_DECREF(v); } while (0)
#define PUT_BORROWED(d, k, obj) do { if (PyDict_SetItem((d), rkeys[k], (obj)) < 0) goto fail; } while (0)
    PUT(entry, K_OPS, PyLong_FromSsize_t(n));
    PUT(entry, K_CRASHED, PyLong_FromSsize_t(ncrashed));
    PUT_BORROWED(entry, K_INDICES, indices);
    PUT_BORROWED(entry, K_VALID, Py_True);
    PUT(entry, K_CONFIGS, PyLong_FromSsize_t(fc->len));
    PUT_BORROWED(entry, K_LIN, lin);
    PUT_BORROWED(keys, K_NULL, entry);
    PUT_BORROWED(result, K_VALID, Py_True);
    PUT_BORROWED(result, K_MODEL, name);
    PUT(result, K_OPS, PyLong_FromSsize_t(n));
    PUT(result, K_FAILED, PyLong_FromSsize_t(failed));
    PUT_BORROWED(result, K_KEYS, keys);
    PUT_BORROWED(result, K_WORKERS, workers);
    PUT_BORROWED(result, K_ENGINE, rkeys[K_C]);
    PUT(result, K_TIME, PyFloat_FromDouble(0.0));
    PUT(result, K_TEXT, valid_text(n, name));
#undef PUT
#undef PUT_BORROWED
    Py_DECREF(lin);
    Py_DECREF(entry);
    Py_DECREF(keys);
    return result;
fail:
    Py_XDECREF(lin);
    Py_XDECREF(entry);
    Py_XDECREF(keys);
    Py_XDECREF(result);
    return NULL;
}

PyObject *fused(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 10 || !PyList_Check(args[0]) || !PyType_Check(args[1]) || !PyLong_Check(args[2])
        || !PyUnicode_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError, "fused(history: list, op_type: type, kind: int, init, "
                        "nil_unknown: bool, allow_cas: bool, compact: bool, iters: int, name: str, workers)");
        return NULL;
    }
    PyObject *history = args[0], *init = args[3], *name = args[8], *workers = args[9];
    PyTypeObject *op_type = (PyTypeObject *)args[1];
    long kind = PyLong_AsLong(args[2]);
    int nil_unknown = PyObject_IsTrue(args[4]), allow_cas = PyObject_IsTrue(args[5]);
    int compact = PyObject_IsTrue(args[6]);
    long iters = PyLong_AsLong(args[7]);
    if ((kind == -1 || iters == -1 || nil_unknown < 0 || allow_cas < 0 || compact < 0) && PyErr_Occurred())
        return NULL;
    if (op_type != op_type_seen) resolve_op_type(op_type);
    if (!op_direct) Py_RETURN_NONE;
    PyObject *result = NULL, *indices = NULL, *invokes = NULL, *comps = NULL;
    Py_ssize_t len = PyList_GET_SIZE(history), ncalls = 0;
    Pairing *calls = PyMem_Malloc(((size_t)len + 1) * sizeof(Pairing));
    char *ctype = PyMem_Malloc((size_t)len + 1);
    Py_ssize_t *crashed_ix = NULL;
    CallsIn in;
    memset(&in, 0, sizeof in);
    FailCache *fc = NULL;
    Search *s = NULL;
    ProcTable pt;
    if (proc_init(&pt) < 0) { PyMem_Free(calls); PyMem_Free(ctype); return NULL; }
    if (!calls || !ctype) { PyErr_NoMemory(); goto done; }
    Py_ssize_t open_left = 0;
    int paired = pair_ops(history, op_type, &pt, calls, ctype, &ncalls, &open_left);
    proc_release(&pt, calls, open_left ? ncalls : 0);
    if (paired < 0) goto done;
    if (paired == 0) FALLBACK();
    /* Jepsen's semantics (prepare.py): fail pairs dropped, info and unfinished calls crashed. */
    Py_ssize_t n = 0, failed = 0, ncrashed = 0;
    for (Py_ssize_t k = 0; k < ncalls; k++) {
        if (calls[k].comp && ctype[k] == T_FAIL) {
            failed++;
            continue;
        }
        if (!calls[k].comp) ctype[k] = T_OTHER;  /* unfinished: crashed, as info */
        calls[n] = calls[k];
        ctype[n++] = ctype[k];
    }
    if (calls_in_alloc(&in, n) < 0) goto done;
    crashed_ix = PyMem_Malloc(((size_t)n + 1) * sizeof(Py_ssize_t));
    if (!crashed_ix) { PyErr_NoMemory(); goto done; }
    if (!(indices = PyList_New(n))) goto done;
    int keyed = n > 0;
    PyObject *const rfs[] = {s_read, s_write, s_cas}, *const mfs[] = {s_acquire, s_release};
    PyObject *seen_f[] = {s_read, s_write, s_cas};
    if (kind == KIND_MUTEX) seen_f[0] = s_acquire, seen_f[1] = s_release;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *inv = calls[i].inv;
        PyObject *comp = ctype[i] == T_OK ? calls[i].comp : NULL;  /* NULL: crashed */
        PyObject *ix = FIELD(inv, off_index), *f = FIELD(inv, off_f), *value = FIELD(inv, off_value);
        PyObject *out = comp ? FIELD(comp, off_value) : NULL;
        if (!ix || !f || !value || (comp && !out)) FALLBACK();
        Py_INCREF(ix);
        PyList_SET_ITEM(indices, i, ix);
        in.cpos[i] = calls[i].ipos;
        in.rpos[i] = comp ? calls[i].cpos : -1;
        PyObject *a = NULL, *b = NULL;
        int code = OP_NEVER;
        if (kind == KIND_MULTI) {  /* models.multi_register's step, as an OP_TXN */
            if (txn_of(f, value, out, comp == NULL, &a) <= 0) FALLBACK();  /* (the general path words errors) */
            code = OP_TXN;
        } else if (kind == KIND_MUTEX) {  /* models.mutex's native_op */
            int fc_ = str_code(f, mfs, seen_f, 2);
            if (fc_ == F_ACQUIRE) code = OP_CAS, a = Py_False, b = Py_True;
            else if (fc_ == F_RELEASE) code = OP_CAS, a = Py_True, b = Py_False;
            Py_XINCREF(a);
            Py_XINCREF(b);
        } else {  /* models._register_native_op, and whether it is keyed (_auto_register_partition) */
            int fc_ = str_code(f, rfs, seen_f, 3);
            int pr = is_pair(value);
            if (pr < 0) FALLBACK();
            if (keyed && pr && fc_ == F_CAS) {
                PyObject *inner = pair_item(value, 1);
                if (!inner) FALLBACK();
                keyed = is_pair(inner);
                Py_DECREF(inner);
                if (keyed < 0) FALLBACK();
            } else if (keyed) {
                keyed = pr;
            }
            if (fc_ == F_READ) {
                if (!out || (out == Py_None && nil_unknown)) code = OP_ANY;
                else code = OP_READ, a = out, Py_INCREF(a);
            } else if (fc_ == F_WRITE) {
                code = OP_WRITE, a = value, Py_INCREF(a);
            } else if (fc_ == F_CAS && allow_cas && pr) {
                code = OP_CAS;
                if (!(a = pair_item(value, 0)) || !(b = pair_item(value, 1))) {
                    Py_XDECREF(a);
                    FALLBACK();
                }
            }
        }
        in.code[i] = code;
        in.a[i] = a;
        in.b[i] = b;
        if (!comp) {  /* a crashed call: its input, (f, value), finds its twins */
            crashed_ix[ncrashed++] = i;
            if (!(in.inputs[i] = PyTuple_Pack(2, f, value))) goto done;
        }
    }
    if (kind == KIND_REGISTER && keyed) FALLBACK();  /* [key, value] pairs: partitioned by key */
    if (kind == KIND_MULTI && !sorted_regs(init)) FALLBACK();  /* an initial state apply_txn cannot read */
    Py_INCREF(init);  /* (canon_values may replace it) */
    /* The mutex's operands are the bools, singletons: canonical if its state is a bool. */
    int canon = kind == KIND_MUTEX ? PyBool_Check(init) : kind == KIND_MULTI ? 0 : canon_values(&in, &init);
    Py_DECREF(init);  /* the rep is held by the operands, or is the argument itself */
    if (canon < 0) goto done;
    fc = (FailCache *)PyType_GenericNew(&FailCacheType, NULL, NULL);
    /* Crashed calls' bits apart save memory on long histories only; on a few words
     * they cost time and save nothing (an answer never depends on it). */
    if (!fc || cache_setup(fc, n > 0 ? (n + 63) / 64 : 1, crashed_ix,
                           compact || n > COMPACT_CALLS ? ncrashed : 0, 64) < 0)
        goto done;
    s = (Search *)PyType_GenericNew(&SearchType, NULL, NULL);
    if (!s || search_setup(s, fc, Py_None, 0, &in, init) < 0) goto done;
    fc->canon = s->canon = canon;
    /* The first slice: a value the model cannot take (an error) hands the history back. */
    PyObject *iters_obj = PyLong_FromLong(iters);
    if (!iters_obj) goto done;
    PyObject *st = Search_run(s, iters_obj);
    Py_DECREF(iters_obj);
    if (!st) FALLBACK();
    Py_DECREF(st);
    if (s->status == VALID) {
        result = fused_result(s, fc, n, failed, ncrashed, indices, name, workers);
        goto done;
    }
    /* Still running, or invalid: the invokes and completions, as prepare.Prepared has them. */
    if (!(invokes = PyList_New(n)) || !(comps = PyList_New(n))) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *inv = calls[i].inv, *done_op = calls[i].comp ? calls[i].comp : Py_None;
        Py_INCREF(inv);
        PyList_SET_ITEM(invokes, i, inv);
        Py_INCREF(done_op);
        PyList_SET_ITEM(comps, i, done_op);
    }
    result = Py_BuildValue("(OOnnnOOOi)", s, fc, n, failed, ncrashed, indices, invokes, comps, s->status);
done:
    Py_XDECREF(indices);
    Py_XDECREF(invokes);
    Py_XDECREF(comps);
    Py_XDECREF(s);
    Py_XDECREF(fc);
    calls_in_free(&in);
    PyMem_Free(crashed_ix);
    PyMem_Free(calls);
    PyMem_Free(ctype);
    proc_release(&pt, NULL, 0);
    proc_free(&pt);
    return result;
}

/* The fused path's interned strings and result templates, made once (PyInit__linear). */
int fused_setup(void) {
    PyObject **interned[] = {&s_index, &s_type, &s_process, &s_f, &s_value,
                             &s_invoke, &s_ok, &s_fail, &s_read, &s_write, &s_cas, &s_acquire, &s_release,
                             &s_txn, &s_r, &s_w};
    const char *names[] = {"index", "type", "process", "f", "value",
                           "invoke", "ok", "fail", "read", "write", "cas", "acquire", "release",
                           "txn", "r", "w"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!(*interned[k] = PyUnicode_InternFromString(names[k]))) return -1;
    for (int k = 0; k < K_COUNT; k++)
        if (!(rkeys[k] = PyUnicode_InternFromString(rkey_names[k]))) return -1;
    if (!(result_tpl = template_of(result_fields, sizeof result_fields / sizeof result_fields[0]))
        || !(entry_tpl = template_of(entry_fields, sizeof entry_fields / sizeof entry_fields[0])))
        return -1;
    return 0;
}
