/* The one-table TransactionUpdate of protocol/fast.py, read in C: table_tx().
 *
 * The same shape test and the same row splitting as fast.decode_table_tx and fast._rows,
 * which stay the reference: a message of any other shape, or malformed in any way, gives
 * None, and the generic Python decoder handles (and, for bad bytes, reports) it.  Every
 * length and count is checked against the bytes left before it is used. */

#include "bsatn.h"

static uint32_t
rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t
rd_u64(const unsigned char *p)
{
    return (uint64_t)rd_u32(p) | ((uint64_t)rd_u32(p + 4) << 32);
}

/* A BsatnRowList at *off split into rows: a new list, with *off moved past it.  NULL with
 * no exception set when the bytes are not a well-formed list; NULL with one on failure. */
static PyObject *
row_list(const unsigned char *buf, Py_ssize_t len, Py_ssize_t *off)
{
    Py_ssize_t o = *off;
    if (o >= len)
        return NULL;
    unsigned char tag = buf[o];
    if (tag == 1) { /* RowOffsets: n u32, n u64 offsets, then the data's u32 length */
        if (len - o < 5)
            return NULL;
        Py_ssize_t n = (Py_ssize_t)rd_u32(buf + o + 1);
        if ((len - o - 5) / 8 < n || len - o - 5 - 8 * n < 4)
            return NULL;
        const unsigned char *offs = buf + o + 5;
        Py_ssize_t start = o + 5 + 8 * n + 4;
        Py_ssize_t ln = (Py_ssize_t)rd_u32(buf + start - 4);
        if (len - start < ln)
            return NULL;
        if (n == 0) {
            if (ln)
                return NULL;
            *off = start;
            return PyList_New(0);
        }
        if (rd_u64(offs) != 0)
            return NULL;
        uint64_t prev = 0;
        for (Py_ssize_t i = 1; i < n; i++) { /* ascending (not strictly), within the data */
            uint64_t cur = rd_u64(offs + 8 * i);
            if (cur < prev)
                return NULL;
            prev = cur;
        }
        if (prev > (uint64_t)ln)
            return NULL;
        PyObject *out = PyList_New(n);
        if (out == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t b = (Py_ssize_t)rd_u64(offs + 8 * i);
            Py_ssize_t e = i + 1 < n ? (Py_ssize_t)rd_u64(offs + 8 * (i + 1)) : ln;
            PyObject *row = PyBytes_FromStringAndSize((const char *)buf + start + b, e - b);
            if (row == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(out, i, row);
        }
        *off = start + ln;
        return out;
    }
    if (tag == 0) { /* FixedSize: the row size u16, then the data's u32 length */
        if (len - o < 7)
            return NULL;
        Py_ssize_t size = (Py_ssize_t)buf[o + 1] | ((Py_ssize_t)buf[o + 2] << 8);
        Py_ssize_t ln = (Py_ssize_t)rd_u32(buf + o + 3);
        Py_ssize_t start = o + 7;
        if (len - start < ln)
            return NULL;
        if (size == 0 ? ln != 0 : ln % size != 0)
            return NULL;
        PyObject *out = bsatn_cut(buf + start, size ? ln / size : 0, size);
        if (out != NULL)
            *off = start + ln;
        return out;
    }
    return NULL;
}

PyDoc_STRVAR(table_tx_doc,
             "table_tx(cls: type, data: bytes, offset: int) -> tuple[Any, int] | None\n\n"
             "The one-table TransactionUpdate at offset as (tx, end), or None when the message\n"
             "has another shape or is malformed (protocol/fast.py's decode_table_tx, in C).\n"
             "tx is a cls made without calling __init__: its attributes query_set_id, table,\n"
             "inserts, deletes and events are set directly.");

/* The attributes of a TableTx, in the order of tx_values below. */
static const char *const tx_attr_names[5] = {"query_set_id", "table", "inserts", "deletes",
                                             "events"};
static PyObject *tx_attrs[5];

/* A cls instance with the five attributes set, without a Python __init__ call: a frame
 * per message costs more than the rest of this function. */
static PyObject *
make_tx(PyObject *cls, PyObject *const values[5])
{
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "table_tx: the first argument must be a class");
        return NULL;
    }
    if (tx_attrs[0] == NULL) {
        for (int i = 0; i < 5; i++) {
            PyObject *name = PyUnicode_InternFromString(tx_attr_names[i]);
            if (name == NULL)
                return NULL;
            Py_XSETREF(tx_attrs[i], name);
        }
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    PyObject *obj = type->tp_alloc(type, 0);
    if (obj == NULL)
        return NULL;
    for (int i = 0; i < 5; i++) {
        if (PyObject_SetAttr(obj, tx_attrs[i], values[i]) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}

static PyObject *
table_tx(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const unsigned char *buf;
    Py_ssize_t len;
    if (bsatn_nargs("table_tx", nargs, 3) < 0 || bsatn_bytes(args[1], &buf, &len) < 0)
        return NULL;
    Py_ssize_t o = PyLong_AsSsize_t(args[2]);
    if (o == -1 && PyErr_Occurred())
        return NULL;
    /* The tag, query sets, set id, tables and the name's length. */
    if (o < 0 || o >= len || len - o < 17 || buf[o] != 4)
        Py_RETURN_NONE;
    uint32_t n_sets = rd_u32(buf + o + 1), set_id = rd_u32(buf + o + 5);
    uint32_t n_tables = rd_u32(buf + o + 9);
    Py_ssize_t name_len = (Py_ssize_t)rd_u32(buf + o + 13);
    Py_ssize_t p = o + 17;
    if (n_sets != 1 || n_tables != 1 || len - p < name_len)
        Py_RETURN_NONE;
    Py_ssize_t after_name = p + name_len;
    /* One row-list entry, and its tag: 0 persistent (inserts, deletes), 1 event rows. */
    if (len - after_name < 5 || rd_u32(buf + after_name) != 1 || buf[after_name + 4] > 1)
        Py_RETURN_NONE;
    int event = buf[after_name + 4] == 1;
    PyObject *name = NULL, *first = NULL, *second = NULL, *made = NULL;
    name = PyUnicode_DecodeUTF8((const char *)buf + p, name_len, "strict");
    if (name == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    p = after_name + 5;
    first = row_list(buf, len, &p);
    if (first == NULL)
        goto not_this;
    if (event) {
        second = PyList_New(0);
        if (second == NULL)
            goto fail;
        PyObject *empty = PyList_New(0);
        if (empty == NULL)
            goto fail;
        PyObject *values[5] = {NULL, name, second, empty, first};
        values[0] = PyLong_FromUnsignedLong(set_id);
        if (values[0] == NULL) {
            Py_DECREF(empty);
            goto fail;
        }
        made = make_tx(args[0], values);
        Py_DECREF(values[0]);
        Py_DECREF(empty);
    }
    else {
        second = row_list(buf, len, &p);
        if (second == NULL)
            goto not_this;
        PyObject *values[5] = {NULL, name, first, second, Py_None};
        values[0] = PyLong_FromUnsignedLong(set_id);
        if (values[0] == NULL)
            goto fail;
        made = make_tx(args[0], values);
        Py_DECREF(values[0]);
    }
    Py_DECREF(name);
    Py_DECREF(first);
    Py_DECREF(second);
    if (made == NULL)
        return NULL;
    PyObject *end = PyLong_FromSsize_t(p);
    if (end == NULL) {
        Py_DECREF(made);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, made, end);
    Py_DECREF(made);
    Py_DECREF(end);
    return out;
not_this:
    if (PyErr_Occurred())
        goto fail;
    Py_DECREF(name);
    Py_XDECREF(first);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(name);
    Py_XDECREF(first);
    Py_XDECREF(second);
    return NULL;
}

PyMethodDef bsatn_frames_methods[] = {
    {"table_tx", (PyCFunction)(void (*)(void))table_tx, METH_FASTCALL, table_tx_doc},
    {NULL, NULL, 0, NULL},
};
