/*
 * jepsy.checkers.elle._fastpath: two loops of the list-append fast path, in C (optional).
 *
 * fastpath.py asks its questions of the columns in NumPy.  Two of them are
 * loops over variable-length runs that NumPy can only do by materialising
 * index arrays as long as every read put together (tens of millions of
 * elements at a million transactions), or by falling back to Python objects:
 *
 *   prefixes_agree   is every committed read element-for-element the prefix
 *                    of its key's longest read?  (memcmp per read)
 *   external_reads   list_append.external_reads for every committed
 *                    transaction: the version of each key it read from others
 *                    (as a length: it is a prefix of the key's order), or
 *                    None as soon as any transaction has an internal or
 *                    future-read anomaly
 *
 * fastpath.py keeps its NumPy versions of both for when this module is not
 * built; the unit tests run both and require the same answers.  Arguments are
 * C-contiguous int8 / int64 buffers (NumPy arrays), as named in each docstring;
 * an index out of range is a ValueError, never a read outside a buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { APPEND = 0, READ = 1 };
enum { OK = 0 };

typedef struct {
    Py_buffer view;
    Py_ssize_t n;  /* items */
} Arr;

static int arr(PyObject *o, Arr *a, Py_ssize_t itemsize, const char *name) {
    if (PyObject_GetBuffer(o, &a->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (a->view.itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes expected", name, itemsize);
        PyBuffer_Release(&a->view);
        return -1;
    }
    a->n = a->view.len / itemsize;
    return 0;
}

#define I64(a) ((const int64_t *)(a).view.buf)
#define I8(a) ((const int8_t *)(a).view.buf)

static PyObject *out_of_range(void) {
    PyErr_SetString(PyExc_ValueError, "an index outside the columns");
    return NULL;
}

static PyObject *prefixes_agree(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *o[4];
    if (!PyArg_ParseTuple(args, "OOOO", &o[0], &o[1], &o[2], &o[3])) return NULL;
    Arr elems, a, b, len;
    PyObject *result = NULL;
    if (arr(o[0], &elems, 8, "elems") < 0) return NULL;
    if (arr(o[1], &a, 8, "starts") < 0) goto e1;
    if (arr(o[2], &b, 8, "prefix_starts") < 0) goto e2;
    if (arr(o[3], &len, 8, "lengths") < 0) goto e3;
    if (a.n != b.n || a.n != len.n) {
        PyErr_SetString(PyExc_ValueError, "starts, prefix_starts and lengths differ in length");
        goto e4;
    }
    result = Py_True;
    for (Py_ssize_t i = 0; i < a.n; i++) {
        int64_t s = I64(a)[i], p = I64(b)[i], n = I64(len)[i];
        if (n < 0 || s < 0 || p < 0 || s > elems.n - n || p > elems.n - n) {
            result = out_of_range();
            goto e4;
        }
        if (memcmp(I64(elems) + s, I64(elems) + p, (size_t)n * 8) != 0) {
            result = Py_False;
            break;
        }
    }
    Py_INCREF(result);
e4:
    PyBuffer_Release(&len.view);
e3:
    PyBuffer_Release(&b.view);
e2:
    PyBuffer_Release(&a.view);
e1:
    PyBuffer_Release(&elems.view);
    return result;
}

typedef struct {
    int64_t *p;
    size_t n, cap;
} Out;

static int push(Out *o, int64_t x) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        int64_t *p = realloc(o->p, cap * 8);
        if (!p) return -1;
        o->p = p;
        o->cap = cap;
    }
    o->p[o->n++] = x;
    return 0;
}

/* Transaction rows [s, s + m): 1 if it has an internal or future-read anomaly, else 0 with
 * its external reads pushed; -1 on an index out of range. */
static int one_txn(int64_t t, int64_t s, int64_t m, const int8_t *f, const int64_t *key,
                   const int64_t *value, const int64_t *length, const int64_t *el, int64_t n_elems,
                   Out *ot, Out *ok, Out *ol, int *nomem) {
    for (int64_t i = 0; i < m; i++) {
        int64_t r = s + i;
        if (f[r] != READ) continue;
        int64_t k = key[r], rl = length[r] > 0 ? length[r] : 0, rs = value[r];
        if (rs < 0 || rs > n_elems - rl) return -1;
        const int64_t *read = el + rs;
        int64_t j = i - 1;  /* this key's read before, if any: what the transaction knows of it */
        while (j >= 0 && !(f[s + j] == READ && key[s + j] == k)) j--;
        if (j >= 0) {  /* it must read that again, plus its own appends since */
            int64_t pr = s + j, pl = length[pr] > 0 ? length[pr] : 0, ps = value[pr], at = pl;
            if (ps < 0 || ps > n_elems - pl) return -1;
            if (rl < pl || memcmp(read, el + ps, (size_t)pl * 8) != 0) return 1;
            for (int64_t a = j + 1; a < i; a++) {
                if (f[s + a] != APPEND || key[s + a] != k) continue;
                if (at >= rl || read[at++] != value[s + a]) return 1;
            }
            if (at != rl) return 1;
            continue;
        }
        int64_t mine = 0;  /* its own appends before: they must end the read */
        for (int64_t a = 0; a < i; a++) mine += f[s + a] == APPEND && key[s + a] == k;
        if (rl < mine) return 1;
        int64_t ext = rl - mine, at = ext;
        for (int64_t a = 0; a < i; a++)
            if (f[s + a] == APPEND && key[s + a] == k && read[at++] != value[s + a]) return 1;
        for (int64_t a = i + 1; a < m; a++) {  /* a future read: it shows an append made later */
            if (f[s + a] != APPEND || key[s + a] != k) continue;
            for (int64_t e = 0; e < ext; e++)
                if (read[e] == value[s + a]) return 1;
        }
        if (push(ot, t) < 0 || push(ok, k) < 0 || push(ol, ext) < 0) {
            *nomem = 1;
            return 1;
        }
    }
    return 0;
}

static PyObject *as_bytes(Out *o) {
    return PyBytes_FromStringAndSize(o->p ? (const char *)o->p : "", (Py_ssize_t)(o->n * 8));
}

static PyObject *external_reads(PyObject *Py_UNUSED(m), PyObject *args) {
    PyObject *o[8];
    if (!PyArg_ParseTuple(args, "OOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7]))
        return NULL;
    static const char *names[8] = {"type", "mop_start", "mop_count", "f", "key", "value", "length",
                                   "elems"};
    static const Py_ssize_t sizes[8] = {1, 8, 8, 1, 8, 8, 8, 8};
    Arr a[8];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 8; got++)
        if (arr(o[got], &a[got], sizes[got], names[got]) < 0) goto done;
    Arr *type = &a[0], *start = &a[1], *count = &a[2], *f = &a[3], *key = &a[4], *value = &a[5],
        *length = &a[6], *elems = &a[7];
    if (start->n != type->n || count->n != type->n || key->n != f->n || value->n != f->n
        || length->n != f->n) {
        PyErr_SetString(PyExc_ValueError, "columns of different lengths");
        goto done;
    }
    Out ot = {0}, ok = {0}, ol = {0};
    int nomem = 0, bad = 0;
    for (Py_ssize_t t = 0; t < type->n && !bad; t++) {
        if (I8(*type)[t] != OK) continue;
        int64_t s = I64(*start)[t], m = I64(*count)[t];
        if (s < 0 || m < 0 || s > f->n - m) {
            bad = -1;
            break;
        }
        bad = one_txn(t, s, m, I8(*f), I64(*key), I64(*value), I64(*length), I64(*elems), elems->n,
                      &ot, &ok, &ol, &nomem);
    }
    if (nomem) {
        PyErr_NoMemory();
    } else if (bad < 0) {
        out_of_range();
    } else if (bad) {
        result = Py_None;
        Py_INCREF(result);
    } else {
        PyObject *x = as_bytes(&ot), *y = as_bytes(&ok), *z = as_bytes(&ol);
        if (x && y && z) result = PyTuple_Pack(3, x, y, z);
        Py_XDECREF(x);
        Py_XDECREF(y);
        Py_XDECREF(z);
    }
    free(ot.p);
    free(ok.p);
    free(ol.p);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&a[i].view);
    return result;
}

static PyMethodDef methods[] = {
    {"prefixes_agree", prefixes_agree, METH_VARARGS,
     "prefixes_agree(elems, starts, prefix_starts, lengths) -> bool: whether "
     "elems[s:s+n] == elems[p:p+n] for every start s, prefix start p and length n."},
    {"external_reads", external_reads, METH_VARARGS,
     "external_reads(type, mop_start, mop_count, f, key, value, length, elems) -> "
     "(txns, keys, lengths) as int64 bytes, one row per key each committed transaction read "
     "from others, or None if any has an internal or future-read anomaly."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "jepsy.checkers.elle._fastpath",
    "Two loops of the list-append fast path, in C (optional; see jepsy.checkers.elle.fastpath).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpath(void) { return PyModule_Create(&module); }
