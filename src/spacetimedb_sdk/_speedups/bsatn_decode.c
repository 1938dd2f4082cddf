/* Running a program: dec() builds values, skip() checks bytes without building anything.
 *
 * Both fail exactly where the generated Python decoders of sats/_bsatn_gen.py fail: a
 * truncated value, a bool byte other than 0/1, a tag past the variants, invalid UTF-8, a
 * length prefix beyond the bytes left (or, for arrays of variable-size elements, a count
 * beyond them: every such element takes at least one byte), more than
 * MAX_ZERO_SIZE_ELEMENTS zero-size elements.  Every length is checked against the bytes
 * left before it is used, every count before a list is allocated for it. */

#include "bsatn.h"

/* ---- little-endian loads ------------------------------------------------------------ */

static inline uint16_t ld16(const unsigned char *p) {
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}
static inline uint32_t ld32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t ld64(const unsigned char *p) {
    return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32);
}

static PyObject *
long_from_le(const unsigned char *p, Py_ssize_t n, int is_signed)
{
#if PY_VERSION_HEX >= 0x030D0000
    int flags = Py_ASNATIVEBYTES_LITTLE_ENDIAN;
    return is_signed ? PyLong_FromNativeBytes(p, (size_t)n, flags)
                     : PyLong_FromUnsignedNativeBytes(p, (size_t)n, flags);
#else
    return _PyLong_FromByteArray(p, (size_t)n, 1, is_signed);
#endif
}

/* struct's '<f' and '<d' use these very functions, so NaN payloads come out the same. */
static PyObject *
float_from_le(const unsigned char *p, int is_f32)
{
#if PY_VERSION_HEX >= 0x030B0000
    double x = is_f32 ? PyFloat_Unpack4((const char *)p, 1) : PyFloat_Unpack8((const char *)p, 1);
#else
    double x = is_f32 ? _PyFloat_Unpack4(p, 1) : _PyFloat_Unpack8(p, 1);
#endif
    if (x == -1.0 && PyErr_Occurred())
        return NULL;
    return PyFloat_FromDouble(x);
}

/* ---- UTF-8 validation, as strict as str(b, "utf-8") (Unicode table 3-7) ---------------- */

int
bsatn_utf8_valid(const unsigned char *s, Py_ssize_t n)
{
    const unsigned char *end = s + n;
    while (s < end) {
        if (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if (!(w & 0x8080808080808080ULL)) {
                s += 8;
                continue;
            }
        }
        unsigned char c = *s;
        if (c < 0x80) {
            s++;
        }
        else if (c < 0xC2) {
            return 0;  /* a continuation byte, or an overlong 2-byte lead */
        }
        else if (c < 0xE0) {
            if (end - s < 2 || (s[1] & 0xC0) != 0x80)
                return 0;
            s += 2;
        }
        else if (c < 0xF0) {
            if (end - s < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
                return 0;  /* overlong, or a surrogate */
            s += 3;
        }
        else if (c < 0xF5) {
            if (end - s < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
                (s[3] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
                return 0;  /* overlong, or past U+10FFFF */
            s += 4;
        }
        else {
            return 0;
        }
    }
    return 1;
}

/* str(b, "utf-8") for valid and invalid input alike, faster for text that is not all ASCII
 * (CPython's decoder then goes through a growing writer): after the strict check, one pass
 * counts the code points and finds the widest lead byte, the second writes them into a str
 * made exactly as wide as its widest character (the canonical form every str has, so the
 * result is equal and alike in every way).  Invalid input raises Malformed; the Python side
 * then names the offset. */
static PyObject *
decode_utf8(const unsigned char *s, Py_ssize_t n)
{
    const unsigned char *p = s, *end = s + n;
    Py_ssize_t count = 0;
    unsigned char lead_max = 0;
    while (p < end && *p < 0x80)
        p++;
    if (p == end)  /* all ASCII: CPython's own path is a straight copy */
        return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    if (!bsatn_utf8_valid(p, end - p))
        return bsatn_malformed();
    count = p - s;
    for (const unsigned char *q = p; q < end; q++) {
        if ((*q & 0xC0) != 0x80) {  /* every byte but continuation bytes starts a code point */
            count++;
            if (*q > lead_max)
                lead_max = *q;
        }
    }
    /* The widest lead byte says exactly how wide the str must be: C2-C3 lead U+0080..U+00FF
     * (1 byte a character), C4-EF lead U+0100..U+FFFF (2 bytes), F0-F4 U+10000 and up. */
    Py_UCS4 maxchar = lead_max < 0xC4 ? 0xFF : (lead_max < 0xF0 ? 0xFFFF : 0x10FFFF);
    PyObject *u = PyUnicode_New(count, maxchar);
    if (u == NULL)
        return NULL;
    int kind = PyUnicode_KIND(u);
    void *data = PyUnicode_DATA(u);
    Py_ssize_t i = 0;
    for (p = s; p < end; i++) {
        Py_UCS4 c = *p;
        if (c < 0x80) {
            p += 1;
        }
        else if (c < 0xE0) {
            c = ((c & 0x1F) << 6) | (p[1] & 0x3F);
            p += 2;
        }
        else if (c < 0xF0) {
            c = ((c & 0x0F) << 12) | ((Py_UCS4)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            p += 3;
        }
        else {
            c = ((c & 0x07) << 18) | ((Py_UCS4)(p[1] & 0x3F) << 12) |
                ((Py_UCS4)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
            p += 4;
        }
        PyUnicode_WRITE(kind, data, i, c);
    }
    return u;
}

/* ---- building values ------------------------------------------------------------------- */

PyObject *
bsatn_malformed(void)
{
    PyErr_SetNone(bsatn_Malformed);
    return NULL;
}

/* A class object.__new__ may instantiate: only heap types between it and object. */
int
bsatn_plain_class(PyObject *o)
{
    if (!PyType_Check(o) || (((PyTypeObject *)o)->tp_flags & Py_TPFLAGS_IS_ABSTRACT))
        return 0;
    PyTypeObject *t = (PyTypeObject *)o;
    while (t != NULL && (t->tp_flags & Py_TPFLAGS_HEAPTYPE))
        t = t->tp_base;
    return t == &PyBaseObject_Type;
}

/* cls(*args), or, when `slots` is given, what it amounts to for a frozen slotted dataclass
 * (sats/_bsatn_ops.py checks that it does): object.__new__(cls), then each slot set. */
static PyObject *
make(PyObject *cls, PyObject *slots, PyObject *const *args, Py_ssize_t n)
{
    if (slots == NULL)
        return PyObject_Vectorcall(cls, args, (size_t)n, NULL);
    PyObject *o = PyBaseObject_Type.tp_new((PyTypeObject *)cls, bsatn_EmptyTuple, NULL);
    if (o == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyTuple_GET_ITEM(slots, i);
        if (Py_TYPE(d)->tp_descr_set(d, o, args[i]) < 0) {
            Py_DECREF(o);
            return NULL;
        }
    }
    return o;
}

/* make() with one argument, consumed (NULL passes through). */
static PyObject *
make1(PyObject *cls, PyObject *slots, PyObject *arg)
{
    if (arg == NULL)
        return NULL;
    PyObject *o = make(cls, slots, &arg, 1);
    Py_DECREF(arg);
    return o;
}

/* Identity, ConnectionId, Timestamp, TimeDuration, UUID from their raw bytes at p. */
static PyObject *
dec_special(const Node *n, const unsigned char *p)
{
    if (n->b == NULL) {  /* no slots to set: the Python maker, given the raw bytes */
        PyObject *raw = PyBytes_FromStringAndSize((const char *)p, n->size);
        return raw == NULL ? NULL : make1(n->a, NULL, raw);
    }
    PyObject *args[4];
    Py_ssize_t nargs = 1 + (n->c != NULL ? PyTuple_GET_SIZE(n->c) : 0);
    args[0] = n->size == 8 ? PyLong_FromLongLong((int64_t)ld64(p))
                           : long_from_le(p, n->size, n->d != NULL);
    if (args[0] == NULL)
        return NULL;
    for (Py_ssize_t i = 1; i < nargs; i++)
        args[i] = PyTuple_GET_ITEM(n->c, i - 1);
    PyObject *o = make(n->a, n->b, args, nargs);
    Py_DECREF(args[0]);
    return o;
}

/* Decode a child node, one level deeper. */
static PyObject *
dec_kid(St *s, Py_ssize_t index)
{
    if (++s->depth > MAX_DEPTH) {
        s->depth--;
        PyErr_SetNone(bsatn_TooDeep);
        return NULL;
    }
    PyObject *v = bsatn_dec(s, index);
    s->depth--;
    return v;
}

/* Read a u32 length prefix; -1 if the prefix itself is cut short. */
static inline Py_ssize_t
read_len(St *s)
{
    if (s->len - s->off < 4)
        return -1;
    uint32_t n = ld32(s->buf + s->off);
    s->off += 4;
    return (Py_ssize_t)n;
}

/* The one-byte tag of a sum, checked against its variant count; -1 if bad. */
static inline int
read_tag(St *s, Py_ssize_t nvariants)
{
    if (s->off >= s->len)
        return -1;
    unsigned char tag = s->buf[s->off];
    if (tag >= nvariants)
        return -1;
    s->off++;
    return tag;
}

/* The element count of an array, checked as the Python decoders check it; -1 if bad. */
static Py_ssize_t
array_count(St *s, const Node *elem)
{
    Py_ssize_t cnt = read_len(s);
    if (cnt < 0)
        return -1;
    Py_ssize_t left = s->len - s->off;
    if (elem->size == 0)
        return cnt > MAX_ZERO_SIZE_ELEMENTS ? -1 : cnt;
    if (elem->size > 0)
        return (uint64_t)cnt * (uint64_t)elem->size > (uint64_t)left ? -1 : cnt;
    return cnt > left ? -1 : cnt;  /* every variable-size value takes at least one byte */
}

static PyObject *
dec_array(St *s, const Node *n)
{
    Py_ssize_t cnt = array_count(s, &s->nodes[n->kids[0]]);
    if (cnt < 0)
        return bsatn_malformed();
    PyObject *list = PyList_New(cnt);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < cnt; i++) {
        PyObject *v = dec_kid(s, n->kids[0]);
        if (v == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

static PyObject *
dec_product(St *s, const Node *n)
{
    PyObject *d = PyDict_Copy(n->a);  /* the template: laid out as a dict display would be */
    if (d == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n->nkids; i++) {
        PyObject *v = dec_kid(s, n->kids[i]);
        if (v == NULL || PyDict_SetItem(d, PyTuple_GET_ITEM(n->b, i), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

/* Product classes with more fields than this get their argument array from the heap. */
#define STACK_ARGS 32

static PyObject *
dec_class(St *s, const Node *n)
{
    PyObject *stack[STACK_ARGS];
    PyObject **args = stack;
    Py_ssize_t i, got = 0;
    PyObject *r = NULL;
    if (n->nkids > STACK_ARGS) {
        args = PyMem_New(PyObject *, n->nkids);
        if (args == NULL)
            return PyErr_NoMemory();
    }
    for (i = 0; i < n->nkids; i++) {
        args[i] = dec_kid(s, n->kids[i]);
        if (args[i] == NULL)
            goto done;
        got++;
    }
    r = make(n->a, n->b, args, n->nkids);
done:
    for (i = 0; i < got; i++)
        Py_DECREF(args[i]);
    if (args != stack)
        PyMem_Free(args);
    return r;
}

static PyObject *
dec_sum(St *s, const Node *n)
{
    int tag = read_tag(s, n->nkids);
    if (tag < 0)
        return bsatn_malformed();
    if (n->op == OP_SUM_CLASS) {
        PyObject *cls = PyTuple_GET_ITEM(n->a, tag);
        PyObject *slots = n->b != NULL ? PyTuple_GET_ITEM(n->b, tag) : Py_None;
        slots = slots == Py_None ? NULL : slots;
        if (n->kids[tag] < 0)
            return make(cls, slots, NULL, 0);
        return make1(cls, slots, dec_kid(s, n->kids[tag]));
    }
    if (n->kids[tag] < 0)
        return Py_NewRef(PyTuple_GET_ITEM(n->b, tag));
    PyObject *args[2] = {PyTuple_GET_ITEM(n->a, tag), dec_kid(s, n->kids[tag])};
    if (args[1] == NULL)
        return NULL;
    PyObject *w = make(n->c, n->d, args, 2);
    Py_DECREF(args[1]);
    return w;
}

PyObject *
bsatn_dec(St *s, Py_ssize_t index)
{
    const Node *n = &s->nodes[index];
    const unsigned char *p = s->buf + s->off;
    if (n->size > s->len - s->off)
        return bsatn_malformed();
    switch (n->op) {
    case OP_BOOL:
        if (p[0] > 1)
            return bsatn_malformed();
        s->off += 1;
        return Py_NewRef(p[0] ? Py_True : Py_False);
    case OP_I8:
        s->off += 1;
        return PyLong_FromLong((signed char)p[0]);
    case OP_U8:
        s->off += 1;
        return PyLong_FromLong(p[0]);
    case OP_I16:
        s->off += 2;
        return PyLong_FromLong((int16_t)ld16(p));
    case OP_U16:
        s->off += 2;
        return PyLong_FromLong(ld16(p));
    case OP_I32:
        s->off += 4;
        return PyLong_FromLong((int32_t)ld32(p));
    case OP_U32:
        s->off += 4;
        return PyLong_FromUnsignedLong(ld32(p));
    case OP_I64:
        s->off += 8;
        return PyLong_FromLongLong((int64_t)ld64(p));
    case OP_U64:
        s->off += 8;
        return PyLong_FromUnsignedLongLong(ld64(p));
    case OP_I128:
    case OP_U128:
    case OP_I256:
    case OP_U256:
        s->off += n->size;
        return long_from_le(p, n->size, n->op == OP_I128 || n->op == OP_I256);
    case OP_F32:
        s->off += 4;
        return float_from_le(p, 1);
    case OP_F64:
        s->off += 8;
        return float_from_le(p, 0);
    case OP_STRING:
    case OP_BYTES: {
        Py_ssize_t len = read_len(s);
        if (len < 0 || len > s->len - s->off)
            return bsatn_malformed();
        const char *start = (const char *)s->buf + s->off;
        s->off += len;
        if (n->op == OP_BYTES)
            return PyBytes_FromStringAndSize(start, len);
        return decode_utf8((const unsigned char *)start, len);
    }
    case OP_ARRAY:
        return dec_array(s, n);
    case OP_PRODUCT:
        return dec_product(s, n);
    case OP_CLASS:
        return dec_class(s, n);
    case OP_OPTION: {
        int tag = read_tag(s, 2);
        if (tag < 0)
            return bsatn_malformed();
        if (tag == 1)
            Py_RETURN_NONE;
        PyObject *v = dec_kid(s, n->kids[0]);
        return n->a == NULL ? v : make1(n->a, n->b, v);
    }
    case OP_SUM:
    case OP_SUM_CLASS:
        return dec_sum(s, n);
    case OP_ENUM: {
        int tag = read_tag(s, PyTuple_GET_SIZE(n->a));
        if (tag < 0)
            return bsatn_malformed();
        return Py_NewRef(PyTuple_GET_ITEM(n->a, tag));
    }
    case OP_SPECIAL:
        s->off += n->size;
        return dec_special(n, p);
    }
    PyErr_SetString(PyExc_SystemError, "bsatn program: unknown op");
    return NULL;
}

/* ---- the validating skip: fails exactly where bsatn_dec() fails on the bytes ------------ */

static inline int
skip_kid(St *s, Py_ssize_t index)
{
    if (++s->depth > MAX_DEPTH) {
        s->depth--;
        return SKIP_DEEP;
    }
    int r = bsatn_skip(s, index);
    s->depth--;
    return r;
}

int
bsatn_skip(St *s, Py_ssize_t index)
{
    const Node *n = &s->nodes[index];
    const unsigned char *p = s->buf + s->off;
    int r, tag;
    if (n->size > s->len - s->off)
        return SKIP_BAD;
    if (n->trusted) {
        s->off += n->size;
        return SKIP_OK;
    }
    switch (n->op) {
    case OP_BOOL:
        if (p[0] > 1)
            return SKIP_BAD;
        s->off += 1;
        return SKIP_OK;
    case OP_STRING:
    case OP_BYTES: {
        Py_ssize_t len = read_len(s);
        if (len < 0 || len > s->len - s->off)
            return SKIP_BAD;
        if (n->op == OP_STRING && !bsatn_utf8_valid(s->buf + s->off, len))
            return SKIP_BAD;
        s->off += len;
        return SKIP_OK;
    }
    case OP_ARRAY: {
        const Node *e = &s->nodes[n->kids[0]];
        Py_ssize_t cnt = array_count(s, e);
        if (cnt < 0)
            return SKIP_BAD;
        if (e->trusted) {
            s->off += cnt * e->size;
            return SKIP_OK;
        }
        for (Py_ssize_t i = 0; i < cnt; i++)
            if ((r = skip_kid(s, n->kids[0])) != SKIP_OK)
                return r;
        return SKIP_OK;
    }
    case OP_PRODUCT:
    case OP_CLASS:
        for (Py_ssize_t i = 0; i < n->nkids; i++)
            if ((r = skip_kid(s, n->kids[i])) != SKIP_OK)
                return r;
        return SKIP_OK;
    case OP_OPTION:
        if ((tag = read_tag(s, 2)) < 0)
            return SKIP_BAD;
        return tag == 1 ? SKIP_OK : skip_kid(s, n->kids[0]);
    case OP_SUM:
    case OP_SUM_CLASS:
        if ((tag = read_tag(s, n->nkids)) < 0)
            return SKIP_BAD;
        return n->kids[tag] < 0 ? SKIP_OK : skip_kid(s, n->kids[tag]);
    case OP_ENUM:
        return read_tag(s, PyTuple_GET_SIZE(n->a)) < 0 ? SKIP_BAD : SKIP_OK;
    default:  /* numbers and specials are trusted: not reached */
        s->off += n->size;
        return SKIP_OK;
    }
}
