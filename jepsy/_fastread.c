/*
 * jepsy._fastread: the fast history readers' C parts (optional; see jepsy.history).
 *
 * read_edn(data, op_type, source, no_extra) reads a Jepsen EDN history straight
 * into Op records, in one pass and one call per file: no intermediate text, no
 * Python frame per op.  It replaces a C translation of EDN to JSON that msgspec
 * then decoded: the translation and the decoding each cost about as much as
 * this whole pass (benchmarks/bench_read.py), and the JSON text was a copy of
 * the history as large as the file.
 *
 * It takes only the common subset of Jepsen histories, and returns None on
 * anything else, so that the general reader (jepsy/edn.py), whose errors name
 * file and line, reads the file instead.  What it gives is what the general
 * reader gives (tests/unit/test_history_fast.py compares the two on every
 * history under tests/data):
 *
 *   taken     maps, vectors, lists, keywords (as str), nil, true, false,
 *             integers and decimals in JSON's own syntax, strings with the
 *             escapes \" \\ \n \t \r \b \f \/; keys of maps inside values
 *             that are strings or atoms (keywords as str, numbers, nil ...);
 *             commas, whitespace, ; comments.  At the top level either maps
 *             one after another (Jepsen's history.edn) or one vector or list
 *             of maps (Knossos), each map an op with keyword keys: jepsy's
 *             fields at most once each, any other keys going to the op's
 *             ``extra``
 *             Sets of strings and atoms, as their sorted elements.
 *   refused   other sets, tags, #_, symbols, characters, ratios, 42N, 1.5M, \u
 *             escapes, collections as keys, bytes outside ASCII in atoms, a
 *             float time, a bad type, process or f
 *
 * Defaults are the general reader's: index the position, time nil, process 0,
 * value and error nil, f "txn" when the value is a vector and f is absent.
 * An op's ``where`` is the file's one Source when its index is its position
 * (the Source renders the location from the index), else the general reader's
 * "file: form N" string.
 *
 * locate(ops, source, lines) is the JSON readers' last step: see
 * its comment below.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* Byte classes: 1 whitespace (commas count), 2 other delimiters of an atom, 3 bytes
 * an atom taken may not hold (control characters, '\\' and '#', which make
 * characters and tags, and bytes outside ASCII, which the general reader may take
 * for whitespace); 0 the rest. */
#define R3(a) [a] = 3, [a + 1] = 3, [a + 2] = 3, [a + 3] = 3, [a + 4] = 3, [a + 5] = 3, [a + 6] = 3, [a + 7] = 3
#define R3x16(a) R3(a), R3(a + 8)
static const unsigned char CLASS[256] = {
    R3(0), [8] = 3, ['\t'] = 1, ['\n'] = 1, [11] = 3, [12] = 3, ['\r'] = 1, [14] = 3, [15] = 3,
    R3x16(16), ['\\'] = 3, ['#'] = 3,
    R3x16(128), R3x16(144), R3x16(160), R3x16(176), R3x16(192), R3x16(208), R3x16(224), R3x16(240),
    [' '] = 1, [','] = 1,
    ['['] = 2, [']'] = 2, ['('] = 2, [')'] = 2, ['{'] = 2, ['}'] = 2, ['"'] = 2, [';'] = 2,
};

#define MAX_DEPTH 64
#define CACHE_SIZE 128   /* slots of the text cache; a power of two */
#define CACHE_MAX_LEN 48 /* longer texts are not shared */

/* The fields of an op, in Op's positional order. */
enum { F_INDEX, F_TIME, F_TYPE, F_PROCESS, F_F, F_VALUE, F_ERROR, N_FIELDS };

/* Interned once: the op types (one shared string per type, as msgspec's Literal
 * gives) and "txn". */
static PyObject *TYPES[4];
static PyObject *TXN;

/* One cached text: the str of a keyword or short string, ASCII (its bytes are then
 * the str's own), with the hash of those bytes.  On the stack of read_edn: 3 KB,
 * where a heap allocation of the cache was a tenth of reading a small file. */
typedef struct {
    uint64_t hash;
    size_t len;
    PyObject *str; /* owned */
} Slot;

typedef struct {
    const unsigned char *s;
    size_t n, i;
    int depth;
    Slot *cache; /* CACHE_SIZE slots: Jepsen histories repeat a few keywords a million times */
    PyObject *path, *unit; /* the source's, for the ops it cannot place (borrowed) */
} Parser;

/* Past whitespace, commas and ; comments. */
static inline void skip(Parser *p) {
    const unsigned char *s = p->s;
    size_t i = p->i, n = p->n;
    for (;;) {
        while (i < n && CLASS[s[i]] == 1) i++;
        if (i >= n || s[i] != ';') break;
        while (i < n && s[i] != '\n') i++;
    }
    p->i = i;
}

/* A str for the UTF-8 bytes [a, a+len), shared with every equal text met before in
 * this file when short (a new reference; NULL with an exception when not UTF-8).
 * Keywords' are interned: one string per keyword in the process, and an op's type
 * is then known by its pointer. */
static PyObject *text(Parser *p, const char *a, size_t len, int keyword) {
    if (len > CACHE_MAX_LEN) return PyUnicode_DecodeUTF8(a, (Py_ssize_t)len, NULL);
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t k = 0; k < len; k++) h = (h ^ (unsigned char)a[k]) * 1099511628211ULL;
    Slot *slot = &p->cache[h & (CACHE_SIZE - 1)];
    if (slot->str && slot->hash == h && slot->len == len && !memcmp(PyUnicode_DATA(slot->str), a, len)) {
        Py_INCREF(slot->str);
        return slot->str;
    }
    PyObject *str = PyUnicode_DecodeUTF8(a, (Py_ssize_t)len, NULL);
    if (!str) return NULL;
    if (keyword) PyUnicode_InternInPlace(&str);
    if (PyUnicode_IS_ASCII(str)) {
        Py_XSETREF(slot->str, Py_NewRef(str));
        slot->hash = h;
        slot->len = len;
    }
    return str;
}

/* The refusals: NULL without an exception set. */
#define REFUSE NULL

static PyObject *value(Parser *p);
static PyObject *set(Parser *p);

/* A string from p->i (at its opening quote); escapes as JSON's, \u refused. */
static PyObject *string(Parser *p) {
    const unsigned char *s = p->s;
    size_t start = p->i + 1, j = start, n = p->n;
    int escaped = 0;
    while (j < n && s[j] != '"') {
        if (s[j] == '\\') {
            if (j + 1 >= n || !s[j + 1] || !strchr("\"\\ntrbf/", s[j + 1])) return REFUSE;
            escaped = 1;
            j += 2;
        } else {
            j++;
        }
    }
    if (j >= n) return REFUSE;
    p->i = j + 1;
    if (!escaped) return text(p, (const char *)s + start, j - start, 0);
    char *buf = PyMem_Malloc(j - start);
    if (!buf) return PyErr_NoMemory();
    size_t len = 0;
    for (size_t k = start; k < j; k++) {
        char c = (char)s[k];
        if (c == '\\') {
            char e = (char)s[++k];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
        }
        buf[len++] = c;
    }
    PyObject *str = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, NULL);
    PyMem_Free(buf);
    return str;
}

/* A number in JSON's grammar over the whole atom [a, a+len); else refused. */
static PyObject *number(const unsigned char *a, size_t len) {
    size_t i = a[0] == '-', digits = 0;
    int frac = 0;
    {  /* the common case, an integer of at most 18 digits, in one pass */
        unsigned long long v = 0;
        size_t k = i;
        while (k < len && a[k] >= '0' && a[k] <= '9') v = v * 10 + (unsigned)(a[k++] - '0');
        if (k == len && k > i && k - i <= 18 && (a[i] != '0' || k - i == 1))
            return PyLong_FromLongLong(i ? -(long long)v : (long long)v);
    }
    if (i >= len) return REFUSE;
    if (a[i] == '0') { i++; digits = 1; }
    else if (a[i] >= '1' && a[i] <= '9') { while (i < len && a[i] >= '0' && a[i] <= '9') { i++; digits++; } }
    else return REFUSE;
    if (i < len && a[i] == '.') {
        i++;
        frac = 1;
        if (i >= len || a[i] < '0' || a[i] > '9') return REFUSE;
        while (i < len && a[i] >= '0' && a[i] <= '9') i++;
    }
    if (i < len && (a[i] == 'e' || a[i] == 'E')) {
        i++;
        frac = 1;
        if (i < len && (a[i] == '+' || a[i] == '-')) i++;
        if (i >= len || a[i] < '0' || a[i] > '9') return REFUSE;
        while (i < len && a[i] >= '0' && a[i] <= '9') i++;
    }
    if (i != len) return REFUSE;
    char buf[64];
    if (len >= sizeof buf) return REFUSE;
    memcpy(buf, a, len);
    buf[len] = 0;
    if (!frac) return PyLong_FromString(buf, NULL, 10);
    double d = PyOS_string_to_double(buf, NULL, NULL);
    if (d == -1.0 && PyErr_Occurred()) return NULL;
    return PyFloat_FromDouble(d);
}

/* An atom from p->i: a keyword, nil, true, false or a number; else refused. */
static PyObject *atom(Parser *p) {
    const unsigned char *s = p->s;
    size_t i = p->i, j = i, n = p->n;
    while (j < n && !CLASS[s[j]]) j++;
    if (j < n && CLASS[s[j]] == 3) return REFUSE;
    const unsigned char *a = s + i;
    size_t len = j - i;
    if (len == 0) return REFUSE;
    p->i = j;
    if (a[0] == ':') {
        if (len == 1 || a[1] == ':') return REFUSE;
        return text(p, (const char *)a + 1, len - 1, 1);
    }
    if (len == 3 && !memcmp(a, "nil", 3)) Py_RETURN_NONE;
    if (len == 4 && !memcmp(a, "true", 4)) Py_RETURN_TRUE;
    if (len == 5 && !memcmp(a, "false", 5)) Py_RETURN_FALSE;
    return number(a, len);
}

/* Elements up to the closer, into a new dict (a map) or list (anything else). */
static PyObject *collection(Parser *p, unsigned char closer, int map) {
    if (++p->depth > MAX_DEPTH) return REFUSE;
    PyObject *out = map ? PyDict_New() : PyList_New(0);
    if (!out) return NULL;
    p->i++;
    for (;;) {
        skip(p);
        if (p->i >= p->n) goto fail;
        unsigned char c = p->s[p->i];
        if (c == closer) {
            p->i++;
            p->depth--;
            return out;
        }
        if (map) {
            PyObject *k;
            if (c == '"') k = string(p);
            else if (CLASS[c]) goto fail;  /* collections: tuples or JSON text in the general reader */
            else k = atom(p);              /* a keyword, a number, nil, true, false */
            if (!k) goto fail;
            skip(p);
            PyObject *v = p->i < p->n && p->s[p->i] != '}' ? value(p) : REFUSE;
            int bad = !v || PyDict_SetItem(out, k, v) < 0;
            Py_DECREF(k);
            Py_XDECREF(v);
            if (bad) goto fail;
        } else {
            PyObject *v = value(p);
            if (!v) goto fail;
            int bad = PyList_Append(out, v) < 0;
            Py_DECREF(v);
            if (bad) goto fail;
        }
    }
fail:
    Py_DECREF(out);
    return NULL;
}

/* A set of strings and atoms from p->i (at its '#'), as the general reader gives it:
 * its distinct elements, sorted.  Sets of collections, which that reader makes
 * hashable first, and elements that do not sort (it keeps those in the set's
 * order) are refused. */
static PyObject *set(Parser *p) {
    p->i++;
    PyObject *items = collection(p, '}', 0);
    if (!items) return NULL;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(items); k++) {
        PyObject *x = PyList_GET_ITEM(items, k);
        if (PyList_CheckExact(x) || PyDict_CheckExact(x)) {
            Py_DECREF(items);
            return REFUSE;
        }
    }
    PyObject *distinct = PyFrozenSet_New(items);
    Py_DECREF(items);
    if (!distinct) return NULL;
    PyObject *out = PySequence_List(distinct);
    Py_DECREF(distinct);
    if (out && PyList_Sort(out) < 0) Py_CLEAR(out);  /* a TypeError: refused (cleared later) */
    return out;
}

/* Any value from p->i (not at whitespace or end). */
static PyObject *value(Parser *p) {
    unsigned char c = p->s[p->i];
    switch (c) {
    case '[': return collection(p, ']', 0);
    case '(': return collection(p, ')', 0);
    case '{': return collection(p, '}', 1);
    case '#': return p->i + 1 < p->n && p->s[p->i + 1] == '{' ? set(p) : REFUSE;  /* tags, #_ */
    case '"': return string(p);
    case ']': case ')': case '}': case ';': return REFUSE;
    default: return atom(p);
    }
}

/* The keyword key of an op map at p->i: its field number, N_FIELDS for another key
 * (then *other is set to its str), -1 refused. */
static int field(Parser *p, PyObject **other) {
    const unsigned char *s = p->s;
    size_t i = p->i;
    if (s[i] != ':') return -1;
    size_t j = i + 1;
    while (j < p->n && !CLASS[s[j]]) j++;
    if (j < p->n && CLASS[s[j]] == 3) return -1;  /* as atom() */
    const char *k = (const char *)s + i + 1;
    int f = -1;
    switch (j - i - 1) {  /* by length first: a memcmp per field was a tenth of the pass */
    case 1: f = k[0] == 'f' ? F_F : -1; break;
    case 4: f = !memcmp(k, "time", 4) ? F_TIME : !memcmp(k, "type", 4) ? F_TYPE : -1; break;
    case 5: f = !memcmp(k, "value", 5) ? F_VALUE : !memcmp(k, "index", 5) ? F_INDEX
              : !memcmp(k, "error", 5) ? F_ERROR : -1; break;
    case 7: f = !memcmp(k, "process", 7) ? F_PROCESS : -1; break;
    }
    if (f >= 0) {
        p->i = j;
        return f;
    }
    *other = atom(p);
    return *other ? N_FIELDS : -1;
}

/* One op map from p->i (at its '{'), the `position`th; a new reference or NULL. */
static PyObject *op(Parser *p, Py_ssize_t position, PyObject *op_type, PyObject *source,
                    PyObject *no_extra) {
    PyObject *v[N_FIELDS] = {NULL};
    PyObject *extra = NULL, *result = NULL, *where = NULL;
    int value_is_set = 0;  /* a set is read as a list, but gives no default f */
    p->i++;
    for (;;) {
        skip(p);
        if (p->i >= p->n) goto done;
        if (p->s[p->i] == '}') {
            p->i++;
            break;
        }
        PyObject *key = NULL;
        int f = field(p, &key);
        if (f < 0) goto done;
        skip(p);
        if (f == F_VALUE) value_is_set = p->i < p->n && p->s[p->i] == '#';
        PyObject *x = p->i < p->n && p->s[p->i] != '}' ? value(p) : REFUSE;
        if (!x) {
            Py_XDECREF(key);
            goto done;
        }
        if (f == N_FIELDS) {
            int bad = (!extra && !(extra = PyDict_New())) || PyDict_SetItem(extra, key, x) < 0;
            Py_DECREF(key);
            Py_DECREF(x);
            if (bad) goto done;
        } else if (v[f]) {  /* a field twice */
            Py_DECREF(x);
            goto done;
        } else {
            v[f] = x;
        }
    }
    /* The checks msgspec's typed decoding made, and the general reader's defaults. */
    if (v[F_INDEX]) {
        if (!PyLong_CheckExact(v[F_INDEX])) goto done;
        Py_ssize_t index = PyLong_AsSsize_t(v[F_INDEX]);
        if (index == -1 && PyErr_Occurred()) goto done;
        if (index != position) {  /* the source cannot place it: a string of its own */
            where = PyUnicode_FromFormat("%U: %U %zd", p->path, p->unit, position + 1);
            if (!where) goto done;
        }
    } else if (!(v[F_INDEX] = PyLong_FromSsize_t(position))) {
        goto done;
    }
    if (!v[F_TIME]) v[F_TIME] = Py_NewRef(Py_None);
    else if (v[F_TIME] != Py_None && !PyLong_CheckExact(v[F_TIME])) goto done;
    if (!v[F_TYPE] || !PyUnicode_CheckExact(v[F_TYPE])) goto done;
    {
        int t = 0;
        while (t < 4 && v[F_TYPE] != TYPES[t]) t++;
        if (t == 4)  /* not a keyword: a string */
            for (t = 0; t < 4 && PyUnicode_Compare(v[F_TYPE], TYPES[t]); t++) {}
        if (t == 4) goto done;
        Py_SETREF(v[F_TYPE], Py_NewRef(TYPES[t]));
    }
    if (!v[F_PROCESS]) {
        if (!(v[F_PROCESS] = PyLong_FromLong(0))) goto done;
    } else if (!PyLong_CheckExact(v[F_PROCESS]) && !PyUnicode_CheckExact(v[F_PROCESS])) goto done;
    if (!v[F_VALUE]) v[F_VALUE] = Py_NewRef(Py_None);
    if (!v[F_ERROR]) v[F_ERROR] = Py_NewRef(Py_None);
    if (!v[F_F]) {
        if (!PyList_CheckExact(v[F_VALUE]) || value_is_set) goto done;
        v[F_F] = Py_NewRef(TXN);
    } else if (!PyUnicode_CheckExact(v[F_F])) {
        goto done;
    }
    {
        PyObject *args[9] = {v[0], v[1], v[2], v[3], v[4], v[5], v[6],
                             extra ? extra : no_extra, where ? where : source};
        result = PyObject_Vectorcall(op_type, args, 9, NULL);
    }
done:
    for (int f = 0; f < N_FIELDS; f++) Py_XDECREF(v[f]);
    Py_XDECREF(extra);
    Py_XDECREF(where);
    if (!result && PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_MemoryError))
        PyErr_Clear();  /* an index past Py_ssize_t, bytes not UTF-8 ...: refused */
    return result;
}

static PyObject *read_edn(PyObject *self, PyObject *args) {
    PyObject *data, *op_type, *source, *no_extra;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOO:read_edn", &data, &op_type, &source, &no_extra)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    Slot cache[CACHE_SIZE];
    memset(cache, 0, sizeof cache);
    PyObject *ops = PyList_New(0);
    PyObject *path = PyObject_GetAttrString(source, "path"), *unit = PyObject_GetAttrString(source, "unit");
    Parser p = {view.buf, (size_t)view.len, 0, 0, cache, path, unit};
    int ok = 0;
    if (!ops || !path || !unit) goto out;
    skip(&p);
    int vector = p.i < p.n && (p.s[p.i] == '[' || p.s[p.i] == '(');
    unsigned char closer = p.i < p.n && p.s[p.i] == '(' ? ')' : ']';
    if (vector) p.i++;
    for (;;) {
        skip(&p);
        if (p.i >= p.n) {
            ok = !vector;
            break;
        }
        if (vector && p.s[p.i] == closer) {
            p.i++;
            skip(&p);
            ok = p.i >= p.n;  /* only whitespace after the one vector */
            break;
        }
        if (p.s[p.i] != '{') break;
        PyObject *o = op(&p, PyList_GET_SIZE(ops), op_type, source, no_extra);
        if (!o || PyList_Append(ops, o) < 0) {
            Py_XDECREF(o);
            break;
        }
        Py_DECREF(o);
    }
out:
    PyBuffer_Release(&view);
    Py_XDECREF(path);
    Py_XDECREF(unit);
    for (int k = 0; k < CACHE_SIZE; k++) Py_XDECREF(cache[k].str);
    if (ok) return ops;
    Py_XDECREF(ops);
    if (PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_MemoryError)) return NULL;
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

/*
 * locate(ops, source, lines): the JSON readers' last step over a list of ops msgspec
 * has just decoded (see jepsy.history._located), in one C pass: in Python, and then
 * with a separate count of the file's lines, it was a fifth of reading JSONL.  False,
 * with nothing changed, unless every op has its position as index (the shared Source
 * renders a location from it) and, when ``lines`` (the file's bytes) is given, the
 * file has as many lines as ops (msgspec skips blank lines, which would make the
 * locations wrong).  Else each op's ``where`` becomes ``source`` and its ``f`` the
 * first equal string met, and True.  The fields are read and written at their slots
 * (frozen records, written once, before anyone else sees them), found once from the
 * Op class's member descriptors.
 */
static PyTypeObject *located_type;
static Py_ssize_t off_index, off_f, off_where;

static Py_ssize_t member_offset(PyTypeObject *t, const char *name) {
    PyObject *d = PyDict_GetItemString(t->tp_dict, name);  /* borrowed */
    if (!d || !Py_IS_TYPE(d, &PyMemberDescr_Type)) return -1;
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    return (m->type == T_OBJECT_EX || m->type == T_OBJECT) ? m->offset : -1;
}

#define SLOT(op, off) (*(PyObject **)((char *)(op) + (off)))

/* Lines of `data`: newlines, plus one for a last line without one. */
static Py_ssize_t count_lines(const char *data, Py_ssize_t n) {
    Py_ssize_t count = 0;
    const char *p = data, *end = data + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        count++;
        p++;
    }
    return count + (n > 0 && data[n - 1] != '\n');
}

static PyObject *locate(PyObject *self, PyObject *args) {
    PyObject *ops, *source, *lines;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!OO:locate", &PyList_Type, &ops, &source, &lines))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(ops);
    if (n == 0) Py_RETURN_TRUE;
    PyTypeObject *t = Py_TYPE(PyList_GET_ITEM(ops, 0));
    if (t != located_type) {
        off_index = member_offset(t, "index");
        off_f = member_offset(t, "f");
        off_where = member_offset(t, "where");
        if (off_index < 0 || off_f < 0 || off_where < 0) {
            PyErr_SetString(PyExc_TypeError, "locate: ops must have index, f and where slots");
            return NULL;
        }
        located_type = t;
    }
    if (lines != Py_None) {
        if (!PyBytes_Check(lines)) {
            PyErr_SetString(PyExc_TypeError, "locate: lines must be bytes or None");
            return NULL;
        }
        if (count_lines(PyBytes_AS_STRING(lines), PyBytes_GET_SIZE(lines)) != n) Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *op = PyList_GET_ITEM(ops, i);
        if (Py_TYPE(op) != t) Py_RETURN_FALSE;
        PyObject *v = SLOT(op, off_index);
        if (!v || !PyLong_CheckExact(v)) Py_RETURN_FALSE;
        Py_ssize_t k = PyLong_AsSsize_t(v);
        if (k != i) {
            PyErr_Clear();  /* an index too large for Py_ssize_t is not a position either */
            Py_RETURN_FALSE;
        }
    }
    PyObject *seen = PyDict_New();
    if (!seen) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *op = PyList_GET_ITEM(ops, i);
        PyObject *name = SLOT(op, off_f);
        if (name) {
            PyObject *shared = PyDict_SetDefault(seen, name, name);  /* borrowed */
            if (!shared) {
                Py_DECREF(seen);
                return NULL;
            }
            if (shared != name) {
                Py_INCREF(shared);
                SLOT(op, off_f) = shared;
                Py_DECREF(name);
            }
        }
        PyObject *old = SLOT(op, off_where);
        Py_INCREF(source);
        SLOT(op, off_where) = source;
        Py_XDECREF(old);
    }
    Py_DECREF(seen);
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"read_edn", read_edn, METH_VARARGS,
     "read_edn(data, op_type, source, no_extra) -> the ops of a Jepsen EDN history, or None "
     "when it is outside the subset taken (see the module's source)."},
    {"locate", locate, METH_VARARGS,
     "locate(ops, source, lines) -> bool: give freshly decoded ops their shared source and "
     "shared f strings, if each op's index is its position and (lines: the file's bytes, "
     "or None) the file has a line per op."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "jepsy._fastread",
    "The fast history readers' C parts (optional; see jepsy.history).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastread(void) {
    static const char *const names[4] = {"invoke", "ok", "fail", "info"};
    for (int t = 0; t < 4; t++)
        if (!TYPES[t] && !(TYPES[t] = PyUnicode_InternFromString(names[t]))) return NULL;
    if (!TXN && !(TXN = PyUnicode_InternFromString("txn"))) return NULL;
    return PyModule_Create(&module);
}
