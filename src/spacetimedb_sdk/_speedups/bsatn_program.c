/* The Program type: a compiled BSATN type program and the calls that run it.
 *
 * Program(nodes, root) checks every node's shape (sats/_bsatn_ops.py describes the nodes),
 * so a wrong program raises ValueError instead of crashing; it cannot be re-initialised, so
 * user code run while decoding (a bound class) can never free the nodes under a run. */

#include "bsatn.h"

static void
clear_nodes(ProgramObject *self)
{
    if (self->nodes == NULL)
        return;
    for (Py_ssize_t i = 0; i < self->nnodes; i++) {
        Node *n = &self->nodes[i];
        PyMem_Free(n->kids);
        Py_CLEAR(n->a);
        Py_CLEAR(n->b);
        Py_CLEAR(n->c);
        Py_CLEAR(n->d);
    }
    PyMem_Free(self->nodes);
    self->nodes = NULL;
    self->nnodes = 0;
}

static int
program_traverse(ProgramObject *self, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < self->nnodes; i++) {
        Py_VISIT(self->nodes[i].a);
        Py_VISIT(self->nodes[i].b);
        Py_VISIT(self->nodes[i].c);
        Py_VISIT(self->nodes[i].d);
    }
    return 0;
}

static int
program_clear(ProgramObject *self)
{
    clear_nodes(self);
    return 0;
}

static void
program_dealloc(ProgramObject *self)
{
    PyObject_GC_UnTrack(self);
    clear_nodes(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- checking the nodes --------------------------------------------------------------- */

static int
bad_node(Py_ssize_t i, const char *why)
{
    PyErr_Format(PyExc_ValueError, "bsatn program node %zd: %s", i, why);
    return -1;
}

static int
is_tuple_of(PyObject *o, Py_ssize_t n)
{
    return o != NULL && PyTuple_Check(o) && PyTuple_GET_SIZE(o) == n;
}

/* `slots` (NULL: call the class) fits make(cls, slots, args, nargs). */
static int
slots_ok(PyObject *cls, PyObject *slots, Py_ssize_t nargs)
{
    if (slots == NULL)
        return PyCallable_Check(cls);
    if (!bsatn_plain_class(cls) || !is_tuple_of(slots, nargs))
        return 0;
    for (Py_ssize_t k = 0; k < nargs; k++)
        if (Py_TYPE(PyTuple_GET_ITEM(slots, k))->tp_descr_set == NULL)
            return 0;
    return 1;
}

static int
check_special(Node *n, Py_ssize_t i)
{
    if (n->size != 8 && n->size != 16 && n->size != 32)
        return bad_node(i, "special with a wrong size");
    if (n->b == NULL)
        return PyCallable_Check(n->a) ? 0 : bad_node(i, "special maker is not callable");
    Py_ssize_t extra = n->c != NULL ? (PyTuple_Check(n->c) ? PyTuple_GET_SIZE(n->c) : 99) : 0;
    if (extra > 3 || !slots_ok(n->a, n->b, 1 + extra))
        return bad_node(i, "special needs a plain class, its slots and their extra values");
    return 0;
}

static int
check_node(ProgramObject *self, Py_ssize_t i)
{
    static const Py_ssize_t prim_sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32, 4, 8};
    Node *n = &self->nodes[i];
    int units_ok = n->op == OP_SUM || n->op == OP_SUM_CLASS;
    for (Py_ssize_t k = 0; k < n->nkids; k++)
        if (n->kids[k] >= self->nnodes || n->kids[k] < (units_ok ? -1 : 0))
            return bad_node(i, "child index out of range");
    if (n->size < -1 || (n->trusted && n->size < 0))
        return bad_node(i, "bad size (a trusted node must have a fixed size)");
    if (n->op >= 0 && n->op <= OP_F64)
        return n->size == prim_sizes[n->op] && n->nkids == 0
                   ? 0 : bad_node(i, "primitive with a wrong size");
    switch (n->op) {
    case OP_STRING:
    case OP_BYTES:
        return n->nkids == 0 ? 0 : bad_node(i, "string/bytes with children");
    case OP_ARRAY:
        return n->nkids == 1 ? 0 : bad_node(i, "array needs one child");
    case OP_PRODUCT:
        if (n->a == NULL || !PyDict_CheckExact(n->a) || !is_tuple_of(n->b, n->nkids))
            return bad_node(i, "product needs a template dict and one key per child");
        for (Py_ssize_t k = 0; k < n->nkids; k++)
            if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(n->b, k)))
                return bad_node(i, "product keys must be str");
        return 0;
    case OP_CLASS:
        return n->a != NULL && slots_ok(n->a, n->b, n->nkids) ? 0 : bad_node(i, "bad class");
    case OP_OPTION:
        if (n->nkids != 1 || (n->a == NULL ? n->b != NULL : !slots_ok(n->a, n->b, 1)))
            return bad_node(i, "option needs one child and Some (with its slots) or None");
        return 0;
    case OP_SUM:
        if (n->nkids > 256 || !is_tuple_of(n->a, n->nkids) || !is_tuple_of(n->b, n->nkids) ||
            n->c == NULL || !slots_ok(n->c, n->d, 2))
            return bad_node(i, "sum needs names, unit constants and SumValue");
        for (Py_ssize_t k = 0; k < n->nkids; k++)
            if (n->kids[k] < 0 && PyTuple_GET_ITEM(n->b, k) == Py_None)
                return bad_node(i, "unit variant without a constant");
        return 0;
    case OP_SUM_CLASS:
        if (n->nkids > 256 || !is_tuple_of(n->a, n->nkids) ||
            (n->b != NULL && !is_tuple_of(n->b, n->nkids)))
            return bad_node(i, "sum class needs one class (and slots or None) per variant");
        for (Py_ssize_t k = 0; k < n->nkids; k++) {
            PyObject *slots = n->b != NULL ? PyTuple_GET_ITEM(n->b, k) : Py_None;
            if (!slots_ok(PyTuple_GET_ITEM(n->a, k), slots == Py_None ? NULL : slots,
                          n->kids[k] < 0 ? 0 : 1))
                return bad_node(i, "bad variant class");
        }
        return 0;
    case OP_ENUM:
        if (n->size != 1 || n->a == NULL || !PyTuple_Check(n->a) || PyTuple_GET_SIZE(n->a) > 256)
            return bad_node(i, "enum needs a tuple of members");
        return 0;
    case OP_SPECIAL:
        return check_special(n, i);
    }
    return bad_node(i, "unknown op");
}

static PyObject *
none_to_null(PyObject *o)
{
    return o == Py_None ? NULL : Py_NewRef(o);
}

static int
read_node(Node *n, PyObject *t, Py_ssize_t i)
{
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 8 || !PyTuple_Check(PyTuple_GET_ITEM(t, 3)))
        return bad_node(i, "not an (op, size, trusted, kids, a, b, c, d) tuple");
    n->op = (int)PyLong_AsLong(PyTuple_GET_ITEM(t, 0));
    n->size = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 1));
    n->trusted = PyObject_IsTrue(PyTuple_GET_ITEM(t, 2));
    if (PyErr_Occurred())
        return -1;
    PyObject *kids = PyTuple_GET_ITEM(t, 3);
    n->nkids = PyTuple_GET_SIZE(kids);
    n->kids = PyMem_New(Py_ssize_t, n->nkids ? n->nkids : 1);
    if (n->kids == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < n->nkids; k++) {
        n->kids[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(kids, k));
        if (n->kids[k] == -1 && PyErr_Occurred())
            return -1;
    }
    n->a = none_to_null(PyTuple_GET_ITEM(t, 4));
    n->b = none_to_null(PyTuple_GET_ITEM(t, 5));
    n->c = none_to_null(PyTuple_GET_ITEM(t, 6));
    n->d = none_to_null(PyTuple_GET_ITEM(t, 7));
    return 0;
}

static int
program_init(ProgramObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"nodes", "root", NULL};
    PyObject *nodes;
    Py_ssize_t root;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!n:Program", kwlist, &PyList_Type, &nodes,
                                     &root))
        return -1;
    if (self->nodes != NULL) {
        PyErr_SetString(PyExc_TypeError, "a bsatn program cannot be re-initialised");
        return -1;
    }
    Py_ssize_t count = PyList_GET_SIZE(nodes);
    if (root < 0 || root >= count) {
        PyErr_SetString(PyExc_ValueError, "bsatn program: root out of range");
        return -1;
    }
    self->nodes = PyMem_New(Node, count);
    if (self->nodes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(self->nodes, 0, sizeof(Node) * (size_t)count);
    self->nnodes = count;
    for (Py_ssize_t i = 0; i < count; i++)
        if (read_node(&self->nodes[i], PyList_GET_ITEM(nodes, i), i) < 0)
            goto fail;
    for (Py_ssize_t i = 0; i < count; i++)
        if (check_node(self, i) < 0)
            goto fail;
    self->root = root;
    self->row_size = self->nodes[root].size;
    return 0;
fail:
    clear_nodes(self);
    return -1;
}

/* ---- running it --------------------------------------------------------------------- */

/* Start a run over the bytes object `o`. */
static int
start(ProgramObject *self, PyObject *o, St *s)
{
    if (self->nodes == NULL) {
        PyErr_SetString(PyExc_ValueError, "bsatn program is not initialised");
        return -1;
    }
    s->nodes = self->nodes;
    s->off = 0;
    s->depth = 0;
    return bsatn_bytes(o, &s->buf, &s->len);
}

static PyObject *
skip_failed(int r, Py_ssize_t row)
{
    PyObject *type = r == SKIP_DEEP ? bsatn_TooDeep : bsatn_Malformed;
    if (row < 0)
        PyErr_SetNone(type);
    else
        PyErr_Format(type, "%zd", row);
    return NULL;
}

/* Check the value at s->off and that it ends exactly at s->len. */
static int
skip_exact(ProgramObject *self, St *s)
{
    if (self->row_size >= 0 && s->len - s->off != self->row_size)
        return SKIP_BAD;
    int r = bsatn_skip(s, self->root);
    return r == SKIP_OK && s->off != s->len ? SKIP_BAD : r;
}

PyDoc_STRVAR(read_doc, "read(buf: bytes, off: int) -> (value, off)\n\n"
                       "Decode one value at off; returns it and the offset after it.");

static PyObject *
program_read(ProgramObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    St s;
    if (bsatn_nargs("read", nargs, 2) < 0 || start(self, args[0], &s) < 0)
        return NULL;
    s.off = PyLong_AsSsize_t(args[1]);
    if (s.off == -1 && PyErr_Occurred())
        return NULL;
    if (s.off < 0 || s.off > s.len) {
        PyErr_SetString(PyExc_ValueError, "offset outside the buffer");
        return NULL;
    }
    PyObject *v = bsatn_dec(&s, self->root);
    if (v == NULL)
        return NULL;
    PyObject *off = PyLong_FromSsize_t(s.off);
    PyObject *r = off == NULL ? NULL : PyTuple_New(2);
    if (r == NULL) {
        Py_DECREF(v);
        Py_XDECREF(off);
        return NULL;
    }
    PyTuple_SET_ITEM(r, 0, v);
    PyTuple_SET_ITEM(r, 1, off);
    return r;
}

/* One value filling the bytes object `o` exactly (Malformed for trailing bytes). */
static PyObject *
decode_exact(ProgramObject *self, PyObject *o)
{
    St s;
    if (start(self, o, &s) < 0)
        return NULL;
    PyObject *v = bsatn_dec(&s, self->root);
    if (v != NULL && s.off != s.len) {
        Py_DECREF(v);
        return bsatn_malformed();
    }
    return v;
}

PyDoc_STRVAR(decode_doc, "decode(buf: bytes) -> value\n\n"
                         "Decode one value that fills buf exactly.");

static PyObject *
program_decode(ProgramObject *self, PyObject *arg)
{
    return decode_exact(self, arg);
}

/* Decode (or, with `split`, check and cut out) back-to-back values filling the bytes. */
static PyObject *
walk_rows(ProgramObject *self, PyObject *arg, int split)
{
    St s;
    if (start(self, arg, &s) < 0)
        return NULL;
    Py_ssize_t size = self->row_size, i = 0;
    if (size == 0 || (size > 0 && s.len % size != 0))
        return bsatn_malformed();  /* the Python side handles the zero-size case */
    PyObject *out = PyList_New(size > 0 ? s.len / size : 0);
    if (out == NULL)
        return NULL;
    while (s.off < s.len) {
        Py_ssize_t before = s.off;
        PyObject *v;
        if (split) {
            int r = bsatn_skip(&s, self->root);
            v = r == SKIP_OK ? Py_None : skip_failed(r, -1);
        }
        else {
            v = bsatn_dec(&s, self->root);
        }
        if (v == NULL)
            goto fail;
        /* A row of no bytes cannot happen for a non-zero-size type (never loop), and a
         * fixed-size row is exactly its size (never write past the preallocated list). */
        if (s.off == before || (size > 0 && s.off - before != size)) {
            if (!split)
                Py_DECREF(v);
            bsatn_malformed();
            goto fail;
        }
        if (split)
            v = PyBytes_FromStringAndSize((const char *)s.buf + before, s.off - before);
        if (v == NULL)
            goto fail;
        if (size > 0) {
            PyList_SET_ITEM(out, i++, v);
        }
        else {
            int err = PyList_Append(out, v);
            Py_DECREF(v);
            if (err < 0)
                goto fail;
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(rows_doc, "rows(buf: bytes) -> list\n\n"
                       "Decode back-to-back values until the end of buf.");

static PyObject *
program_rows(ProgramObject *self, PyObject *arg)
{
    return walk_rows(self, arg, 0);
}

PyDoc_STRVAR(split_doc, "split(buf: bytes) -> list[bytes]\n\n"
                        "Cut back-to-back values out by their type, checking each one's bytes\n"
                        "(tags, bools, UTF-8, lengths) as rows() would, building no value.");

static PyObject *
program_split(ProgramObject *self, PyObject *arg)
{
    return walk_rows(self, arg, 1);
}

PyDoc_STRVAR(check_doc, "check(buf: bytes) -> None\n\n"
                        "Raise Malformed unless buf is exactly one value (nothing is built).");

static PyObject *
program_check(ProgramObject *self, PyObject *arg)
{
    St s;
    if (start(self, arg, &s) < 0)
        return NULL;
    int r = skip_exact(self, &s);
    if (r != SKIP_OK)
        return skip_failed(r, -1);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(check_each_doc,
             "check_each(rows: list[bytes]) -> None\n\n"
             "check() every row; Malformed(i) or TooDeep(i) names the first that fails.");

static PyObject *
program_check_each(ProgramObject *self, PyObject *arg)
{
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "check_each() needs a list of bytes");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(arg); i++) {  /* no Python code runs here */
        St s;
        if (start(self, PyList_GET_ITEM(arg, i), &s) < 0)
            return NULL;
        int r = skip_exact(self, &s);
        if (r != SKIP_OK)
            return skip_failed(r, i);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(decode_each_doc, "decode_each(rows: list[bytes]) -> list\n\n"
                              "decode() every row, in order.");

static PyObject *
program_decode_each(ProgramObject *self, PyObject *arg)
{
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "decode_each() needs a list of bytes");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(arg);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* A bound class could change the list: hold the row, never index past the end. */
        if (i >= PyList_GET_SIZE(arg)) {
            PyErr_SetString(PyExc_RuntimeError, "the row list changed size during decoding");
            Py_DECREF(out);
            return NULL;
        }
        PyObject *row = Py_NewRef(PyList_GET_ITEM(arg, i));
        PyObject *v = decode_exact(self, row);
        Py_DECREF(row);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

static PyObject *
program_get_fixed_size(ProgramObject *self, void *closure)
{
    if (self->nodes == NULL || self->row_size < 0)
        Py_RETURN_NONE;
    return PyLong_FromSsize_t(self->row_size);
}

static PyMethodDef program_methods[] = {
    {"read", (PyCFunction)(void (*)(void))program_read, METH_FASTCALL, read_doc},
    {"decode", (PyCFunction)program_decode, METH_O, decode_doc},
    {"rows", (PyCFunction)program_rows, METH_O, rows_doc},
    {"split", (PyCFunction)program_split, METH_O, split_doc},
    {"check", (PyCFunction)program_check, METH_O, check_doc},
    {"check_each", (PyCFunction)program_check_each, METH_O, check_each_doc},
    {"decode_each", (PyCFunction)program_decode_each, METH_O, decode_each_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef program_getset[] = {
    {"fixed_size", (getter)program_get_fixed_size, NULL,
     "the encoded size of every value, or None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(program_doc,
             "Program(nodes: list[tuple], root: int)\n\n"
             "A compiled BSATN type program (nodes from spacetimedb_sdk.sats._bsatn_ops.build).");

PyTypeObject bsatn_ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "spacetimedb_sdk._speedups._bsatn.Program",
    .tp_basicsize = sizeof(ProgramObject),
    .tp_dealloc = (destructor)program_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = program_doc,
    .tp_traverse = (traverseproc)program_traverse,
    .tp_clear = (inquiry)program_clear,
    .tp_methods = program_methods,
    .tp_getset = program_getset,
    .tp_init = (initproc)program_init,
    .tp_new = PyType_GenericNew,
};
