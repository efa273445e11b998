/* The OTLP protobuf of a batch of span records written into one buffer: the native path of
 * krakenpy.telemetry.otlp.spans_proto (optional: built beside the mypyc hot path, see setup.py).
 *
 * spans(records, resource, scope, plan) -> bytes: the whole ExportTraceServiceRequest, byte for byte
 * what the Python encoder writes (otlp._spans_proto_py, the reference). The usual spans of the layers'
 * templates (templates.ServerTemplate, CallTemplate, ClientTemplate, ReadTemplate) are written here
 * from the record's values and the template's constant pieces, which plan(template) gives once per
 * template (templates.native_plan: a tuple (kind, bytes...) or None) and which are kept by the
 * template's identity (a strong reference: the address is never reused while kept). Any record that
 * is not a usual one (an error status, ids that are not raw bytes, a value of another type, an int out
 * of range, a template without a plan) is written by its template's own framed(record), so what is
 * unusual keeps the Python path's bytes and exceptions.
 *
 * Wire format (protobuf): varints, fixed64 little-endian times, length-delimited fields
 * (tag, varint length, data). A framed span: ScopeSpans field 2 (tag 0x12), its length, the Span. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define WRITER static inline __attribute__((always_inline))
#else
#define WRITER static inline
#endif

/* ------------------------------------------------------------------------------------------------ */
/* the output buffer: the bytes object returned, written in place (no copy of the batch at the end;
 * its size is set with _PyBytes_Resize, which reallocates: a shrink stays in place) */

typedef struct {
    PyObject *obj; /* a bytes object no Python code sees before it is returned; NULL when freed */
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int
buf_resize(Buf *b, Py_ssize_t cap)
{
    if (_PyBytes_Resize(&b->obj, cap) < 0) {
        b->obj = NULL; /* freed by _PyBytes_Resize */
        b->data = NULL;
        return -1;
    }
    b->data = PyBytes_AS_STRING(b->obj);
    b->cap = cap;
    return 0;
}

static int
buf_reserve(Buf *b, Py_ssize_t extra)
{
    if (extra < 0 || b->len > PY_SSIZE_T_MAX - extra) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap > 0 ? b->cap : 4096;
    while (cap < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    return buf_resize(b, cap);
}

/* ------------------------------------------------------------------------------------------------ */
/* wire primitives */

static inline Py_ssize_t
vlen(uint64_t v)
{
    Py_ssize_t n = 1;
    while (v > 0x7F) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline char *
put_varint(char *p, uint64_t v)
{
    while (v > 0x7F) {
        *p++ = (char)((v & 0x7F) | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

static inline char *
put_fixed64(char *p, uint64_t v)
{
#if PY_LITTLE_ENDIAN
    memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++) {
        p[i] = (char)(v >> (8 * i));
    }
#endif
    return p + 8;
}

static inline char *
put_bytes(char *p, const char *s, Py_ssize_t n)
{
    memcpy(p, s, (size_t)n);
    return p + n;
}

/* An attribute key: its KeyValue head is 0x0A, the key's length (one byte: every key is shorter than
 * 128), the key, 0x12 (the AnyValue's tag): otlpproto.key_head. */
typedef struct {
    const char *key;
    Py_ssize_t n;
} Key;

#define KEY(s) {s, (Py_ssize_t)(sizeof(s) - 1)}
static const Key K_METHOD = KEY("http.request.method");
static const Key K_ROUTE = KEY("http.route");
static const Key K_URL = KEY("url.full");
static const Key K_HOST = KEY("server.address");
static const Key K_PORT = KEY("server.port");
static const Key K_AGENT = KEY("user_agent.original");
static const Key K_ADDR = KEY("client.address");
static const Key K_BODY = KEY("http.request.body.size");
static const Key K_RID = KEY("http.request.id");
static const Key K_CODE = KEY("http.response.status_code");
static const Key K_SIZE = KEY("http.response.body.size");
static const Key K_READ_SIZE = KEY("http.client.response.read.size");
static const Key K_READ_TIME = KEY("http.client.response.read.time");
static const Key K_GET_CONN = KEY("get-conn-duration");
static const Key K_DNS = KEY("dns-duration");
static const Key K_TLS = KEY("tls-duration");

static inline Py_ssize_t
head_len(const Key *k)
{
    return k->n + 3;
}

static inline char *
put_head(char *p, const Key *k)
{
    *p++ = 0x0A;
    *p++ = (char)k->n;
    p = put_bytes(p, k->key, k->n);
    *p++ = 0x12;
    return p;
}

/* Span field 9, a string KeyValue (otlpproto.str_kv): 0x4A, inner length, head, value length, 0x0A,
 * the text's length, the text. */
WRITER Py_ssize_t
str_kv_len(const Key *k, Py_ssize_t n)
{
    Py_ssize_t value = 1 + vlen((uint64_t)n) + n;
    Py_ssize_t inner = head_len(k) + vlen((uint64_t)value) + value;
    return 1 + vlen((uint64_t)inner) + inner;
}

WRITER char *
put_str_kv(char *p, const Key *k, const char *s, Py_ssize_t n)
{
    Py_ssize_t value = 1 + vlen((uint64_t)n) + n;
    Py_ssize_t inner = head_len(k) + vlen((uint64_t)value) + value;
    *p++ = 0x4A;
    p = put_varint(p, (uint64_t)inner);
    p = put_head(p, k);
    p = put_varint(p, (uint64_t)value);
    *p++ = 0x0A;
    p = put_varint(p, (uint64_t)n);
    return put_bytes(p, s, n);
}

/* An int KeyValue (otlpproto.int_kv of an int64): the AnyValue is 0x18 and the varint (a negative one
 * as its 64-bit two's complement). */
WRITER Py_ssize_t
int_kv_len(const Key *k, long long v)
{
    Py_ssize_t value = 1 + vlen((uint64_t)v);
    Py_ssize_t inner = head_len(k) + 1 + value;
    return 1 + vlen((uint64_t)inner) + inner;
}

WRITER char *
put_int_kv(char *p, const Key *k, long long v)
{
    Py_ssize_t value = 1 + vlen((uint64_t)v);
    Py_ssize_t inner = head_len(k) + 1 + value;
    *p++ = 0x4A;
    p = put_varint(p, (uint64_t)inner);
    p = put_head(p, k);
    *p++ = (char)value;
    *p++ = 0x18;
    return put_varint(p, (uint64_t)v);
}

/* A double KeyValue (KeyWire.of_double): 0x4A, head + 10, head, 0x09, 0x21, the double (struct's '<d'). */
WRITER Py_ssize_t
double_kv_len(const Key *k)
{
    return 1 + vlen((uint64_t)(head_len(k) + 10)) + head_len(k) + 10;
}

WRITER char *
put_double_kv(char *p, const Key *k, double v)
{
    *p++ = 0x4A;
    p = put_varint(p, (uint64_t)(head_len(k) + 10));
    p = put_head(p, k);
    *p++ = 0x09;
    *p++ = 0x21;
    /* what struct's '<d' writes (it calls the same function); cannot fail for a little-endian pack of
     * an IEEE double */
    (void)PyFloat_Pack8(v, p, 1);
    return p + 8;
}

/* ------------------------------------------------------------------------------------------------ */
/* a record's values: each getter returns 1 (got), 0 (not the usual: the template writes the record)
 * or -1 (an exception) */

/* a str's UTF-8 (a surrogate escape, which the templates write as U+FFFD: not the usual); an ASCII
 * string's characters are its UTF-8 */
static inline int
get_text(PyObject *o, const char **s, Py_ssize_t *n)
{
    if (!PyUnicode_CheckExact(o)) {
        return 0;
    }
    if (PyUnicode_IS_COMPACT_ASCII(o)) {
        *s = (const char *)PyUnicode_DATA(o);
        *n = PyUnicode_GET_LENGTH(o);
        return 1;
    }
    *s = PyUnicode_AsUTF8AndSize(o, n);
    if (*s == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* An exact int's magnitude read from its digits when it has at most three (CPython 3.11's layout:
 * the signed digit count in ob_size, 30-bit digits; PyLong_AsLongLongAndOverflow took ~66 machine
 * instructions for a time in nanoseconds): 1 and the magnitude and sign when below 2**64, 0 when not
 * read here (another layout, more digits: the API converts it). */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
static inline int
long_digits(PyObject *o, uint64_t *mag, int *negative)
{
    Py_ssize_t size = Py_SIZE(o);
    const digit *d = ((PyLongObject *)o)->ob_digit;
    *negative = size < 0;
    switch (size < 0 ? -size : size) {
    case 0:
        *mag = 0;
        return 1;
    case 1:
        *mag = (uint64_t)d[0];
        return 1;
    case 2:
        *mag = (uint64_t)d[0] | ((uint64_t)d[1] << 30);
        return 1;
    case 3:
        if (d[2] >> 4) {
            return 0;
        }
        *mag = (uint64_t)d[0] | ((uint64_t)d[1] << 30) | ((uint64_t)d[2] << 60);
        return 1;
    default:
        return 0;
    }
}
#else
static inline int
long_digits(PyObject *o, uint64_t *mag, int *negative)
{
    return 0;
}
#endif

/* an int within int64 (OTLP's intValue) */
static inline int
get_int64(PyObject *o, long long *v)
{
    if (!PyLong_CheckExact(o)) {
        return 0;
    }
    uint64_t mag;
    int negative;
    if (long_digits(o, &mag, &negative)) {
        if (!negative && mag <= (uint64_t)INT64_MAX) {
            *v = (long long)mag;
            return 1;
        }
        if (negative && mag <= (uint64_t)INT64_MAX + 1) {
            *v = (long long)(0 - mag); /* two's complement: -2**63 included */
            return 1;
        }
        return 0;
    }
    int overflow = 0;
    *v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) {
        return 0;
    }
    if (*v == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 1;
}

/* a fixed64 time as struct's 'Q' takes it (an int within 0 .. 2**64-1); within int64 through
 * PyLong_AsLongLongAndOverflow (a loop over the digits: CPython 3.11's PyLong_AsUnsignedLongLong goes
 * through _PyLong_AsByteArray, ~200 machine instructions for a time in nanoseconds) */
static inline int
get_u64(PyObject *o, uint64_t *v)
{
    if (!PyLong_CheckExact(o)) {
        return 0;
    }
    int negative;
    if (long_digits(o, v, &negative)) {
        return !negative || *v == 0;
    }
    int overflow = 0;
    long long s = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow) {
        if (s == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (s < 0) {
            return 0; /* struct refuses it: the template raises */
        }
        *v = (uint64_t)s;
        return 1;
    }
    if (overflow < 0) {
        return 0;
    }
    *v = (uint64_t)PyLong_AsUnsignedLongLong(o);
    if (*v == (uint64_t)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* ``not o`` is true: 1 when falsy, 0 when truthy or when its truth raised (the template then raises
 * its own) */
static inline int
is_falsy(PyObject *o)
{
    if (o == Py_None || o == Py_False) {
        return 1;
    }
    if (o == Py_True) {
        return 0;
    }
    if (PyLong_CheckExact(o)) { /* a status code: read from its digits (no call) when it can be */
        uint64_t mag;
        int negative;
        if (long_digits(o, &mag, &negative)) {
            return mag == 0;
        }
    }
    int truth = PyObject_IsTrue(o);
    if (truth < 0) {
        PyErr_Clear();
        return 0;
    }
    return !truth;
}

/* the layers' raw ids: the trace's 20 bytes (its and the span id's field heads), the span's 8, the
 * parent's 8 (Py_None in *parent when there is none and none is required) */
typedef struct {
    const char *trace;
    const char *own;
    const char *parent; /* NULL: a root span */
    uint64_t start;
    uint64_t end;
} Head;

static inline Py_ssize_t
head_wire_len(const Head *h)
{
    return 20 + 8 + (h->parent != NULL ? 10 : 0) + 18;
}

static inline char *
put_ids_times(char *p, const Head *h)
{
    memcpy(p, h->trace, 20); /* constant sizes: copied inline */
    memcpy(p + 20, h->own, 8);
    p += 28;
    if (h->parent != NULL) {
        *p++ = 0x22;
        *p++ = 0x08;
        memcpy(p, h->parent, 8);
        p += 8;
    }
    *p++ = 0x39;
    p = put_fixed64(p, h->start);
    *p++ = 0x41;
    return put_fixed64(p, h->end);
}

/* ids, times and an OK status (r[6] falsy); parent_optional: a root span is usual too */
static inline int
get_head(PyObject *r, Head *h, int parent_optional)
{
    PyObject *trace = PyTuple_GET_ITEM(r, 1);
    PyObject *own = PyTuple_GET_ITEM(r, 2);
    PyObject *parent = PyTuple_GET_ITEM(r, 3);
    if (!PyBytes_CheckExact(trace) || PyBytes_GET_SIZE(trace) != 20 || !PyBytes_CheckExact(own)
        || PyBytes_GET_SIZE(own) != 8) {
        return 0;
    }
    h->trace = PyBytes_AS_STRING(trace);
    h->own = PyBytes_AS_STRING(own);
    if (PyBytes_CheckExact(parent) && PyBytes_GET_SIZE(parent) == 8) {
        h->parent = PyBytes_AS_STRING(parent);
    }
    else if (parent_optional && parent == Py_None) {
        h->parent = NULL;
    }
    else {
        return 0;
    }
    if (!is_falsy(PyTuple_GET_ITEM(r, 6))) {
        return 0;
    }
    int got = get_u64(PyTuple_GET_ITEM(r, 4), &h->start);
    if (got <= 0) {
        return got;
    }
    return get_u64(PyTuple_GET_ITEM(r, 5), &h->end);
}

#define GOT(expr)                \
    do {                         \
        int got_ = (expr);       \
        if (got_ <= 0) {         \
            return got_;         \
        }                        \
    } while (0)

static const char EMPTY_STATUS[2] = {0x7A, 0x00};

/* the span's frame (ScopeSpans field 2 and the span's length) and room for the span: where to write */
static inline char *
begin_span(Buf *b, Py_ssize_t n)
{
    if (buf_reserve(b, 1 + vlen((uint64_t)n) + n) < 0) {
        return NULL;
    }
    char *p = b->data + b->len;
    *p++ = 0x12;
    return put_varint(p, (uint64_t)n);
}

/* the span written to p: its length checked against the one framed (never a lying length) */
static inline int
end_span(Buf *b, char *start, char *p, Py_ssize_t n)
{
    if (p - start != n) {
        PyErr_SetString(PyExc_SystemError, "_spanwire: a span's length differs from its frame's");
        return -1;
    }
    b->len = p - b->data;
    return 1;
}

/* ------------------------------------------------------------------------------------------------ */
/* the templates' usual spans (each the bytes of the template's one struct pack) */

enum { PLAN_NONE = 0, PLAN_SERVER = 1, PLAN_CALL = 2, PLAN_CLIENT = 3, PLAN_READ = 4 };

typedef struct {
    PyObject *key; /* the template (a strong reference), NULL: a free slot */
    int kind;
    PyObject *a; /* bytes */
    PyObject *b; /* bytes or NULL */
} Plan;

/* ServerTemplate: (template, ids, times, status, message, method, label, target, host, agent, addr,
 * body size or None, request id or "", status code, response size); plan (1, the shape's key-values) */
static int
write_server(Buf *b, PyObject *r, const Plan *plan)
{
    if (PyTuple_GET_SIZE(r) != 18) {
        return 0;
    }
    Head h;
    GOT(get_head(r, &h, 1));
    const char *method, *label, *target, *host, *agent, *addr, *rid = NULL;
    Py_ssize_t n_method, n_label, n_target, n_host, n_agent, n_addr, n_rid = 0;
    GOT(get_text(PyTuple_GET_ITEM(r, 8), &method, &n_method));
    GOT(get_text(PyTuple_GET_ITEM(r, 9), &label, &n_label));
    GOT(get_text(PyTuple_GET_ITEM(r, 10), &target, &n_target));
    GOT(get_text(PyTuple_GET_ITEM(r, 11), &host, &n_host));
    GOT(get_text(PyTuple_GET_ITEM(r, 12), &agent, &n_agent));
    GOT(get_text(PyTuple_GET_ITEM(r, 13), &addr, &n_addr));
    /* the body's size only when within 0 .. 2**63-1 (left off otherwise), None: none */
    PyObject *body = PyTuple_GET_ITEM(r, 14);
    long long v_body = -1;
    if (body != Py_None) {
        if (!PyLong_CheckExact(body)) {
            return 0;
        }
        int overflow = 0;
        v_body = PyLong_AsLongLongAndOverflow(body, &overflow);
        if (overflow) {
            v_body = -1;
        }
        else if (v_body == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    PyObject *rid_obj = PyTuple_GET_ITEM(r, 15);
    if (rid_obj != Py_None) {
        GOT(get_text(rid_obj, &rid, &n_rid));
    }
    long long code, size;
    GOT(get_int64(PyTuple_GET_ITEM(r, 16), &code));
    GOT(get_int64(PyTuple_GET_ITEM(r, 17), &size));
    PyObject *shape = plan->a;
    Py_ssize_t n_shape = PyBytes_GET_SIZE(shape);
    /* the name: method, a space, the label; the kind: SERVER (2) */
    Py_ssize_t n_name = n_method + 1 + n_label;
    Py_ssize_t n = head_wire_len(&h) + 1 + vlen((uint64_t)n_name) + n_name + 2 + n_shape
                   + str_kv_len(&K_METHOD, n_method) + str_kv_len(&K_ROUTE, n_label)
                   + str_kv_len(&K_URL, n_target) + str_kv_len(&K_HOST, n_host)
                   + str_kv_len(&K_AGENT, n_agent) + str_kv_len(&K_ADDR, n_addr)
                   + (v_body >= 0 ? int_kv_len(&K_BODY, v_body) : 0)
                   + (n_rid > 0 ? str_kv_len(&K_RID, n_rid) : 0) + int_kv_len(&K_CODE, code)
                   + int_kv_len(&K_SIZE, size) + 2;
    char *p = begin_span(b, n);
    if (p == NULL) {
        return -1;
    }
    char *start = p;
    p = put_ids_times(p, &h);
    *p++ = 0x2A;
    p = put_varint(p, (uint64_t)n_name);
    p = put_bytes(p, method, n_method);
    *p++ = ' ';
    p = put_bytes(p, label, n_label);
    *p++ = 0x30;
    *p++ = 0x02;
    p = put_bytes(p, PyBytes_AS_STRING(shape), n_shape);
    p = put_str_kv(p, &K_METHOD, method, n_method);
    p = put_str_kv(p, &K_ROUTE, label, n_label);
    p = put_str_kv(p, &K_URL, target, n_target);
    p = put_str_kv(p, &K_HOST, host, n_host);
    p = put_str_kv(p, &K_AGENT, agent, n_agent);
    p = put_str_kv(p, &K_ADDR, addr, n_addr);
    if (v_body >= 0) {
        p = put_int_kv(p, &K_BODY, v_body);
    }
    if (n_rid > 0) {
        p = put_str_kv(p, &K_RID, rid, n_rid);
    }
    p = put_int_kv(p, &K_CODE, code);
    p = put_int_kv(p, &K_SIZE, size);
    p = put_bytes(p, EMPTY_STATUS, 2);
    return end_span(b, start, p, n);
}

/* CallTemplate: (template, ids, times, status, message, complete, canceled, status code or None);
 * plan (2, the span's end when not complete, the same when complete) */
static int
write_call(Buf *b, PyObject *r, const Plan *plan)
{
    if (PyTuple_GET_SIZE(r) != 11) {
        return 0;
    }
    PyObject *complete = PyTuple_GET_ITEM(r, 8);
    if ((complete != Py_True && complete != Py_False) || PyTuple_GET_ITEM(r, 10) != Py_None
        || !is_falsy(PyTuple_GET_ITEM(r, 9))) {
        return 0;
    }
    Head h;
    GOT(get_head(r, &h, 0));
    PyObject *tail = complete == Py_True ? plan->b : plan->a;
    Py_ssize_t n_tail = PyBytes_GET_SIZE(tail);
    Py_ssize_t n = head_wire_len(&h) + n_tail;
    char *p = begin_span(b, n);
    if (p == NULL) {
        return -1;
    }
    char *start = p;
    p = put_ids_times(p, &h);
    p = put_bytes(p, PyBytes_AS_STRING(tail), n_tail);
    return end_span(b, start, p, n);
}

/* the first-byte event's head (Span field 11, its length: a time and the name) and its time's tag */
static const char EVENT_TIME[3] = {0x5A, 0x1A, 0x09};

/* ClientTemplate: (template, ids, times, status, message, url, host, port, method, body size, status
 * code, response size, (get-conn, dns, tls) seconds or None, first-byte time); plan (3, the event's
 * name, the span's name and kind and the shape's key-values) */
static int
write_client(Buf *b, PyObject *r, const Plan *plan)
{
    if (PyTuple_GET_SIZE(r) != 17) {
        return 0;
    }
    PyObject *first = PyTuple_GET_ITEM(r, 16);
    if (is_falsy(first)) {
        return 0;
    }
    uint64_t at;
    GOT(get_u64(first, &at));
    Head h;
    GOT(get_head(r, &h, 0));
    const char *url, *host, *method;
    Py_ssize_t n_url, n_host, n_method;
    long long port, body, code, size;
    GOT(get_text(PyTuple_GET_ITEM(r, 8), &url, &n_url));
    GOT(get_text(PyTuple_GET_ITEM(r, 9), &host, &n_host));
    GOT(get_int64(PyTuple_GET_ITEM(r, 10), &port));
    GOT(get_text(PyTuple_GET_ITEM(r, 11), &method, &n_method));
    GOT(get_int64(PyTuple_GET_ITEM(r, 12), &body));
    GOT(get_int64(PyTuple_GET_ITEM(r, 13), &code));
    GOT(get_int64(PyTuple_GET_ITEM(r, 14), &size));
    /* the connection's seconds: None (none), or three floats; all three equal to 0.0 (a kept-alive
     * connection's: the tuple compares equal to (0.0, 0.0, 0.0)) written as 0.0 */
    PyObject *conn = PyTuple_GET_ITEM(r, 15);
    int timed = 0;
    double secs[3] = {0.0, 0.0, 0.0};
    if (conn != Py_None) {
        if (!PyTuple_CheckExact(conn) || PyTuple_GET_SIZE(conn) != 3) {
            return 0;
        }
        int zeros = 1;
        for (int i = 0; i < 3; i++) {
            PyObject *item = PyTuple_GET_ITEM(conn, i);
            if (!PyFloat_CheckExact(item)) {
                return 0;
            }
            secs[i] = PyFloat_AS_DOUBLE(item);
            if (secs[i] != 0.0) {
                zeros = 0;
            }
        }
        if (zeros) {
            secs[0] = secs[1] = secs[2] = 0.0;
        }
        timed = 1;
    }
    PyObject *peer = plan->a;
    Py_ssize_t n_peer = PyBytes_GET_SIZE(peer);
    Py_ssize_t n = head_wire_len(&h) + 3 + 8 + n_peer + str_kv_len(&K_HOST, n_host) + int_kv_len(&K_PORT, port)
                   + str_kv_len(&K_METHOD, n_method) + str_kv_len(&K_URL, n_url) + int_kv_len(&K_BODY, body)
                   + int_kv_len(&K_CODE, code) + int_kv_len(&K_SIZE, size)
                   + (timed ? double_kv_len(&K_GET_CONN) + double_kv_len(&K_DNS) + double_kv_len(&K_TLS) : 0)
                   + 2;
    char *p = begin_span(b, n);
    if (p == NULL) {
        return -1;
    }
    char *start = p;
    p = put_ids_times(p, &h);
    p = put_bytes(p, EVENT_TIME, 3);
    p = put_fixed64(p, at);
    p = put_bytes(p, PyBytes_AS_STRING(peer), n_peer);
    p = put_str_kv(p, &K_HOST, host, n_host);
    p = put_int_kv(p, &K_PORT, port);
    p = put_str_kv(p, &K_METHOD, method, n_method);
    p = put_str_kv(p, &K_URL, url, n_url);
    p = put_int_kv(p, &K_BODY, body);
    p = put_int_kv(p, &K_CODE, code);
    p = put_int_kv(p, &K_SIZE, size);
    if (timed) {
        p = put_double_kv(p, &K_GET_CONN, secs[0]);
        p = put_double_kv(p, &K_DNS, secs[1]);
        p = put_double_kv(p, &K_TLS, secs[2]);
    }
    p = put_bytes(p, EMPTY_STATUS, 2);
    return end_span(b, start, p, n);
}

/* ReadTemplate: (template, ids, times, status, message, bytes read, seconds); plan (4, the span's
 * name and kind and the shape's key-values) */
static int
write_read(Buf *b, PyObject *r, const Plan *plan)
{
    if (PyTuple_GET_SIZE(r) != 10) {
        return 0;
    }
    PyObject *seconds = PyTuple_GET_ITEM(r, 9);
    if (!PyFloat_CheckExact(seconds)) {
        return 0;
    }
    Head h;
    GOT(get_head(r, &h, 0));
    long long size;
    GOT(get_int64(PyTuple_GET_ITEM(r, 8), &size));
    PyObject *wire = plan->a;
    Py_ssize_t n_wire = PyBytes_GET_SIZE(wire);
    Py_ssize_t n = head_wire_len(&h) + n_wire + int_kv_len(&K_READ_SIZE, size) + double_kv_len(&K_READ_TIME) + 2;
    char *p = begin_span(b, n);
    if (p == NULL) {
        return -1;
    }
    char *start = p;
    p = put_ids_times(p, &h);
    p = put_bytes(p, PyBytes_AS_STRING(wire), n_wire);
    p = put_int_kv(p, &K_READ_SIZE, size);
    p = put_double_kv(p, &K_READ_TIME, PyFloat_AS_DOUBLE(seconds));
    p = put_bytes(p, EMPTY_STATUS, 2);
    return end_span(b, start, p, n);
}

/* ------------------------------------------------------------------------------------------------ */
/* the plans, kept by template (open addressing on the template's address; emptied when 3/4 full) */

#define PLAN_SLOTS 512
static Plan plans[PLAN_SLOTS];
static int plans_used = 0;

static void
forget_plans(void)
{
    for (int i = 0; i < PLAN_SLOTS; i++) {
        Plan *slot = &plans[i];
        PyObject *key = slot->key, *a = slot->a, *b = slot->b;
        slot->key = slot->a = slot->b = NULL;
        slot->kind = PLAN_NONE;
        Py_XDECREF(key);
        Py_XDECREF(a);
        Py_XDECREF(b);
    }
    plans_used = 0;
}

static inline size_t
plan_slot(PyObject *template)
{
    uintptr_t x = (uintptr_t)template;
    return (size_t)((x >> 4) ^ (x >> 13)) & (PLAN_SLOTS - 1);
}

/* the template's plan: kept, or asked of plan(template) (NULL: an exception) */
static const Plan *
find_plan(PyObject *template, PyObject *planner)
{
    size_t i = plan_slot(template);
    while (plans[i].key != NULL) {
        if (plans[i].key == template) {
            return &plans[i];
        }
        i = (i + 1) & (PLAN_SLOTS - 1);
    }
    PyObject *made = PyObject_CallOneArg(planner, template);
    if (made == NULL) {
        return NULL;
    }
    int kind = PLAN_NONE;
    PyObject *a = NULL, *b = NULL;
    if (PyTuple_CheckExact(made) && PyTuple_GET_SIZE(made) >= 2 && PyLong_CheckExact(PyTuple_GET_ITEM(made, 0))) {
        long k = PyLong_AsLong(PyTuple_GET_ITEM(made, 0));
        Py_ssize_t size = PyTuple_GET_SIZE(made);
        PyObject *first = PyTuple_GET_ITEM(made, 1);
        PyObject *second = size >= 3 ? PyTuple_GET_ITEM(made, 2) : NULL;
        int wanted = (k == PLAN_CALL) ? 3 : 2;
        if (k >= PLAN_SERVER && k <= PLAN_READ && size == wanted && PyBytes_CheckExact(first)
            && (second == NULL || PyBytes_CheckExact(second))) {
            kind = (int)k;
            a = first;
            b = second;
        }
    }
    else if (made != Py_None) {
        Py_DECREF(made);
        PyErr_SetString(PyExc_TypeError, "_spanwire: a plan is a tuple (kind, bytes...) or None");
        return NULL;
    }
    PyErr_Clear(); /* PyLong_AsLong of a huge kind: no plan */
    /* the planner ran Python code: it may have added plans (never the slot's meaning: a plan's key holds
     * its template), so the free slot is looked up again */
    if (plans_used >= PLAN_SLOTS * 3 / 4) {
        forget_plans();
    }
    i = plan_slot(template);
    while (plans[i].key != NULL && plans[i].key != template) {
        i = (i + 1) & (PLAN_SLOTS - 1);
    }
    Plan *slot = &plans[i];
    if (slot->key == NULL) {
        Py_INCREF(template);
        Py_XINCREF(a);
        Py_XINCREF(b);
        slot->key = template;
        slot->kind = kind;
        slot->a = a;
        slot->b = b;
        plans_used++;
    }
    Py_DECREF(made);
    return slot;
}

/* ------------------------------------------------------------------------------------------------ */
/* the batch */

static PyObject *str_framed = NULL;
/* the spans written here and those written by their template's framed, since the module was loaded */
static unsigned long long count_native = 0, count_framed = 0;

/* the template's framed(record), appended */
static int
write_framed(Buf *b, PyObject *template, PyObject *r)
{
    count_framed++;
    PyObject *span = PyObject_CallMethodOneArg(template, str_framed, r);
    if (span == NULL) {
        return -1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(span, &view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(span);
        return -1;
    }
    int status = buf_reserve(b, view.len);
    if (status == 0) {
        memcpy(b->data + b->len, view.buf, (size_t)view.len);
        b->len += view.len;
    }
    PyBuffer_Release(&view);
    Py_DECREF(span);
    return status;
}

static int
write_record(Buf *b, PyObject *r, PyObject *planner)
{
    if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) < 8) {
        /* no template's record: r[0].framed(r), as the Python path */
        PyObject *template = PySequence_GetItem(r, 0);
        if (template == NULL) {
            return -1;
        }
        int status = write_framed(b, template, r);
        Py_DECREF(template);
        return status;
    }
    PyObject *template = PyTuple_GET_ITEM(r, 0);
    const Plan *found = find_plan(template, planner);
    if (found == NULL) {
        return -1;
    }
    /* a copy holding its pieces: a value's truth test may run Python code (that could forget plans) */
    Plan plan = *found;
    Py_XINCREF(plan.a);
    Py_XINCREF(plan.b);
    int done = 0;
    switch (plan.kind) {
    case PLAN_SERVER:
        done = write_server(b, r, &plan);
        break;
    case PLAN_CALL:
        done = write_call(b, r, &plan);
        break;
    case PLAN_CLIENT:
        done = write_client(b, r, &plan);
        break;
    case PLAN_READ:
        done = write_read(b, r, &plan);
        break;
    default:
        break;
    }
    Py_XDECREF(plan.a);
    Py_XDECREF(plan.b);
    if (done != 0) {
        if (done < 0) {
            return -1;
        }
        count_native++;
        return 0;
    }
    Py_INCREF(template); /* the record holds it, but framed runs Python code */
    int status = write_framed(b, template, r);
    Py_DECREF(template);
    return status;
}

PyDoc_STRVAR(spans_doc,
             "spans(records, resource, scope, plan) -> bytes\n\n"
             "An ExportTraceServiceRequest: ResourceSpans of ``resource`` (an encoded Resource field) and\n"
             "one ScopeSpans of ``scope`` (an encoded InstrumentationScope field) and each record's\n"
             "framed span, as krakenpy.telemetry.otlp writes it in Python.");

static PyObject *
spans(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "spans() takes 4 arguments (records, resource, scope, plan)");
        return NULL;
    }
    PyObject *resource = args[1], *scope = args[2], *planner = args[3];
    if (!PyBytes_CheckExact(resource) || !PyBytes_CheckExact(scope)) {
        PyErr_SetString(PyExc_TypeError, "spans(): resource and scope must be bytes");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "spans(): records must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n_resource = PyBytes_GET_SIZE(resource), n_scope = PyBytes_GET_SIZE(scope);
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    /* the envelope's head (ResourceSpans' tag and length, the resource, ScopeSpans' tag and length)
     * is written last, before the scope: its room is kept at the start for the lengths' varints of a
     * batch of ~256 bytes a span (the batch moved only when its lengths' varints are longer or
     * shorter than that guess's) */
    uint64_t guess = (uint64_t)n_scope + (uint64_t)(count < 65536 ? count : 65536) * 256;
    Py_ssize_t room = 1 + vlen((uint64_t)n_resource + 1 + (uint64_t)vlen(guess) + guess) + n_resource + 1 + vlen(guess);
    Py_ssize_t first = room + n_scope + (count < 4096 ? count : 4096) * 512;
    Buf b = {PyBytes_FromStringAndSize(NULL, first), NULL, 0, first};
    if (b.obj == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    b.data = PyBytes_AS_STRING(b.obj);
    b.len = room;
    memcpy(b.data + b.len, PyBytes_AS_STRING(scope), (size_t)n_scope);
    b.len += n_scope;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *r = PySequence_Fast_GET_ITEM(seq, i);
        Py_INCREF(r); /* a list's item: the Python code a record runs may change the list */
        int status = write_record(&b, r, planner);
        Py_DECREF(r);
        if (status < 0) {
            Py_XDECREF(b.obj);
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_ssize_t body = b.len - room; /* the scope and the spans: ScopeSpans */
    uint64_t size = (uint64_t)body;
    Py_ssize_t scope_head = 1 + vlen(size);
    uint64_t inner = (uint64_t)n_resource + (uint64_t)scope_head + size;
    Py_ssize_t head = 1 + vlen(inner) + n_resource + scope_head;
    if (head != room) { /* the guess's varints were of another length: the body moved */
        if (head > room && buf_reserve(&b, head - room) < 0) {
            Py_XDECREF(b.obj);
            return NULL;
        }
        memmove(b.data + head, b.data + room, (size_t)body);
    }
    char *p = b.data;
    *p++ = 0x0A;
    p = put_varint(p, inner);
    p = put_bytes(p, PyBytes_AS_STRING(resource), n_resource);
    *p++ = 0x12;
    p = put_varint(p, size);
    if (p - b.data != head) {
        Py_DECREF(b.obj);
        PyErr_SetString(PyExc_SystemError, "_spanwire: the envelope's length differs from its room");
        return NULL;
    }
    if (buf_resize(&b, head + body) < 0) {
        return NULL; /* freed */
    }
    return b.obj;
}

static PyObject *
forget(PyObject *module, PyObject *unused)
{
    forget_plans();
    Py_RETURN_NONE;
}

static PyObject *
counts(PyObject *module, PyObject *unused)
{
    return Py_BuildValue("(KK)", count_native, count_framed);
}

static PyMethodDef methods[] = {
    {"counts", counts, METH_NOARGS,
     "counts() -> (int, int)\n\nThe spans written natively and by their template's framed, since loaded."},
    {"spans", (PyCFunction)(void (*)(void))spans, METH_FASTCALL, spans_doc},
    {"forget", forget, METH_NOARGS, "forget() -> None\n\nDrop the templates' plans kept (tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_spanwire",
    "The OTLP protobuf of a batch of span records written natively (krakenpy.telemetry.otlp).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__spanwire(void)
{
    if (str_framed == NULL) {
        str_framed = PyUnicode_InternFromString("framed");
        if (str_framed == NULL) {
            return NULL;
        }
    }
    return PyModule_Create(&module_def);
}
