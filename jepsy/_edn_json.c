/*
 * jepsy._edn_json: Jepsen EDN histories to JSON, in one pass (optional).
 *
 * jepsy.history reads EDN histories by handing this module's output to
 * msgspec, which decodes the JSON straight into Ops: a Python reader of EDN
 * costs microseconds per token, this pass a few nanoseconds per byte.  It
 * takes only the common subset of Jepsen histories, and returns None on
 * anything else, so that the general reader (jepsy/edn.py), with its errors
 * naming file and line, reads the file instead:
 *
 *   taken     maps with keyword keys (or string keys inside values), vectors,
 *             lists, keywords (as strings, as jepsy's readers give them),
 *             nil, true, false, integers and decimals in JSON's own syntax,
 *             strings whose escapes mean the same in JSON
 *             (\" \\ \n \t \r \b \f \/); commas, whitespace, ; comments
 *   refused   sets, tags, #_, symbols, characters, ratios, 42N and
 *             1.5M, \u escapes, maps with other keys; and at the top level
 *             anything but op maps with only jepsy's fields, each at most once
 *
 * The top level is either maps one after another (Jepsen's history.edn) or one
 * vector of maps (Knossos); the output is one JSON array of objects either
 * way.  A top-level map without :index, :time or :process gets them as the
 * general reader would (its position, null, 0).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len, cap;
} Out;

static int put(Out *o, const char *s, size_t n) {
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n) cap *= 2;
        char *b = PyMem_Realloc(o->buf, cap);
        if (!b) return -1;
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

#define PUT(s, n) do { if (put(&o, (s), (n)) < 0) goto nomem; } while (0)
#define REFUSE() goto refuse

/* The fields of an op, in the order of the bit that marks each as seen. */
static const char *const FIELDS[] = {"index", "time", "type", "process", "f", "value", "error"};
enum { N_FIELDS = 7, F_INDEX = 1, F_TIME = 2, F_PROCESS = 8 };  /* bits of index, time, process */

/* Character classes by table (a quarter of the pass was these comparisons, byte by
 * byte): 1 whitespace (commas count), 2 other delimiters of an atom. */
static const unsigned char CLASS[256] = {
    [' '] = 1, ['\n'] = 1, ['\t'] = 1, ['\r'] = 1, [','] = 1,
    ['['] = 2, [']'] = 2, ['('] = 2, [')'] = 2, ['{'] = 2, ['}'] = 2, ['"'] = 2, [';'] = 2,
};

static inline int is_delim(unsigned char c) { return CLASS[c] != 0; }

/* JSON's number grammar, over the whole atom; at most 18 digits of integer. */
static int json_number(const unsigned char *s, size_t n) {
    size_t i = 0, digits = 0;
    int frac = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0') { i++; digits = 1; }
    else if (s[i] >= '1' && s[i] <= '9') { while (i < n && s[i] >= '0' && s[i] <= '9') { i++; digits++; } }
    else return 0;
    if (i < n && s[i] == '.') {
        i++;
        frac = 1;
        if (i >= n || s[i] < '0' || s[i] > '9') return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        frac = 1;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    return i == n && (frac || digits <= 18);
}

#define MAX_DEPTH 64
#define WS(c) (CLASS[(unsigned char)(c)] == 1)

/* Past whitespace, commas and ; comments. */
static size_t skip(const unsigned char *s, size_t n, size_t i) {
    for (;;) {
        while (i < n && WS(s[i])) i++;
        if (i >= n || s[i] != ';') return i;
        while (i < n && s[i] != '\n') i++;
    }
}

/* Depth 1 is the array of ops (Knossos's one vector, or the virtual array around
 * Jepsen's lines of maps), depth 2 inside an op map. */
static PyObject *edn_to_json(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *s = view.buf;
    size_t n = (size_t)view.len, i = 0;
    Out o = {NULL, 0, 0};
    char closer[MAX_DEPTH];   /* ']' or '}' per open container */
    long count[MAX_DEPTH];    /* elements so far in each */
    int depth = 0, vector;
    unsigned seen = 0;        /* fields of the current op */
    long ops = 0;
    char num[48];

    i = skip(s, n, 0);
    vector = i < n && (s[i] == '[' || s[i] == '(');
    if (!vector) { PUT("[", 1); closer[0] = ']'; count[0] = 0; depth = 1; }
    for (;;) {
        i = skip(s, n, i);
        if (i >= n) break;
        unsigned char c = s[i];
        if (c == ']' || c == ')' || c == '}') {
            if (depth == 0 || (depth == 1 && !vector)) REFUSE();
            char want = closer[depth - 1];
            if ((c == '}') != (want == '}')) REFUSE();
            if (want == '}' && count[depth - 1] % 2) REFUSE();
            if (depth == 2) {  /* an op ends: the general reader's defaults */
                const char *sep = count[1] ? "," : "";
                if (!(seen & F_INDEX)) {
                    int k = snprintf(num, sizeof num, "%s\"index\":%ld", sep, ops);
                    PUT(num, (size_t)k);
                    sep = ",";
                }
                if (!(seen & F_TIME)) {
                    PUT(sep, strlen(sep));
                    PUT("\"time\":null", 11);
                    sep = ",";
                }
                if (!(seen & F_PROCESS)) {
                    PUT(sep, strlen(sep));
                    PUT("\"process\":0", 11);
                }
                ops++;
            }
            PUT(want == '}' ? "}" : "]", 1);
            depth--;
            i++;
            if (depth == 0) {  /* the one top-level vector ended: only whitespace may follow */
                if (skip(s, n, i) < n) REFUSE();
                goto done;
            }
            continue;
        }
        if (depth == 0) {  /* the top-level vector opens */
            closer[0] = ']';
            count[0] = 0;
            depth = 1;
            PUT("[", 1);
            i++;
            continue;
        }
        /* An element of the container at `depth`. */
        long k = count[depth - 1];
        int in_map = closer[depth - 1] == '}';
        if (k) PUT(in_map && k % 2 ? ":" : ",", 1);
        count[depth - 1] = k + 1;
        if (depth == 1 && c != '{') REFUSE();  /* an op is a map */
        if (in_map && k % 2 == 0 && c == '"' && depth > 2) {
            /* a string key of a map inside a value: JSON's own kind of key */
        } else if (in_map && k % 2 == 0) {  /* a key: a keyword */
            if (c != ':') REFUSE();
            size_t j = i + 1;
            while (j < n && !is_delim(s[j])) {
                if (s[j] < 0x20 || s[j] == '\\') REFUSE();
                j++;
            }
            if (j == i + 1 || s[i + 1] == ':') REFUSE();
            if (depth == 2) {
                int f;
                for (f = 0; f < N_FIELDS; f++)
                    if (strlen(FIELDS[f]) == j - i - 1 && !memcmp(FIELDS[f], s + i + 1, j - i - 1))
                        break;
                if (f == N_FIELDS || (seen & (1u << f))) REFUSE();
                seen |= 1u << f;
            }
            PUT("\"", 1);
            PUT((const char *)s + i + 1, j - i - 1);
            PUT("\"", 1);
            i = j;
            continue;
        }
        if (c == '{' || c == '[' || c == '(') {
            if (depth >= MAX_DEPTH) REFUSE();
            if (depth == 1) seen = 0;
            closer[depth] = c == '{' ? '}' : ']';
            count[depth] = 0;
            depth++;
            PUT(c == '{' ? "{" : "[", 1);
            i++;
            continue;
        }
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"') {
                if (s[j] == '\\') {
                    if (j + 1 >= n || s[j + 1] == 0 || !strchr("\"\\ntrbf/", s[j + 1])) REFUSE();
                    j += 2;
                } else {
                    j++;
                }
            }
            if (j >= n) REFUSE();
            PUT((const char *)s + i, j + 1 - i);
            i = j + 1;
            continue;
        }
        size_t j = i;
        while (j < n && !is_delim(s[j])) j++;
        if (j == i) REFUSE();  /* ';' */
        const unsigned char *a = s + i;
        size_t len = j - i;
        if (a[0] == ':') {
            if (len == 1 || a[1] == ':') REFUSE();
            for (size_t q = 1; q < len; q++)
                if (a[q] < 0x20 || a[q] == '\\') REFUSE();
            PUT("\"", 1);
            PUT((const char *)a + 1, len - 1);
            PUT("\"", 1);
        } else if (len == 3 && !memcmp(a, "nil", 3)) {
            PUT("null", 4);
        } else if ((len == 4 && !memcmp(a, "true", 4)) || (len == 5 && !memcmp(a, "false", 5)) ||
                   json_number(a, len)) {
            PUT((const char *)a, len);
        } else {
            REFUSE();  /* a symbol, a tag, a character, 42N, 1.5M, 1/2 ... */
        }
        i = j;
    }
    if (vector || depth != 1) REFUSE();  /* unclosed */
    PUT("]", 1);
done:
    PyBuffer_Release(&view);
    {
        PyObject *r = PyBytes_FromStringAndSize(o.buf ? o.buf : "", (Py_ssize_t)o.len);
        PyMem_Free(o.buf);
        return r;
    }
refuse:
    PyBuffer_Release(&view);
    PyMem_Free(o.buf);
    Py_RETURN_NONE;
nomem:
    PyBuffer_Release(&view);
    PyMem_Free(o.buf);
    return PyErr_NoMemory();
}

/*
 * locate(ops, source, index, f, where): the fast readers' last step over a list of
 * freshly decoded ops (see jepsy.history._located), in C because in Python it was a
 * quarter of reading.  ``index``, ``f`` and ``where`` are the Op class's slot
 * descriptors (frozen ops are written through them).  False, with nothing changed,
 * unless each op's index is its position; else each op's ``where`` becomes
 * ``source`` and its ``f`` the first equal string met, and True.
 */
static PyObject *locate(PyObject *self, PyObject *args) {
    PyObject *ops, *source, *index, *f, *where;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!OOOO:locate", &PyList_Type, &ops, &source, &index, &f, &where))
        return NULL;
    descrgetfunc get_index = Py_TYPE(index)->tp_descr_get, get_f = Py_TYPE(f)->tp_descr_get;
    descrsetfunc set_f = Py_TYPE(f)->tp_descr_set, set_where = Py_TYPE(where)->tp_descr_set;
    if (!get_index || !get_f || !set_f || !set_where) {
        PyErr_SetString(PyExc_TypeError, "locate: index, f and where must be slot descriptors");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(ops);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = get_index(index, PyList_GET_ITEM(ops, i), NULL);
        if (!v) return NULL;
        int same = PyLong_CheckExact(v) && PyLong_AsSsize_t(v) == i;
        Py_DECREF(v);
        if (!same) {
            PyErr_Clear();  /* an index too large for Py_ssize_t is not a position either */
            Py_RETURN_FALSE;
        }
    }
    PyObject *seen = PyDict_New();
    if (!seen) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *op = PyList_GET_ITEM(ops, i);
        PyObject *name = get_f(f, op, NULL);
        if (!name) goto error;
        PyObject *shared = PyDict_SetDefault(seen, name, name);  /* borrowed */
        int fail = !shared || (shared != name && set_f(f, op, shared) < 0);
        Py_DECREF(name);
        if (fail || set_where(where, op, source) < 0) goto error;
    }
    Py_DECREF(seen);
    Py_RETURN_TRUE;
error:
    Py_DECREF(seen);
    return NULL;
}

static PyMethodDef methods[] = {
    {"locate", locate, METH_VARARGS,
     "locate(ops, source, index, f, where) -> bool: give freshly read ops their shared "
     "source and shared f strings, if each op's index is its position (see the source)."},
    {"edn_to_json", edn_to_json, METH_O,
     "edn_to_json(data) -> JSON bytes of one array of op objects, or None when the EDN is "
     "outside the subset taken (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "jepsy._edn_json",
    "Jepsen EDN histories to JSON for msgspec, in C (optional; see jepsy.history).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__edn_json(void) { return PyModule_Create(&module); }
