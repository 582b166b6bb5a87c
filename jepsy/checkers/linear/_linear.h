/*
 * jepsy.checkers.linear._linear: what its three C files share (the extension is one
 * module built from them: pyproject.toml).  _linear.c is the search (FailCache,
 * Search: read its opening comment first); _linear_layout.c lays a partition's
 * calls out for a Search; _linear_fused.c is the fused path, a history of Ops
 * straight to a laid-out search (linear/fused.py says why).
 * Names declared here are internal to the module (hidden from the shared object's
 * symbol table).
 */
#ifndef JEPSY_LINEAR_H
#define JEPSY_LINEAR_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

typedef uint64_t word;

enum { OP_CALL = 0, OP_READ, OP_WRITE, OP_CAS, OP_ANY, OP_ADD, OP_NEVER, OP_TXN };
enum { RUNNING = 0, VALID = 1, INVALID = 2 };
#define MAX_STUCK_STATES 16

#define JL_INTERNAL __attribute__((visibility("hidden")))

/* ---------------------------------------------------------------- FailCache */

/* Entries live in an arena: [hash, state pointer, m, code[m]], the bitset
 * encoded (encode below) so that an entry costs words near the search's frontier
 * only: on a long history the calls before the frontier are all linearized
 * (leading full words, counted, not stored), those after it none (trailing zero
 * words, dropped).  Crashed calls may stay unlinearized for ever and would break
 * the full words, so their bits are stored apart, gathered into a compact bitset:
 * the cache is told which calls crashed (in the whole partition; a prefix's calls
 * still open at its horizon are near the frontier anyway).  Without this a
 * configuration of a 128k-call history held kilobytes, and a history with 1 %
 * crashed calls outgrew the memory budget.  offs[k] is where entry k starts; the
 * table holds entry index + 1 (0 = empty), open addressing with linear probing,
 * at most half full. */
typedef struct {
    PyObject_HEAD
    Py_ssize_t words;
    word *cmask;            /* the crashed calls' bits (NULL: none) */
    word *enc;              /* scratch: one encoded configuration */
    word *arena;
    Py_ssize_t used, cap;   /* words of the arena */
    Py_ssize_t *offs;
    Py_ssize_t len, offcap;
    uint32_t *table;
    size_t tmask;
    int canon;              /* states are canonical (see canon_values): equal iff identical */
} FailCache;

/* ------------------------------------------------------------------- Search */

typedef struct {
    PyObject_HEAD
    Py_ssize_t n, n_ok, ws, wc;
    int *code;
    PyObject **a, **b, **inputs, **outputs;
    PyObject *step;
    Py_ssize_t *cslot;   /* canonical index (the cache's numbering) of each slot */
    char *crashed;
    Py_ssize_t *twin;    /* a crashed slot's nearest lower crashed slot with an equal input, or -1 */
    word *romask;        /* ws words */
    /* The candidate mask of ok return r is the first upto[r] calls in invocation
     * order, slots slot_of[0 .. upto[r]): masks only grow with r.  One mask is kept,
     * `mask` (the first `mask_upto` calls), and moved to the r wanted a call at a
     * time: the search moves r by small steps, so this costs little, where one
     * dense mask per return (n²/8 bytes) made partitions over 8,192 calls too big. */
    Py_ssize_t *upto;    /* n_ok entries */
    Py_ssize_t *slot_of; /* n entries: slot of the i-th call invoked */
    word *mask;          /* ws words */
    Py_ssize_t mask_upto;
    Py_ssize_t *rslot;   /* n_ok + 1 entries, the last -1 */
    Py_ssize_t *slot_ret; /* history position of each of those returns */
    FailCache *cache;
    PyObject *state, *init;
    word *lin, *clin, *cand, *tmp;
    Py_ssize_t cand_k0;  /* cand is zero below this word (pop_low) */
    Py_ssize_t r;
    int resume, status;
    Py_ssize_t depth;
    Py_ssize_t *p_j, *p_r;
    PyObject **p_state;
    char *p_forced;      /* n entries: the step at that depth was a forced read, no other candidate */
    Py_ssize_t best_r, best_depth;
    Py_ssize_t *best_path;
    word *best_lin;
    PyObject *best_states;  /* dict used as an ordered set (canonical states: best_arr) */
    PyObject *best_arr[MAX_STUCK_STATES];
    int n_best;
    Py_ssize_t steps, err_slot;
    int ready;  /* __init__ succeeded: every method checks it */
    int canon;  /* operands and states are canonical (see canon_values): equal iff identical */
} Search;

/* The calls of a partition in invocation order (the call's index is its canonical
 * number in the cache), as lay_out takes them: positions (rpos -1: crashed) and
 * each call's instruction.  The object arrays hold references (or NULL), which
 * lay_out moves into the search's slots; inputs and outputs are needed only where
 * the loop reads them (OP_CALL calls; crashed calls, for twins).  ro: the model's
 * read_only of each call, a list, needed only for OP_CALL calls. */
typedef struct {
    Py_ssize_t n;
    Py_ssize_t *cpos, *rpos;
    int *code;
    PyObject **a, **b, **inputs, **outputs;
    PyObject *ro;
} CallsIn;

static inline word mix64(word h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* _linear.c */
/* Bits of a bitset of words. */
#define BIT_SET(w, i) ((w)[(i) >> 6] |= (word)1 << ((i) & 63))
#define BIT_CLR(w, i) ((w)[(i) >> 6] &= ~((word)1 << ((i) & 63)))
#define BIT_GET(w, i) (((w)[(i) >> 6] >> ((i) & 63)) & 1)

/* a == b by Python's ==: 1, 0, or -1 with an exception set. */
static inline int py_eq(PyObject *a, PyObject *b) {
    PyObject *r = PyObject_RichCompare(a, b, Py_EQ);
    if (!r) return -1;
    int t = r == Py_True ? 1 : r == Py_False ? 0 : PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

/* An OP_TXN's operations (is_write, register, value) write something. */
static inline int txn_writes(PyObject *ops) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ops); i++)
        if (PyTuple_GET_ITEM(PyTuple_GET_ITEM(ops, i), 0) == Py_True) return 1;
    return 0;
}

JL_INTERNAL extern PyTypeObject FailCacheType, SearchType;
JL_INTERNAL extern PyObject *str_input, *str_output;  /* "input", "output", interned */
/* Search.__init__ (_linear_layout.c). */
JL_INTERNAL int Search_init(Search *s, PyObject *args, PyObject *kwds);
JL_INTERNAL int cache_setup(FailCache *self, Py_ssize_t words, const Py_ssize_t *crashed, Py_ssize_t nc,
                            size_t slots);
JL_INTERNAL int calls_in_alloc(CallsIn *in, Py_ssize_t n);
JL_INTERNAL void calls_in_free(CallsIn *in);
JL_INTERNAL int search_setup(Search *s, FailCache *fc, PyObject *step, int by_call, CallsIn *in,
                             PyObject *init);
JL_INTERNAL PyObject *Search_run(Search *s, PyObject *arg);
JL_INTERNAL PyObject *Search_path_items(Search *s, PyObject *args);

/* _linear_fused.c */
JL_INTERNAL PyObject *fused(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
JL_INTERNAL int fused_setup(void);

#endif
