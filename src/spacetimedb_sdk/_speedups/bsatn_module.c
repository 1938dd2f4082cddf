/* spacetimedb_sdk._speedups._bsatn: BSATN decoding of compiled type programs, row splitting
 * and a validating skip; the optional compiled half of sats.bsatn and protocol (see
 * _speedups/__init__.py and docs/architecture.md).
 *
 * A Program (bsatn_program.c) is built from the nodes that sats/_bsatn_ops.py derives from a
 * type; running it (bsatn_decode.c) builds exactly the values the generated Python decoders
 * of sats/_bsatn_gen.py build, and fails exactly where they fail.  Failures raise Malformed
 * (the bytes are wrong: the Python side re-runs its slow path, which names the type path and
 * offset) or TooDeep (nesting beyond what this C code recurses into: the Python side decodes
 * that value itself).  Exceptions raised by bound classes propagate.
 *
 * Rules kept throughout: every length is checked against the bytes left before it is used;
 * a count is checked against the bytes left before a list is allocated for it; every
 * reference taken is released on every path.  This file: row-list slicing and the module; bsatn_frames.c reads the commonest
 * server message. */

#include "bsatn.h"

PyObject *bsatn_Malformed;
PyObject *bsatn_TooDeep;
PyObject *bsatn_EmptyTuple;

/* The bytes of a bytes object (the Python side converts other buffers first). */
int
bsatn_bytes(PyObject *o, const unsigned char **buf, Py_ssize_t *len)
{
    if (!PyBytes_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected bytes, not %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    *buf = (const unsigned char *)PyBytes_AS_STRING(o);
    *len = PyBytes_GET_SIZE(o);
    return 0;
}

/* A METH_FASTCALL function's argument count. */
int
bsatn_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs == want)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, want, nargs);
    return -1;
}

PyDoc_STRVAR(slice_fixed_doc,
             "slice_fixed(data: bytes, size: int) -> list[bytes]\n\n"
             "data cut into size-byte rows; len(data) must be a multiple of size > 0.");

static PyObject *
slice_fixed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const unsigned char *buf;
    Py_ssize_t len;
    if (bsatn_nargs("slice_fixed", nargs, 2) < 0 || bsatn_bytes(args[0], &buf, &len) < 0)
        return NULL;
    Py_ssize_t size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred())
        return NULL;
    if (size <= 0 || len % size != 0) {
        PyErr_SetString(PyExc_ValueError, "data is not a whole number of rows of this size");
        return NULL;
    }
    return bsatn_cut(buf, len / size, size);
}

/* n rows of size bytes each, back to back from buf, as a new list of bytes. */
PyObject *
bsatn_cut(const unsigned char *buf, Py_ssize_t n, Py_ssize_t size)
{
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyBytes_FromStringAndSize((const char *)buf + i * size, size);
        if (row == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, row);
    }
    return out;
}

PyDoc_STRVAR(slice_offsets_doc,
             "slice_offsets(data: bytes, offsets: tuple[int, ...]) -> list[bytes]\n\n"
             "Row i is data[offsets[i]:offsets[i + 1]] (the last runs to the end); the offsets\n"
             "must start at 0, ascend and stay within data.");

static PyObject *
slice_offsets(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const unsigned char *buf;
    Py_ssize_t len;
    if (bsatn_nargs("slice_offsets", nargs, 2) < 0 || bsatn_bytes(args[0], &buf, &len) < 0)
        return NULL;
    if (!PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "offsets must be a tuple of int");
        return NULL;
    }
    PyObject *offs = args[1];
    Py_ssize_t n = PyTuple_GET_SIZE(offs);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    Py_ssize_t begin = n ? PyLong_AsSsize_t(PyTuple_GET_ITEM(offs, 0)) : 0;
    if (begin == -1 && PyErr_Occurred())
        goto fail;
    if (begin != 0) {
        PyErr_SetString(PyExc_ValueError, "the first row offset must be 0");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t end = len;
        if (i + 1 < n) {
            end = PyLong_AsSsize_t(PyTuple_GET_ITEM(offs, i + 1));
            if (end == -1 && PyErr_Occurred())
                goto fail;
        }
        if (end < begin || end > len) {
            PyErr_SetString(PyExc_ValueError, "row offsets must ascend within the data");
            goto fail;
        }
        PyObject *row = PyBytes_FromStringAndSize((const char *)buf + begin, end - begin);
        if (row == NULL)
            goto fail;
        PyList_SET_ITEM(out, i, row);
        begin = end;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(utf8_valid_doc, "utf8_valid(data: bytes) -> bool\n\n"
                             "Whether str(data, 'utf-8') would succeed (the skip's check).");

static PyObject *
py_utf8_valid(PyObject *module, PyObject *arg)
{
    const unsigned char *buf;
    Py_ssize_t len;
    if (bsatn_bytes(arg, &buf, &len) < 0)
        return NULL;
    return PyBool_FromLong(bsatn_utf8_valid(buf, len));
}

static PyMethodDef module_methods[] = {
    {"slice_fixed", (PyCFunction)(void (*)(void))slice_fixed, METH_FASTCALL, slice_fixed_doc},
    {"slice_offsets", (PyCFunction)(void (*)(void))slice_offsets, METH_FASTCALL,
     slice_offsets_doc},
    {"utf8_valid", (PyCFunction)py_utf8_valid, METH_O, utf8_valid_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef bsatn_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "spacetimedb_sdk._speedups._bsatn",
    .m_doc = "BSATN decoding of compiled type programs (the optional C half of sats.bsatn).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__bsatn(void)
{
    if (PyType_Ready(&bsatn_ProgramType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&bsatn_module);
    if (m == NULL)
        return NULL;
    if (bsatn_Malformed == NULL) {
        bsatn_Malformed = PyErr_NewExceptionWithDoc(
            "spacetimedb_sdk._speedups._bsatn.Malformed",
            "The bytes are not a value of the program's type (the Python decoder says why).",
            NULL, NULL);
        bsatn_TooDeep = PyErr_NewExceptionWithDoc(
            "spacetimedb_sdk._speedups._bsatn.TooDeep",
            "The value nests deeper than the extension recurses (the Python decoder takes it).",
            NULL, NULL);
        bsatn_EmptyTuple = PyTuple_New(0);
        if (bsatn_Malformed == NULL || bsatn_TooDeep == NULL || bsatn_EmptyTuple == NULL)
            goto fail;
    }
    if (PyModule_AddObjectRef(m, "Malformed", bsatn_Malformed) < 0 ||
        PyModule_AddObjectRef(m, "TooDeep", bsatn_TooDeep) < 0 ||
        PyModule_AddObjectRef(m, "Program", (PyObject *)&bsatn_ProgramType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DEPTH", MAX_DEPTH) < 0 ||
        PyModule_AddIntConstant(m, "MAX_ZERO_SIZE_ELEMENTS", MAX_ZERO_SIZE_ELEMENTS) < 0 ||
        PyModule_AddFunctions(m, bsatn_frames_methods) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
