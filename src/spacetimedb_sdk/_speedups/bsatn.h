/* Shared declarations of the _bsatn extension (bsatn_decode.c, bsatn_program.c,
 * bsatn_module.c).  See bsatn_module.c for what the extension is and the rules it keeps. */

#ifndef SPACETIMEDB_SDK_BSATN_H
#define SPACETIMEDB_SDK_BSATN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Op numbers: keep in step with sats/_bsatn_ops.py. */
enum {
    OP_BOOL = 0, OP_I8, OP_U8, OP_I16, OP_U16, OP_I32, OP_U32, OP_I64, OP_U64,
    OP_I128, OP_U128, OP_I256, OP_U256, OP_F32, OP_F64,
    OP_STRING, OP_BYTES, OP_ARRAY, OP_PRODUCT, OP_CLASS, OP_OPTION, OP_SUM,
    OP_SUM_CLASS, OP_ENUM, OP_SPECIAL,
    OP_COUNT
};

/* Arrays of zero-size elements are bounded by this count, not by the input's size
 * (MAX_ZERO_SIZE_ELEMENTS in sats/_bsatn_ref.py). */
#define MAX_ZERO_SIZE_ELEMENTS (1 << 16)
/* Nesting of compound values this code recurses into; deeper values go to the Python
 * decoder (TooDeep), which has its own limit.  Each level costs well under 200 bytes of C
 * stack, so this stays far below the smallest thread stacks (128 KiB on musl). */
#define MAX_DEPTH 256

/* One node of a program; `a`..`d` are owned references (NULL for None), meaning by op:
 *   PRODUCT     a: template dict, b: keys tuple
 *   CLASS       a: class, b: slot descriptors (tuple) or NULL to call the class
 *   OPTION      a: Some or NULL (no wrapper), b: Some's slots or NULL
 *   SUM         a: names, b: unit constants, c: SumValue, d: SumValue's slots or NULL
 *   SUM_CLASS   a: class per variant, b: per variant: slots tuple or None (call it)
 *   ENUM        a: members by tag
 *   SPECIAL     a: class (or a maker, called with the raw bytes, when b is NULL),
 *               b: slot descriptors (the int, then the others), c: values of the others;
 *               d: int 1 when the int is signed (sizes 8: i64; 16, 32: unsigned) */
typedef struct {
    int op;
    int trusted;          /* every `size`-byte string is a valid value: skip by stepping */
    Py_ssize_t size;      /* encoded size if every value has the same size, else -1 */
    Py_ssize_t nkids;
    Py_ssize_t *kids;     /* child node indices; -1 is a unit variant */
    PyObject *a, *b, *c, *d;
} Node;

typedef struct {
    PyObject_HEAD
    Py_ssize_t nnodes;
    Node *nodes;
    Py_ssize_t root;
    Py_ssize_t row_size;  /* the root's size */
} ProgramObject;

/* A decoding or skipping run over buf[0:len], at off. */
typedef struct {
    const Node *nodes;
    const unsigned char *buf;
    Py_ssize_t len;
    Py_ssize_t off;
    int depth;
} St;

enum { SKIP_OK = 0, SKIP_BAD = 1, SKIP_DEEP = 2 };

extern PyObject *bsatn_Malformed;  /* the bytes do not decode: the Python side says why */
extern PyObject *bsatn_TooDeep;    /* nested deeper than MAX_DEPTH: Python decodes it */
extern PyObject *bsatn_EmptyTuple;
extern PyTypeObject bsatn_ProgramType;

/* bsatn_module.c */
int bsatn_bytes(PyObject *o, const unsigned char **buf, Py_ssize_t *len);
int bsatn_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t want);
PyObject *bsatn_cut(const unsigned char *buf, Py_ssize_t n, Py_ssize_t size);

/* bsatn_frames.c */
extern PyMethodDef bsatn_frames_methods[];

/* bsatn_decode.c */
PyObject *bsatn_dec(St *s, Py_ssize_t index);
int bsatn_skip(St *s, Py_ssize_t index);
int bsatn_utf8_valid(const unsigned char *s, Py_ssize_t n);
PyObject *bsatn_malformed(void);
int bsatn_plain_class(PyObject *o);

#endif
