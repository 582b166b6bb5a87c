/*
 * jepsy.checkers.elle._columns: jepsy JSONL straight into transaction columns, in C (optional).
 *
 * columns.py's Python builder costs about 5 microseconds per op (decoding each
 * line into a struct, pairing in a dict, appending to arrays): at a million
 * list-append transactions that is most of the check.  This builder does the
 * same in one pass over the bytes and returns the same columns, or refuses,
 * and then the Python builder (the reference) reads the file instead.
 *
 * The contract, which the unit tests hold it to: whenever it accepts a file,
 * its columns equal the Python builder's, byte for byte.  To keep that easy to
 * see, it accepts a strict subset of what msgspec and the Python builder take,
 * and refuses everything else:
 *
 *   lines    one JSON object per line (blank lines skipped), with only the
 *            fields index, time, type, process, f, value, error, each at
 *            most once; index an integer, time an integer or null, type and f
 *            strings, process an integer or a string
 *   numbers  integers in int64 where an integer is wanted; elsewhere JSON
 *            numbers with at most two exponent digits
 *   strings  ASCII, the escapes \" \\ \/ \b \f \n \r \t (no \u); none in
 *            field names, type, f and process
 *   values   read as micro-ops ([f, int key, int | null | [int ...]] with f
 *            "append", "r" or "w") only where the Python builder decodes them;
 *            elsewhere skipped as JSON, nested at most 64 deep
 *
 * feed_ops takes instead ops already in memory (jepsy Op records), with the
 * Python builder on them as the reference; it refuses subclasses (bool for an
 * int, say) where that builder would be lenient, and any Python error.
 *
 * feed_ops_array takes instead one JSON array of op objects (a history stored
 * as a JSON array).  Its reference is the Python builder on the ops msgspec
 * decodes from that JSON, so it also refuses any op type but the four and any
 * op whose index is not its position.
 *
 * Pairing is the Python builder's (columns.py's feed): client ``txn`` ops only;
 * a completion without an open invoke stands alone; an invoke while one is
 * open leaves the first one indeterminate; an ok transaction takes its
 * completion's micro-ops, any other its invoke's, added at the end in
 * transaction order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ growable buffers */

typedef struct {
    char *p;
    size_t len, cap;  /* in bytes */
} Vec;

static int grow(Vec *v, size_t extra) {
    if (v->len + extra <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 4096;
    while (cap < v->len + extra) cap *= 2;
    char *p = realloc(v->p, cap);
    if (!p) return -1;
    v->p = p;
    v->cap = cap;
    return 0;
}

static inline int put64(Vec *v, int64_t x) {
    if (grow(v, 8) < 0) return -1;
    memcpy(v->p + v->len, &x, 8);
    v->len += 8;
    return 0;
}

static inline int put8(Vec *v, int8_t x) {
    if (grow(v, 1) < 0) return -1;
    v->p[v->len++] = (char)x;
    return 0;
}

#define AT64(v, i) (((int64_t *)(v).p)[i])

/* ------------------------------------------------------------------ process -> open transaction */

typedef struct {
    int64_t k, v;  /* v < 0: empty slot */
} Slot;

typedef struct {
    Slot *s;
    size_t cap, n;  /* cap: a power of two */
} Map;

static inline size_t mix(int64_t k) {
    uint64_t x = (uint64_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int map_put(Map *m, int64_t k, int64_t v);

static int map_grow(Map *m) {
    Map bigger = {NULL, m->cap ? m->cap * 2 : 64, 0};
    bigger.s = malloc(bigger.cap * sizeof(Slot));
    if (!bigger.s) return -1;
    for (size_t i = 0; i < bigger.cap; i++) bigger.s[i].v = -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->s[i].v >= 0) map_put(&bigger, m->s[i].k, m->s[i].v);
    free(m->s);
    *m = bigger;
    return 0;
}

/* k must not be present (callers pop it first). */
static int map_put(Map *m, int64_t k, int64_t v) {
    if ((m->n + 1) * 2 > m->cap && map_grow(m) < 0) return -1;
    size_t mask = m->cap - 1, i = mix(k) & mask;
    while (m->s[i].v >= 0) i = (i + 1) & mask;
    m->s[i].k = k;
    m->s[i].v = v;
    m->n++;
    return 0;
}

/* The value under k, removed (linear probing, backward-shift deletion), or -1. */
static int64_t map_pop(Map *m, int64_t k) {
    if (!m->n) return -1;
    size_t mask = m->cap - 1, i = mix(k) & mask;
    while (m->s[i].v >= 0 && m->s[i].k != k) i = (i + 1) & mask;
    if (m->s[i].v < 0) return -1;
    int64_t v = m->s[i].v;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (m->s[j].v < 0) break;
        size_t h = mix(m->s[j].k) & mask;
        if (i <= j ? (i < h && h <= j) : (i < h || h <= j)) continue;  /* it may stay */
        m->s[i] = m->s[j];
        i = j;
    }
    m->s[i].v = -1;
    m->n--;
    return v;
}

/* ------------------------------------------------------------------ JSON pieces
 * Each takes [p, e) and returns the position after what it read, or NULL to refuse. */

static inline const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static inline int is_digit(const char *p, const char *e) { return p < e && *p >= '0' && *p <= '9'; }

static const char *int64_at(const char *p, const char *e, int64_t *out) {
    int neg = p < e && *p == '-';
    p += neg;
    if (!is_digit(p, e)) return NULL;
    uint64_t x = 0;
    if (*p == '0') {
        p++;
        if (is_digit(p, e)) return NULL;
    } else {
        while (is_digit(p, e)) {
            unsigned d = (unsigned)(*p++ - '0');
            if (x > (UINT64_MAX - d) / 10) return NULL;
            x = x * 10 + d;
        }
    }
    if (p < e && (*p == '.' || *p == 'e' || *p == 'E')) return NULL;
    if (neg) {
        if (x > (uint64_t)INT64_MAX + 1) return NULL;
        *out = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
    } else {
        if (x > (uint64_t)INT64_MAX) return NULL;
        *out = (int64_t)x;
    }
    return p;
}

/* A string at p (its opening quote); its contents are [*s, *s + *n).  Escapes only if
 * escapes is set (then the contents are as written, escapes undecoded). */
static const char *string_at(const char *p, const char *e, int escapes, const char **s, size_t *n) {
    if (p >= e || *p != '"') return NULL;
    const char *start = ++p;
    for (;;) {
        if (p >= e) return NULL;
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c < 0x20 || c >= 0x80) return NULL;
        if (c == '\\') {
            if (!escapes || p + 1 >= e || !strchr("\"\\/bfnrt", p[1]) || !p[1]) return NULL;
            p += 2;
            continue;
        }
        p++;
    }
    if (s) *s = start;
    if (n) *n = (size_t)(p - start);
    return p + 1;
}

static const char *literal_at(const char *p, const char *e, const char *word, size_t n) {
    return (size_t)(e - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

static const char *number_at(const char *p, const char *e) {
    if (p < e && *p == '-') p++;
    if (!is_digit(p, e)) return NULL;
    if (*p == '0') {
        p++;
        if (is_digit(p, e)) return NULL;
    } else {
        while (is_digit(p, e)) p++;
    }
    if (p < e && *p == '.') {
        p++;
        if (!is_digit(p, e)) return NULL;
        while (is_digit(p, e)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, e)) return NULL;
        p++;
        if (is_digit(p, e)) p++;
        if (is_digit(p, e)) return NULL;  /* three exponent digits: msgspec may call it out of range */
    }
    return p;
}

static const char *value_at(const char *p, const char *e, int depth) {
    if (p >= e || depth > 64) return NULL;
    switch (*p) {
    case '"':
        return string_at(p, e, 1, NULL, NULL);
    case 't':
        return literal_at(p, e, "true", 4);
    case 'f':
        return literal_at(p, e, "false", 5);
    case 'n':
        return literal_at(p, e, "null", 4);
    case '[':
    case '{': {
        char close = *p == '[' ? ']' : '}';
        p = ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                p = string_at(p, e, 1, NULL, NULL);
                if (!p) return NULL;
                p = ws(p, e);
                if (p >= e || *p != ':') return NULL;
                p = ws(p + 1, e);
            }
            p = value_at(p, e, depth + 1);
            if (!p) return NULL;
            p = ws(p, e);
            if (p < e && *p == ',') {
                p = ws(p + 1, e);
                continue;
            }
            return p < e && *p == close ? p + 1 : NULL;
        }
    }
    default:
        return number_at(p, e);
    }
}

/* ------------------------------------------------------------------ the builder */

enum {  /* the columns, in TxnColumns' field order */
    TYPE, PROCESS, INDEX, INVOKE_INDEX, INVOKE_TIME, COMPLETE_TIME, MOP_START, MOP_COUNT,
    F, KEY, TXN, VALUE, LENGTH, ELEMS, N_COLS
};
enum { OK = 0, FAIL = 1, INFO = 2, INVOKE = 3, OTHER_TYPE = -1 };
enum { APPEND = 0, READ = 1, WRITE = 2 };
#define NONE INT64_MIN

typedef struct {
    char *p;  /* a copy of an invoke's value, kept until its completion says ok */
    size_t n;
    PyObject *obj;  /* or (feed_ops) the value itself, a reference held */
} Raw;

typedef struct {
    PyObject_HEAD
    Vec col[N_COLS];
    Vec raw;   /* one Raw per transaction */
    Map open;  /* process -> its open transaction */
    int spent; /* refused, or finished: feed and finish do nothing more */
    int as_ops;  /* feed_ops_array: refuse what jepsy's Op or its fast readers would */
    int64_t ops; /* ops read */
} Builder;

static void release(Builder *b) {
    for (int i = 0; i < N_COLS; i++) {
        free(b->col[i].p);
        b->col[i] = (Vec){NULL, 0, 0};
    }
    Raw *raw = (Raw *)b->raw.p;
    for (size_t i = 0; i < b->raw.len / sizeof(Raw); i++) {
        free(raw[i].p);
        Py_XDECREF(raw[i].obj);
    }
    free(b->raw.p);
    b->raw = (Vec){NULL, 0, 0};
    free(b->open.s);
    b->open = (Map){NULL, 0, 0};
}

/* A JSON array of micro-ops as rows of transaction t; *count gets how many. */
static const char *mops_at(Builder *b, const char *p, const char *e, int64_t t, int64_t *count) {
    int64_t n = 0;
    p = ws(p, e);
    if (p >= e || *p != '[') return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == ']') {
        *count = 0;
        return p + 1;
    }
    for (;;) {
        const char *s;
        size_t len;
        int64_t key, value = 0, length = 0;
        if (p >= e || *p != '[') return NULL;
        p = string_at(ws(p + 1, e), e, 0, &s, &len);
        if (!p) return NULL;
        int f = len == 6 && memcmp(s, "append", 6) == 0 ? APPEND
              : len == 1 && *s == 'r' ? READ
              : len == 1 && *s == 'w' ? WRITE : -1;
        if (f < 0) return NULL;
        p = ws(p, e);
        if (p >= e || *p != ',') return NULL;
        p = int64_at(ws(p + 1, e), e, &key);
        if (!p) return NULL;
        p = ws(p, e);
        if (p >= e || *p != ',') return NULL;
        p = ws(p + 1, e);
        if (f != READ) {
            p = int64_at(p, e, &value);
        } else {
            Vec *elems = &b->col[ELEMS];
            value = (int64_t)(elems->len / 8);
            if (p < e && *p == 'n') {
                p = literal_at(p, e, "null", 4);
                length = -1;
            } else if (p < e && *p == '[') {
                p = ws(p + 1, e);
                if (p < e && *p == ']') {
                    p++;
                } else {
                    for (;;) {
                        int64_t x;
                        p = int64_at(p, e, &x);
                        if (!p || put64(elems, x) < 0) return NULL;
                        length++;
                        p = ws(p, e);
                        if (p < e && *p == ',') {
                            p = ws(p + 1, e);
                            continue;
                        }
                        if (p >= e || *p != ']') return NULL;
                        p++;
                        break;
                    }
                }
            } else {
                return NULL;
            }
        }
        if (!p) return NULL;
        p = ws(p, e);
        if (p >= e || *p != ']') return NULL;
        if (put8(&b->col[F], (int8_t)f) < 0 || put64(&b->col[KEY], key) < 0
            || put64(&b->col[TXN], t) < 0 || put64(&b->col[VALUE], value) < 0
            || put64(&b->col[LENGTH], length) < 0)
            return NULL;
        n++;
        p = ws(p + 1, e);
        if (p < e && *p == ',') {
            p = ws(p + 1, e);
            continue;
        }
        if (p >= e || *p != ']') return NULL;
        *count = n;
        return p + 1;
    }
}

/* Transaction t's micro-ops from the JSON at [p, e): the whole of it must be them. */
static int add_mops(Builder *b, int64_t t, const char *p, const char *e) {
    int64_t count;
    AT64(b->col[MOP_START], t) = (int64_t)(b->col[KEY].len / 8);
    p = mops_at(b, p, e, t, &count);
    if (!p || ws(p, e) != e) return -1;
    AT64(b->col[MOP_COUNT], t) = count;
    return 0;
}

/* Transaction t's micro-ops from a Python value: exactly lists, ints, None and the three
 * names (a subclass of any, e.g. bool, is refused: the Python builder decides). */
static int add_mops_obj(Builder *b, int64_t t, PyObject *v) {
    if (!PyList_CheckExact(v)) return -1;
    Py_ssize_t n = PyList_GET_SIZE(v);
    AT64(b->col[MOP_START], t) = (int64_t)(b->col[KEY].len / 8);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *m = PyList_GET_ITEM(v, i);
        if (!PyList_CheckExact(m) || PyList_GET_SIZE(m) != 3) return -1;
        PyObject *fo = PyList_GET_ITEM(m, 0), *ko = PyList_GET_ITEM(m, 1), *vo = PyList_GET_ITEM(m, 2);
        if (!PyUnicode_CheckExact(fo) || !PyLong_CheckExact(ko)) return -1;
        int f = PyUnicode_CompareWithASCIIString(fo, "append") == 0 ? APPEND
              : PyUnicode_CompareWithASCIIString(fo, "r") == 0 ? READ
              : PyUnicode_CompareWithASCIIString(fo, "w") == 0 ? WRITE : -1;
        int overflow = 0;
        int64_t key = PyLong_AsLongLongAndOverflow(ko, &overflow), value = 0, length = 0;
        if (f < 0 || overflow) return -1;
        if (f != READ) {
            if (!PyLong_CheckExact(vo)) return -1;
            value = PyLong_AsLongLongAndOverflow(vo, &overflow);
            if (overflow) return -1;
        } else {
            Vec *elems = &b->col[ELEMS];
            value = (int64_t)(elems->len / 8);
            if (vo == Py_None) {
                length = -1;
            } else if (PyList_CheckExact(vo)) {
                length = PyList_GET_SIZE(vo);
                for (Py_ssize_t j = 0; j < length; j++) {
                    PyObject *x = PyList_GET_ITEM(vo, j);
                    if (!PyLong_CheckExact(x)) return -1;
                    int64_t e = PyLong_AsLongLongAndOverflow(x, &overflow);
                    if (overflow || put64(elems, e) < 0) return -1;
                }
            } else {
                return -1;
            }
        }
        if (put8(&b->col[F], (int8_t)f) < 0 || put64(&b->col[KEY], key) < 0
            || put64(&b->col[TXN], t) < 0 || put64(&b->col[VALUE], value) < 0
            || put64(&b->col[LENGTH], length) < 0)
            return -1;
    }
    AT64(b->col[MOP_COUNT], t) = n;
    return 0;
}

/* A value: JSON text [p, e), or (obj not NULL) a Python object. */
typedef struct {
    const char *p, *e;
    PyObject *obj;
} Val;

static int add_val(Builder *b, int64_t t, Val v) {
    return v.obj ? add_mops_obj(b, t, v.obj) : add_mops(b, t, v.p, v.e);
}

static int new_txn(Builder *b, int8_t type, int64_t process, int64_t index, int64_t invoke_time,
                   int64_t complete_time) {
    Raw none = {NULL, 0, NULL};
    if (put8(&b->col[TYPE], type) < 0 || put64(&b->col[PROCESS], process) < 0
        || put64(&b->col[INDEX], index) < 0 || put64(&b->col[INVOKE_INDEX], index) < 0
        || put64(&b->col[INVOKE_TIME], invoke_time) < 0
        || put64(&b->col[COMPLETE_TIME], complete_time) < 0 || put64(&b->col[MOP_START], 0) < 0
        || put64(&b->col[MOP_COUNT], 0) < 0 || grow(&b->raw, sizeof none) < 0)
        return -1;
    memcpy(b->raw.p + b->raw.len, &none, sizeof none);
    b->raw.len += sizeof none;
    return 0;
}

static const char NULL_JSON[] = "null";

static int take(Builder *b, int64_t index, int64_t time, int type, int64_t process, Val v);

/* One op object at p (its '{'), within [p, e); *after: the position after it.
 * 0 taken (or skipped: not a client transaction), -1 refused. */
static int op_at(Builder *b, const char *p, const char *e, const char **after) {
    enum { B_INDEX = 1, B_TIME = 2, B_TYPE = 4, B_PROCESS = 8, B_F = 16, B_VALUE = 32, B_ERROR = 64 };
    unsigned seen = 0;
    int64_t index = 0, time = NONE, process = 0;
    int type = OTHER_TYPE, process_is_str = 0, is_txn = 0;
    const char *value = NULL_JSON, *value_end = NULL_JSON + 4;
    if (p >= e || *p != '{') return -1;
    p = ws(p + 1, e);
    for (;;) {
        const char *k, *s;
        size_t kn, n;
        p = string_at(p, e, 0, &k, &kn);
        if (!p) return -1;
        p = ws(p, e);
        if (p >= e || *p != ':') return -1;
        p = ws(p + 1, e);
        unsigned bit = 0;
        if (kn == 5 && memcmp(k, "index", 5) == 0) {
            bit = B_INDEX;
            p = int64_at(p, e, &index);
        } else if (kn == 4 && memcmp(k, "time", 4) == 0) {
            bit = B_TIME;
            p = p < e && *p == 'n' ? literal_at(p, e, "null", 4) : int64_at(p, e, &time);
        } else if (kn == 4 && memcmp(k, "type", 4) == 0) {
            bit = B_TYPE;
            p = string_at(p, e, 0, &s, &n);
            if (p)
                type = n == 6 && memcmp(s, "invoke", 6) == 0 ? INVOKE
                     : n == 2 && memcmp(s, "ok", 2) == 0 ? OK
                     : n == 4 && memcmp(s, "fail", 4) == 0 ? FAIL
                     : n == 4 && memcmp(s, "info", 4) == 0 ? INFO : OTHER_TYPE;
        } else if (kn == 7 && memcmp(k, "process", 7) == 0) {
            bit = B_PROCESS;
            process_is_str = p < e && *p == '"';
            p = process_is_str ? string_at(p, e, 0, NULL, NULL) : int64_at(p, e, &process);
        } else if (kn == 1 && *k == 'f') {
            bit = B_F;
            p = string_at(p, e, 0, &s, &n);
            is_txn = p && n == 3 && memcmp(s, "txn", 3) == 0;
        } else if (kn == 5 && memcmp(k, "value", 5) == 0) {
            bit = B_VALUE;
            value = p;
            p = value_end = value_at(p, e, 0);
        } else if (kn == 5 && memcmp(k, "error", 5) == 0) {
            bit = B_ERROR;
            p = value_at(p, e, 0);
        }
        if (!bit || (seen & bit) || !p) return -1;
        seen |= bit;
        p = ws(p, e);
        if (p < e && *p == ',') {
            p = ws(p + 1, e);
            continue;
        }
        if (p >= e || *p != '}') return -1;
        break;
    }
    *after = p + 1;
    if ((seen & (B_INDEX | B_TIME | B_TYPE | B_PROCESS | B_F)) != (B_INDEX | B_TIME | B_TYPE | B_PROCESS | B_F))
        return -1;
    if (b->as_ops && (type == OTHER_TYPE || index != b->ops)) return -1;
    b->ops++;
    if (process_is_str || !is_txn) return 0;  /* not a client's transaction: skipped */
    return take(b, index, time, type, process, (Val){value, value_end, NULL});
}

/* A client's transaction op, paired as the Python builder does; 0 taken, -1 refused. */
static int take(Builder *b, int64_t index, int64_t time, int type, int64_t process, Val v) {
    if (type == INVOKE) {
        int64_t prev = map_pop(&b->open, process);
        if (prev >= 0) ((int8_t *)b->col[TYPE].p)[prev] = INFO;
        int64_t t = (int64_t)b->col[TYPE].len;
        if (map_put(&b->open, process, t) < 0 || new_txn(b, INFO, process, index, time, NONE) < 0)
            return -1;
        Raw *raw = &((Raw *)b->raw.p)[t];
        if (v.obj) {
            Py_INCREF(v.obj);
            raw->obj = v.obj;
            return 0;
        }
        raw->n = (size_t)(v.e - v.p);
        raw->p = malloc(raw->n ? raw->n : 1);
        if (!raw->p) return -1;
        memcpy(raw->p, v.p, raw->n);
        return 0;
    }
    if (type == OTHER_TYPE) return -1;
    int64_t i = map_pop(&b->open, process);
    if (i >= 0) {
        ((int8_t *)b->col[TYPE].p)[i] = (int8_t)type;
        AT64(b->col[INDEX], i) = index;
        if (type == OK) {
            Raw *raw = &((Raw *)b->raw.p)[i];
            free(raw->p);
            Py_CLEAR(raw->obj);
            *raw = (Raw){NULL, 0, NULL};
            AT64(b->col[COMPLETE_TIME], i) = time;
            return add_val(b, i, v);
        }
        return 0;
    }
    int64_t t = (int64_t)b->col[TYPE].len;
    if (new_txn(b, (int8_t)type, process, index, NONE, type == OK ? time : NONE) < 0) return -1;
    return add_val(b, t, v);
}


/* One line [p, e): an op object, or blank; 0 taken (or skipped), -1 refused. */
static int line(Builder *b, const char *p, const char *e) {
    const char *after;
    p = ws(p, e);
    if (p == e) return 0;
    return op_at(b, p, e, &after) < 0 || ws(after, e) != e ? -1 : 0;
}

static void refuse(Builder *b) {
    b->spent = 1;
    release(b);
}

static PyObject *Builder_feed(Builder *b, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *p = view.buf, *end = p + view.len;
    while (!b->spent && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (line(b, p, e) < 0) refuse(b);
        p = nl ? nl + 1 : end;
    }
    PyBuffer_Release(&view);
    if (b->spent) Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

/* One JSON array of op objects, as msgspec would decode it into jepsy's Op (every type one
 * of the four) and jepsy.history's fast readers accept it (each op's index its position). */
static PyObject *Builder_feed_ops_array(Builder *b, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *p = view.buf, *e = p + view.len;
    b->as_ops = 1;
    p = ws(p, e);
    if (b->spent || b->ops || p >= e || *p != '[') {
        refuse(b);
    } else {
        p = ws(p + 1, e);
        if (p < e && *p == ']') {
            p++;
        } else {
            for (;;) {
                if (op_at(b, p, e, &p) < 0) {
                    refuse(b);
                    break;
                }
                p = ws(p, e);
                if (p < e && *p == ',') {
                    p = ws(p + 1, e);
                    continue;
                }
                if (p < e && *p == ']') p++;
                else refuse(b);
                break;
            }
        }
        if (!b->spent && ws(p, e) != e) refuse(b);
    }
    PyBuffer_Release(&view);
    if (b->spent) Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

static PyObject *S_process, *S_f, *S_time, *S_type, *S_index, *S_value;  /* attribute names */

/* One op object (an Op, or anything with its attributes); 0 taken or skipped, -1 refused
 * (also on any Python error: the Python builder then meets it again, and raises it). */
static int op_obj(Builder *b, PyObject *op) {
    PyObject *p = NULL, *f = NULL, *tm = NULL, *ty = NULL, *ix = NULL, *v = NULL;
    int r = -1, overflow = 0;
    if (!(p = PyObject_GetAttr(op, S_process)) || !(f = PyObject_GetAttr(op, S_f))) goto done;
    if (!PyUnicode_CheckExact(f)) goto done;
    int is_txn = PyUnicode_CompareWithASCIIString(f, "txn") == 0;
    if (!PyLong_CheckExact(p) || !is_txn) {  /* not a client's transaction: skipped */
        r = PyLong_Check(p) && is_txn ? -1 : 0;  /* a bool process: the Python builder decides */
        goto done;
    }
    int64_t process = PyLong_AsLongLongAndOverflow(p, &overflow), time = NONE, index;
    if (overflow || !(tm = PyObject_GetAttr(op, S_time))) goto done;
    if (tm != Py_None) {
        if (!PyLong_CheckExact(tm)) goto done;
        time = PyLong_AsLongLongAndOverflow(tm, &overflow);
        if (overflow) goto done;
    }
    if (!(ty = PyObject_GetAttr(op, S_type)) || !PyUnicode_CheckExact(ty)) goto done;
    int type = PyUnicode_CompareWithASCIIString(ty, "invoke") == 0 ? INVOKE
             : PyUnicode_CompareWithASCIIString(ty, "ok") == 0 ? OK
             : PyUnicode_CompareWithASCIIString(ty, "fail") == 0 ? FAIL
             : PyUnicode_CompareWithASCIIString(ty, "info") == 0 ? INFO : OTHER_TYPE;
    if (!(ix = PyObject_GetAttr(op, S_index)) || !PyLong_CheckExact(ix)) goto done;
    index = PyLong_AsLongLongAndOverflow(ix, &overflow);
    if (overflow || !(v = PyObject_GetAttr(op, S_value))) goto done;
    r = take(b, index, time, type, process, (Val){NULL, NULL, v});
done:
    if (PyErr_Occurred()) PyErr_Clear();
    Py_XDECREF(p);
    Py_XDECREF(f);
    Py_XDECREF(tm);
    Py_XDECREF(ty);
    Py_XDECREF(ix);
    Py_XDECREF(v);
    return r;
}

static PyObject *Builder_feed_ops(Builder *b, PyObject *ops) {
    PyObject *seq = PySequence_Fast(ops, "feed_ops: a sequence of ops");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n && !b->spent; i++)
        if (op_obj(b, items[i]) < 0) refuse(b);
    Py_DECREF(seq);
    if (b->spent) Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

/* ------------------------------------------------------------------ a column handed to NumPy */

typedef struct {
    PyObject_HEAD
    char *p;
    Py_ssize_t n;
} Buf;

static void Buf_dealloc(Buf *self) {
    free(self->p);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Buf_getbuffer(Buf *self, Py_buffer *view, int flags) {
    static char empty;
    return PyBuffer_FillInfo(view, (PyObject *)self, self->p ? self->p : &empty, self->n, 0, flags);
}

static PyBufferProcs Buf_as_buffer = {(getbufferproc)Buf_getbuffer, NULL};

static PyTypeObject BufType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "jepsy.checkers.elle._columns.Buf",
    .tp_basicsize = sizeof(Buf),
    .tp_dealloc = (destructor)Buf_dealloc,
    .tp_as_buffer = &Buf_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One column's memory, owned here and lent to NumPy through the buffer protocol.",
};

static PyObject *Builder_finish(Builder *b, PyObject *Py_UNUSED(ignored)) {
    if (b->spent) Py_RETURN_NONE;
    Raw *raw = (Raw *)b->raw.p;
    size_t n = b->raw.len / sizeof(Raw);
    for (size_t t = 0; t < n; t++) {  /* never completed ok: the invoke's micro-ops */
        if (!raw[t].p && !raw[t].obj) continue;
        int bad = add_val(b, (int64_t)t, (Val){raw[t].p, raw[t].p + raw[t].n, raw[t].obj}) < 0;
        free(raw[t].p);
        raw[t].p = NULL;
        Py_CLEAR(raw[t].obj);
        if (bad) {
            refuse(b);
            Py_RETURN_NONE;
        }
    }
    PyObject *out = PyTuple_New(N_COLS);
    if (!out) return NULL;
    for (int i = 0; i < N_COLS; i++) {
        Buf *buf = PyObject_New(Buf, &BufType);
        if (!buf) {
            Py_DECREF(out);
            return NULL;
        }
        buf->p = b->col[i].p;
        buf->n = (Py_ssize_t)b->col[i].len;
        b->col[i] = (Vec){NULL, 0, 0};
        PyObject *view = PyMemoryView_FromObject((PyObject *)buf);  /* it holds buf */
        Py_DECREF(buf);
        if (!view) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, view);
    }
    refuse(b);  /* done: it holds nothing more */
    return out;
}

static void Builder_dealloc(Builder *b) {
    release(b);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyMethodDef Builder_methods[] = {
    {"feed", (PyCFunction)Builder_feed, METH_O,
     "feed(block) -> bool: whole JSONL lines; False once anything was refused (then the "
     "builder is spent and holds nothing)."},
    {"feed_ops", (PyCFunction)Builder_feed_ops, METH_O,
     "feed_ops(ops) -> bool: instead of feed, ops in memory (jepsy Op records); False once "
     "anything was refused."},
    {"feed_ops_array", (PyCFunction)Builder_feed_ops_array, METH_O,
     "feed_ops_array(data) -> bool: instead of feed, one JSON array of op objects (a "
     "stored JSON-array history), refused unless every op would be a jepsy Op whose "
     "index is its position."},
    {"finish", (PyCFunction)Builder_finish, METH_NOARGS,
     "finish() -> the 14 columns of TxnColumns in field order, as memoryviews of bytes, or None "
     "if refused."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "jepsy.checkers.elle._columns.Builder",
    .tp_basicsize = sizeof(Builder),
    .tp_dealloc = (destructor)Builder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Builder(): feed JSONL blocks, then finish() for the columns (see the module source).",
    .tp_methods = Builder_methods,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "jepsy.checkers.elle._columns",
    "jepsy JSONL list-append histories into transaction columns, in C (optional; see "
    "jepsy.checkers.elle.columns).", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__columns(void) {
    if (PyType_Ready(&BufType) < 0 || PyType_Ready(&BuilderType) < 0) return NULL;
    if (!(S_process = PyUnicode_InternFromString("process")) || !(S_f = PyUnicode_InternFromString("f"))
        || !(S_time = PyUnicode_InternFromString("time")) || !(S_type = PyUnicode_InternFromString("type"))
        || !(S_index = PyUnicode_InternFromString("index"))
        || !(S_value = PyUnicode_InternFromString("value")))
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&BuilderType);
    if (PyModule_AddObject(m, "Builder", (PyObject *)&BuilderType) < 0) {
        Py_DECREF(&BuilderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
