/* gin's access-log lines of a batch written into one bytes object: the native path of the renderer in
 * krakenpy.telemetry.ginline (optional: built beside the mypyc hot path, see setup.py).
 *
 * lines(entries, locate, head, low, high) -> bytes | None
 *
 * entries: a list of GinEntry tuples (end, status, latency_ns, client_ip, method, target, error).
 * head: the time text ("[GIN] 2006/01/02 - 15:04:05 | ", bytes) of the ends in [low, high); an end
 * outside that range is handed to locate(end), which returns the (head, low, high) of its second
 * (and keeps the renderer's own state: the Python renderer's second, minute and texts).
 *
 * Each line is, byte for byte, what the Python renderer (ginline.gin_renderer, the reference) writes:
 *   head + status (%3d) + " | " + latency (Go's Duration.String, right-aligned in 13 columns) + " | "
 *   + address (right-aligned in 15) + " | " + method (left-aligned in 7) + "  \"" + target + "\"\n"
 *   [+ "Error #01: " + the error with CR and LF written \r and \n + "\n"]
 * The latency's "µ" is written as its two UTF-8 bytes and counts as one column, as in Python.
 *
 * None: some entry is not a usual one (not a tuple of seven; an end, status or latency that is not an
 * int or out of the ranges written here: status 0-999, latency 1 µs up to 1 s; an address, method,
 * target or error that is not ASCII text; a target Go would quote: a control character, DEL, a quote
 * or a backslash), or a second's range is beyond int64. The caller then renders the whole batch in
 * Python: nothing unusual is written here. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* An exact int as int64: its digits read directly on CPython 3.11 (30-bit digits, the signed count in
 * ob_size; at most three digits, below 2**63), the API otherwise. 0: not an int64 (or not an exact
 * int); no exception is left set. */
static inline int
as_int64(PyObject *o, int64_t *v)
{
    if (!PyLong_CheckExact(o)) {
        return 0;
    }
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
    Py_ssize_t size = Py_SIZE(o);
    const digit *d = ((PyLongObject *)o)->ob_digit;
    uint64_t mag;
    switch (size < 0 ? -size : size) {
    case 0:
        *v = 0;
        return 1;
    case 1:
        mag = (uint64_t)d[0];
        break;
    case 2:
        mag = (uint64_t)d[0] | ((uint64_t)d[1] << 30);
        break;
    case 3:
        if (d[2] >> 3) {
            return 0; /* 2**63 or more */
        }
        mag = (uint64_t)d[0] | ((uint64_t)d[1] << 30) | ((uint64_t)d[2] << 60);
        break;
    default:
        return 0;
    }
    *v = size < 0 ? -(int64_t)mag : (int64_t)mag;
    return 1;
#else
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *v = (int64_t)x;
    return 1;
#endif
}

/* ASCII text: its bytes and length; 0 for anything else */
static inline int
as_ascii(PyObject *o, const char **s, Py_ssize_t *n)
{
    if (!PyUnicode_CheckExact(o)) {
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(o) < 0) {
        PyErr_Clear();
        return 0;
    }
#endif
    if (!PyUnicode_IS_ASCII(o)) {
        return 0;
    }
    *s = (const char *)PyUnicode_DATA(o);
    *n = PyUnicode_GET_LENGTH(o);
    return 1;
}

/* a target written between plain quotes: printable ASCII, no quote, no backslash */
static inline int
plain_target(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') {
            return 0;
        }
    }
    return 1;
}

/* the output: a bytes object no Python code sees before it is returned, written in place */
typedef struct {
    PyObject *obj;
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int
reserve(Buf *b, Py_ssize_t extra)
{
    if (b->len > PY_SSIZE_T_MAX / 2 - extra) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap * 2 > need ? b->cap * 2 : need;
    if (_PyBytes_Resize(&b->obj, cap) < 0) {
        b->obj = NULL; /* freed by _PyBytes_Resize */
        return -1;
    }
    b->data = PyBytes_AS_STRING(b->obj);
    b->cap = cap;
    return 0;
}

/* the decimal digits of 0 <= v < 1000, written at p; their count */
static inline int
digits3(char *p, int v)
{
    if (v >= 100) {
        p[0] = (char)('0' + v / 100);
        p[1] = (char)('0' + v / 10 % 10);
        p[2] = (char)('0' + v % 10);
        return 3;
    }
    if (v >= 10) {
        p[0] = (char)('0' + v / 10);
        p[1] = (char)('0' + v % 10);
        return 2;
    }
    p[0] = (char)('0' + v);
    return 1;
}

/* the fraction 0 < f < 1000 as Go writes it after the point: three digits less their trailing zeros;
 * its length */
static inline int
fraction(char *p, int f)
{
    p[0] = (char)('0' + f / 100);
    p[1] = (char)('0' + f / 10 % 10);
    p[2] = (char)('0' + f % 10);
    int n = 3;
    while (p[n - 1] == '0') {
        n--;
    }
    return n;
}

static inline char *
spaces(char *p, Py_ssize_t n)
{
    if (n > 0) {
        memset(p, ' ', (size_t)n);
        p += n;
    }
    return p;
}

/* The latency in gin's 13 columns: 1 µs <= ns < 1 s (the caller checked). Go's Duration.String: whole
 * microseconds and up to three more digits then "µs" below a millisecond; whole milliseconds and up to
 * six more digits then "ms" below a second. */
static inline char *
latency(char *p, int64_t ns)
{
    char whole[3], frac[6];
    int nw, nf;
    const char *unit;
    int unit_bytes, unit_columns;
    if (ns < 1000000) {
        int us = (int)(ns / 1000);
        int f = (int)(ns % 1000);
        nw = digits3(whole, us);
        nf = f ? fraction(frac, f) : 0;
        unit = "\xc2\xb5s"; /* "µs": two bytes for "µ", one column */
        unit_bytes = 3;
        unit_columns = 2;
    }
    else {
        int ms = (int)(ns / 1000000);
        int rest = (int)(ns % 1000000);
        nw = digits3(whole, ms);
        nf = 0;
        if (rest) {
            /* six digits less the trailing zeros */
            int k = rest / 1000, tail = rest % 1000;
            frac[0] = (char)('0' + k / 100);
            frac[1] = (char)('0' + k / 10 % 10);
            frac[2] = (char)('0' + k % 10);
            if (tail) {
                nf = 3 + fraction(frac + 3, tail);
            }
            else {
                nf = 3;
                while (nf > 0 && frac[nf - 1] == '0') {
                    nf--;
                }
            }
        }
        unit = "ms";
        unit_bytes = 2;
        unit_columns = 2;
    }
    Py_ssize_t columns = nw + (nf ? 1 + nf : 0) + unit_columns;
    p = spaces(p, 13 - columns);
    memcpy(p, whole, (size_t)nw);
    p += nw;
    if (nf) {
        *p++ = '.';
        memcpy(p, frac, (size_t)nf);
        p += nf;
    }
    memcpy(p, unit, (size_t)unit_bytes);
    return p + unit_bytes;
}

/* locate(end) -> (head, low, high): the new range and its text into *head, *low, *high (head: a
 * borrowed reference kept alive by *owner, which replaces the previous owner). 0: done; 1: a range
 * beyond int64 (ends near 2**63 ns, the year 2262: the batch is left to Python); -1 with an exception. */
static int
relocate(PyObject *locate, PyObject *end, PyObject **owner, PyObject **head, int64_t *low, int64_t *high)
{
    PyObject *got = PyObject_CallOneArg(locate, end);
    if (got == NULL) {
        return -1;
    }
    if (!PyTuple_CheckExact(got) || PyTuple_GET_SIZE(got) != 3 || !PyBytes_CheckExact(PyTuple_GET_ITEM(got, 0))
        || !PyLong_Check(PyTuple_GET_ITEM(got, 1)) || !PyLong_Check(PyTuple_GET_ITEM(got, 2))) {
        Py_DECREF(got);
        PyErr_SetString(PyExc_TypeError, "_ginwire: locate must return (bytes, int, int)");
        return -1;
    }
    if (!as_int64(PyTuple_GET_ITEM(got, 1), low) || !as_int64(PyTuple_GET_ITEM(got, 2), high)) {
        Py_DECREF(got);
        return 1;
    }
    Py_XSETREF(*owner, got);
    *head = PyTuple_GET_ITEM(got, 0);
    return 0;
}

PyDoc_STRVAR(lines_doc,
             "lines(entries, locate, head, low, high, /) -> bytes | None\n\n"
             "gin's lines of a batch of GinEntry tuples; None when one is not a usual entry.");

static PyObject *
lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "lines() takes 5 arguments");
        return NULL;
    }
    PyObject *entries = args[0], *locate = args[1], *head = args[2];
    int64_t low, high;
    if (!PyList_Check(entries) || !PyBytes_CheckExact(head) || !PyLong_Check(args[3]) || !PyLong_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "lines(list, callable, bytes, int, int)");
        return NULL;
    }
    if (!as_int64(args[3], &low) || !as_int64(args[4], &high)) {
        Py_RETURN_NONE; /* a range beyond int64: the batch is left to Python */
    }
    PyObject *owner = NULL; /* the last tuple locate returned (it holds head) */
    Buf b = {NULL, NULL, 0, 0};
    Py_ssize_t n = PyList_GET_SIZE(entries);
    b.cap = n * 128 + 64;
    b.obj = PyBytes_FromStringAndSize(NULL, b.cap);
    if (b.obj == NULL) {
        return NULL;
    }
    b.data = PyBytes_AS_STRING(b.obj);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 7) {
            goto unusual;
        }
        PyObject *end = PyTuple_GET_ITEM(entry, 0);
        PyObject *error = PyTuple_GET_ITEM(entry, 6);
        int64_t clock, status, ns;
        const char *ip, *method, *target, *err = NULL;
        Py_ssize_t n_ip, n_method, n_target, n_err = 0;
        if (!as_int64(end, &clock) || !as_int64(PyTuple_GET_ITEM(entry, 1), &status) || status < 0
            || status > 999 || !as_int64(PyTuple_GET_ITEM(entry, 2), &ns) || ns < 1000 || ns >= 1000000000
            || !as_ascii(PyTuple_GET_ITEM(entry, 3), &ip, &n_ip)
            || !as_ascii(PyTuple_GET_ITEM(entry, 4), &method, &n_method)
            || !as_ascii(PyTuple_GET_ITEM(entry, 5), &target, &n_target) || !plain_target(target, n_target)
            || (error != Py_None && !as_ascii(error, &err, &n_err))) {
            goto unusual;
        }
        if (clock < low || clock >= high) {
            /* the entry is held while locate runs: a call that changes the list cannot free it */
            Py_INCREF(entry);
            int found = relocate(locate, end, &owner, &head, &low, &high);
            int moved = found == 0 && (i >= PyList_GET_SIZE(entries) || PyList_GET_ITEM(entries, i) != entry);
            Py_DECREF(entry);
            if (found < 0) {
                goto fail;
            }
            if (found > 0 || moved) {
                /* a range beyond int64, or locate changed the batch: not a usual batch either */
                goto unusual;
            }
        }
        Py_ssize_t n_head = PyBytes_GET_SIZE(head);
        /* head, "ddd | ", 13 columns (+1 byte for "µ"), " | ", address, " | ", method, "  \"", target,
         * "\"\n", and the error line with every byte escaped at worst */
        Py_ssize_t room = n_head + 6 + 14 + 3 + (n_ip > 15 ? n_ip : 15) + 3 + (n_method > 7 ? n_method : 7) + 3
                          + n_target + 2 + (err != NULL ? 11 + 2 * n_err + 1 : 0);
        if (reserve(&b, room) < 0) {
            goto fail;
        }
        char *p = b.data + b.len;
        memcpy(p, PyBytes_AS_STRING(head), (size_t)n_head);
        p += n_head;
        char code[3];
        int nc = digits3(code, (int)status);
        p = spaces(p, 3 - nc);
        memcpy(p, code, (size_t)nc);
        p += nc;
        memcpy(p, " | ", 3);
        p = latency(p + 3, ns);
        memcpy(p, " | ", 3);
        p = spaces(p + 3, 15 - n_ip);
        memcpy(p, ip, (size_t)n_ip);
        p += n_ip;
        memcpy(p, " | ", 3);
        p += 3;
        memcpy(p, method, (size_t)n_method);
        p = spaces(p + n_method, 7 - n_method);
        memcpy(p, "  \"", 3);
        p += 3;
        memcpy(p, target, (size_t)n_target);
        p += n_target;
        *p++ = '"';
        *p++ = '\n';
        if (err != NULL) {
            memcpy(p, "Error #01: ", 11);
            p += 11;
            for (Py_ssize_t k = 0; k < n_err; k++) {
                char c = err[k];
                if (c == '\r' || c == '\n') {
                    *p++ = '\\';
                    *p++ = c == '\r' ? 'r' : 'n';
                }
                else {
                    *p++ = c;
                }
            }
            *p++ = '\n';
        }
        b.len = p - b.data;
    }
    Py_XDECREF(owner);
    if (_PyBytes_Resize(&b.obj, b.len) < 0) {
        return NULL; /* freed */
    }
    return b.obj;

unusual:
    Py_XDECREF(owner);
    Py_XDECREF(b.obj);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(owner);
    Py_XDECREF(b.obj);
    return NULL;
}

static PyMethodDef methods[] = {
    {"lines", (PyCFunction)(void (*)(void))lines, METH_FASTCALL, lines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_ginwire",
    "gin's access-log lines of a batch written natively (krakenpy.telemetry.ginline).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__ginwire(void)
{
    return PyModule_Create(&module_def);
}
