/* The compiled fast path of the CSV and JSON readers (see fast.py).
 *
 * It parses one byte range of a memory-mapped file straight into the frame's arrays: numbers
 * into a column of the float64 feature matrix (or another float64 array), ISO 8601 times into
 * int64 nanoseconds. It takes only the plain shapes that telemetry files almost always have
 * and returns BAIL at the first thing it does not take (a quote, an escape, a word, a row of
 * the wrong length, a missing key), so that the caller reads the file with pyarrow instead,
 * which gives the same frame or the error that names the place. It never reports an error
 * itself, so its rules only need to be a subset of pyarrow's, never a copy of them.
 *
 * Every function runs without the GIL, so fast.py runs byte ranges on several threads.
 */
#define PY_SSIZE_T_CLEAN
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* strtod_l, newlocale */
#endif
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__) || defined(__APPLE__)
#include <locale.h>
#if defined(__APPLE__)
#include <xlocale.h>
#endif
#define HAVE_STRTOD_L 1
#endif

enum { OK = 0, BAIL = 1 };
enum { SINK_SKIP = 0, SINK_FLOAT = 1, SINK_TIME = 2 };
enum { MAX_COLUMNS = 1 << 16 };

typedef struct {
    int kind;
    char *base; /* where row 0 of this column goes */
    Py_ssize_t stride; /* bytes from one row to the next */
} Sink;

/* -- numbers ------------------------------------------------------------------------------ */

/* Powers of ten that a double holds exactly. */
static const double POW10[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#ifdef HAVE_STRTOD_L
static locale_t c_locale;
#endif

/* The correctly rounded value of the token [s, e); 0 when it is out of the plain range. */
static int
slow_number(const char *s, const char *e, double *out)
{
#ifdef HAVE_STRTOD_L
    char text[80];
    char *stop;
    size_t n = (size_t)(e - s);
    if (n >= sizeof(text))
        return 0;
    memcpy(text, s, n);
    text[n] = '\0';
    double v = strtod_l(text, &stop, c_locale);
    /* Overflow to infinity or underflow to zero: leave such values to pyarrow. */
    if (stop != text + n || isinf(v) || v == 0.0)
        return 0;
    *out = v;
    return 1;
#else
    (void)s; (void)e; (void)out;
    return 0;
#endif
}

/* Parse a number starting at p (not past lim); return the end of it, or NULL.
 *
 * With json set the grammar is JSON's (no '+', no leading zeros, digits on both sides of
 * '.'); otherwise the forms pyarrow's CSV reader takes: [+-] digits [. digits] [e [+-] digits],
 * with ".5" and "5." allowed.
 *
 * With at most 19 digits the digits form an exact integer. When that integer is at most 2^53
 * and the decimal exponent within +-22, both it and the power of ten are exact doubles and
 * one multiplication or division rounds correctly (Clinger's fast path); anything else goes
 * to strtod. Either way the result is the correctly rounded value, as pyarrow's.
 */
static const char *
parse_number(const char *p, const char *lim, int json, double *out)
{
    const char *start = p;
    int neg = 0;
    if (p < lim && (*p == '-' || (!json && *p == '+'))) {
        neg = *p == '-';
        p++;
    }
    /* Every digit goes into mant; with at most 19 of them it cannot overflow. */
    uint64_t mant = 0;
    const char *int_start = p;
    while (p < lim && (unsigned)(*p - '0') < 10)
        mant = mant * 10 + (uint64_t)(*p++ - '0');
    Py_ssize_t n_int = p - int_start, n_frac = 0;
    if (json && (n_int == 0 || (n_int > 1 && *int_start == '0')))
        return NULL;
    if (p < lim && *p == '.') {
        const char *frac = ++p;
        while (p < lim && (unsigned)(*p - '0') < 10)
            mant = mant * 10 + (uint64_t)(*p++ - '0');
        n_frac = p - frac;
        if (json && n_frac == 0)
            return NULL;
    }
    if (n_int + n_frac == 0)
        return NULL;
    int exp10 = 0, has_exp = 0;
    if (p < lim && (*p == 'e' || *p == 'E')) {
        int eneg = 0, e = 0;
        has_exp = 1;
        p++;
        if (p < lim && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        const char *digits = p;
        while (p < lim && (unsigned)(*p - '0') < 10) {
            if (e < 100000)
                e = e * 10 + (*p - '0');
            p++;
        }
        if (p == digits)
            return NULL;
        exp10 = eneg ? -e : e;
    }
    /* A JSON integer beyond int64 is typed differently by pyarrow: leave it to pyarrow. */
    if (json && !n_frac && !has_exp && n_int > 18)
        return NULL;
    exp10 -= (int)n_frac;
    double v;
    if (n_int + n_frac <= 19 && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        v = (double)mant;
        v = exp10 < 0 ? v / POW10[-exp10] : v * POW10[exp10];
    } else if (n_int + n_frac <= 19 && mant == 0) {
        v = 0.0;
    } else {
        if (!slow_number(start, p, &v))
            return NULL;
        *out = v;
        return p;
    }
    *out = neg ? -v : v;
    return p;
}

/* -- times -------------------------------------------------------------------------------- */

static int
two_digits(const char *p, int *out)
{
    if ((unsigned)(p[0] - '0') > 9 || (unsigned)(p[1] - '0') > 9)
        return 0;
    *out = (p[0] - '0') * 10 + (p[1] - '0');
    return 1;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (years counted from March, so the
 * leap day is the last day of its year). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

/* Parse YYYY-MM-DD, optionally followed by [T ]HH:MM[:SS[.fraction of 1-9 digits]] and no
 * zone, as nanoseconds since the epoch; return the end, or NULL. Years outside what int64
 * nanoseconds hold, and every other form, are left to pyarrow. */
static const char *
parse_time(const char *p, const char *lim, int64_t *out)
{
    int c1, c2, mo, d, h = 0, mi = 0, s = 0;
    int64_t frac = 0;
    if (lim - p < 10 || !two_digits(p, &c1) || !two_digits(p + 2, &c2) || p[4] != '-'
        || !two_digits(p + 5, &mo) || p[7] != '-' || !two_digits(p + 8, &d))
        return NULL;
    int y = c1 * 100 + c2;
    if (y < 1678 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return NULL;
    p += 10;
    if (p < lim && (*p == 'T' || *p == ' ')) {
        if (lim - p < 6 || !two_digits(p + 1, &h) || p[3] != ':' || !two_digits(p + 4, &mi))
            return NULL;
        p += 6;
        if (p < lim && *p == ':') {
            if (lim - p < 3 || !two_digits(p + 1, &s))
                return NULL;
            p += 3;
            if (p < lim && *p == '.') {
                int n = 0;
                p++;
                while (p < lim && (unsigned)(*p - '0') < 10) {
                    if (++n > 9)
                        return NULL;
                    frac = frac * 10 + (*p - '0');
                    p++;
                }
                if (n == 0)
                    return NULL;
                for (; n < 9; n++)
                    frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || s > 59)
            return NULL;
    }
    int64_t seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    *out = seconds * 1000000000 + frac;
    return p;
}

/* -- CSV ---------------------------------------------------------------------------------- */

/* A field in double quotes: set [*content, *close) to what is inside, or return 0 when it
 * is not closed. A quote written "" inside it ends the field early, leaving a quote where a
 * delimiter must follow, so the caller bails; a line break inside it makes the rows fewer
 * than the line breaks counted, so fast.py gives up. */
static int
quoted_field(const char *p, const char *end, const char **content, const char **close)
{
    const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
    if (!q)
        return 0;
    *content = p + 1;
    *close = q;
    return 1;
}

/* Parse the rows in [p, end) (whole lines) into rows row0... of the sinks; *rows gets the
 * count. BAIL for anything but fields that are plain or in plain double quotes, the right
 * number of them on every line, and numbers or times where the sinks want them. */
static int
csv_range(const char *p, const char *end, char delim, const Sink *sinks, int ncols,
          Py_ssize_t row0, Py_ssize_t max_rows, Py_ssize_t *rows)
{
    Py_ssize_t row = row0;
    while (p < end) {
        if (row >= max_rows || *p == '\n' || *p == '\r')
            return BAIL; /* more rows than counted, or a blank line pyarrow would skip */
        for (int col = 0; col < ncols; col++) {
            const Sink *sink = &sinks[col];
            const char *q, *content = p, *close = NULL;
            if (p < end && *p == '"' && !quoted_field(p, end, &content, &close))
                return BAIL;
            /* The value ends at the closing quote, or (unquoted) where it stops parsing. */
            const char *lim = close ? close : end;
            if (sink->kind == SINK_FLOAT) {
                double v;
                if (content >= lim || *content == delim || *content == '\n'
                    || *content == '\r') {
                    v = NAN; /* an empty field is missing */
                    q = content;
                } else if (!(q = parse_number(content, lim, 0, &v))) {
                    return BAIL;
                }
                *(double *)(sink->base + row * sink->stride) = v;
            } else if (sink->kind == SINK_TIME) {
                int64_t t;
                if (!(q = parse_time(content, lim, &t)))
                    return BAIL;
                *(int64_t *)(sink->base + row * sink->stride) = t;
            } else {
                q = close ? close : content;
                while (!close && q < end && *q != delim && *q != '\n' && *q != '\r') {
                    if (*q == '"')
                        return BAIL;
                    q++;
                }
            }
            if (close) {
                if (q != close)
                    return BAIL;
                q = close + 1;
            }
            if (col < ncols - 1) {
                if (q >= end || *q != delim)
                    return BAIL;
                p = q + 1;
                continue;
            }
            if (q < end && *q == '\r')
                q++;
            if (q < end && *q != '\n')
                return BAIL;
            p = q + 1;
        }
        row++;
    }
    *rows = row - row0;
    return OK;
}

/* -- JSON --------------------------------------------------------------------------------- */

typedef struct {
    const char *text;
    Py_ssize_t len;
} Key;

static const char *
skip_space(const char *p, const char *end, int newlines)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || (newlines && *p == '\n')))
        p++;
    return p;
}

/* The end of a JSON string starting at its opening quote, or NULL; *escaped is set when it
 * holds a backslash. */
static const char *
skip_string(const char *p, const char *end, int *escaped)
{
    *escaped = 0;
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            *escaped = 1;
            if (++p >= end)
                return NULL;
        }
    }
    return NULL;
}

/* The end of a scalar value not wanted (a string, number, true, false or null), or NULL. */
static const char *
skip_scalar(const char *p, const char *end)
{
    double ignored;
    int escaped;
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end, &escaped);
    if (*p == 't' && end - p >= 4 && !memcmp(p, "true", 4))
        return p + 4;
    if (*p == 'f' && end - p >= 5 && !memcmp(p, "false", 5))
        return p + 5;
    if (*p == 'n' && end - p >= 4 && !memcmp(p, "null", 4))
        return p + 4;
    return parse_number(p, end, 1, &ignored);
}

/* Parse one flat object at p into row `row`; return its end, or NULL. Every key must be one
 * of `keys`, each exactly once; with lines set the object must not span lines. */
static const char *
json_object(const char *p, const char *end, const Key *keys, const Sink *sinks, int nkeys,
            Py_ssize_t row, int lines, Py_ssize_t *seen)
{
    int found = 0, next = 0, escaped;
    int newlines = !lines;
    if (p >= end || *p != '{')
        return NULL;
    p = skip_space(p + 1, end, newlines);
    while (found < nkeys) {
        if (found) {
            if (p >= end || *p != ',')
                return NULL;
            p = skip_space(p + 1, end, newlines);
        }
        if (p >= end || *p != '"')
            return NULL;
        const char *name = p + 1;
        const char *after = skip_string(p, end, &escaped);
        if (!after || escaped)
            return NULL;
        Py_ssize_t len = after - 1 - name;
        /* Keys usually come in the same order on every row: try the expected one first. */
        int k = next < nkeys && keys[next].len == len && !memcmp(keys[next].text, name, len)
                    ? next : -1;
        for (int i = 0; k < 0 && i < nkeys; i++)
            if (keys[i].len == len && !memcmp(keys[i].text, name, len))
                k = i;
        if (k < 0 || seen[k] == row)
            return NULL; /* a key not in the first record, or twice in this one */
        seen[k] = row;
        next = k + 1;
        found++;
        p = skip_space(after, end, newlines);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_space(p + 1, end, newlines);
        const Sink *sink = &sinks[k];
        if (sink->kind == SINK_FLOAT) {
            double v;
            if (end - p >= 4 && !memcmp(p, "null", 4)) {
                v = NAN;
                p += 4;
            } else if (!(p = parse_number(p, end, 1, &v))) {
                return NULL;
            }
            *(double *)(sink->base + row * sink->stride) = v;
        } else if (sink->kind == SINK_TIME) {
            int64_t t;
            if (p >= end || *p != '"' || !(p = parse_time(p + 1, end, &t)) || p >= end
                || *p != '"')
                return NULL;
            p++;
            *(int64_t *)(sink->base + row * sink->stride) = t;
        } else if (!(p = skip_scalar(p, end))) {
            return NULL;
        }
        p = skip_space(p, end, newlines);
    }
    if (p >= end || *p != '}')
        return NULL;
    return p + 1;
}

/* JSON lines: one object per line, nothing else on it, no blank lines. */
static int
jsonl_range(const char *p, const char *end, const Key *keys, const Sink *sinks, int nkeys,
            Py_ssize_t row0, Py_ssize_t max_rows, Py_ssize_t *seen, Py_ssize_t *rows)
{
    Py_ssize_t row = row0;
    while (p < end) {
        if (row >= max_rows)
            return BAIL;
        p = skip_space(p, end, 0);
        if (!(p = json_object(p, end, keys, sinks, nkeys, row, 1, seen)))
            return BAIL;
        p = skip_space(p, end, 0);
        if (p < end && *p++ != '\n')
            return BAIL;
        row++;
    }
    *rows = row - row0;
    return OK;
}

/* A part of a JSON array: objects separated by commas, starting at an object. The last part
 * ends with the closing bracket; the others end after a comma. */
static int
array_range(const char *p, const char *end, const Key *keys, const Sink *sinks, int nkeys,
            Py_ssize_t row0, Py_ssize_t max_rows, int last, Py_ssize_t *seen, Py_ssize_t *rows)
{
    Py_ssize_t row = row0;
    for (;;) {
        if (row >= max_rows)
            return BAIL;
        if (!(p = json_object(p, end, keys, sinks, nkeys, row, 0, seen)))
            return BAIL;
        row++;
        p = skip_space(p, end, 1);
        if (p < end && *p == ',') {
            p = skip_space(p + 1, end, 1);
            if (p < end)
                continue;
            if (last)
                return BAIL;
            break;
        }
        if (p >= end || *p != ']')
            return BAIL;
        if (skip_space(p + 1, end, 1) != end)
            return BAIL;
        break;
    }
    *rows = row - row0;
    return OK;
}

/* -- Python ------------------------------------------------------------------------------- */

/* Hold the buffers of `specs` (a sequence of None or (kind, writable buffer, byte offset,
 * byte stride)) and fill `sinks`; the caller releases `views`. Checks that max_rows rows fit. */
static int
get_sinks(PyObject *specs, Sink *sinks, Py_buffer *views, int *nviews, Py_ssize_t max_rows)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(specs);
    *nviews = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *spec = PySequence_Fast_GET_ITEM(specs, i);
        sinks[i].kind = SINK_SKIP;
        sinks[i].base = NULL;
        sinks[i].stride = 0;
        if (spec == Py_None)
            continue;
        int kind;
        PyObject *target;
        Py_ssize_t offset, stride;
        if (!PyArg_ParseTuple(spec, "iOnn", &kind, &target, &offset, &stride))
            return -1;
        if (kind != SINK_FLOAT && kind != SINK_TIME) {
            PyErr_Format(PyExc_ValueError, "unknown sink kind %d", kind);
            return -1;
        }
        Py_buffer *view = &views[(*nviews)];
        if (PyObject_GetBuffer(target, view, PyBUF_WRITABLE | PyBUF_SIMPLE) < 0)
            return -1;
        (*nviews)++;
        if (offset < 0 || stride < 8 || (max_rows > 0
                && offset + (max_rows - 1) * stride + 8 > view->len)) {
            PyErr_SetString(PyExc_ValueError, "sink too small for the rows");
            return -1;
        }
        sinks[i].kind = kind;
        sinks[i].base = (char *)view->buf + offset;
        sinks[i].stride = stride;
    }
    return 0;
}

static int
get_range(Py_buffer *data, Py_ssize_t start, Py_ssize_t end)
{
    if (start < 0 || end < start || end > data->len) {
        PyErr_SetString(PyExc_ValueError, "byte range outside the buffer");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(count_doc,
"count(data, start, end, byte) -> int\n\n"
"How many times `byte` occurs in data[start:end].");

static PyObject *
fp_count(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t start, end, count = 0;
    int byte;
    if (!PyArg_ParseTuple(args, "y*nni", &data, &start, &end, &byte))
        return NULL;
    if (get_range(&data, start, end) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    const char *p = (const char *)data.buf + start, *e = (const char *)data.buf + end;
    while ((p = memchr(p, byte, (size_t)(e - p))) != NULL) {
        count++;
        p++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(count);
}

/* Shared by csv(), jsonl() and array(): parse a range with the GIL released. */
typedef struct {
    const char *p, *end;
    char delim;
    const Key *keys;
    int ncols, format, last;
    Py_ssize_t row0, max_rows;
} Job;

enum { FORMAT_CSV, FORMAT_JSONL, FORMAT_ARRAY };

static PyObject *
run(Job *job, Py_buffer *data, PyObject *specs)
{
    size_t n = (size_t)job->ncols;
    Sink *sinks = PyMem_Calloc(n, sizeof(Sink));
    Py_buffer *views = PyMem_Calloc(n, sizeof(Py_buffer));
    int nviews = 0, status = BAIL;
    Py_ssize_t rows = 0, *seen = NULL;
    PyObject *result = NULL;
    if (!sinks || !views) {
        PyErr_NoMemory();
        goto done;
    }
    if (get_sinks(specs, sinks, views, &nviews, job->max_rows) < 0)
        goto done;
    if (job->format != FORMAT_CSV) {
        seen = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)(job->ncols ? job->ncols : 1));
        if (!seen) {
            PyErr_NoMemory();
            goto done;
        }
        for (int i = 0; i < job->ncols; i++)
            seen[i] = -1;
    }
    Py_BEGIN_ALLOW_THREADS
    if (job->format == FORMAT_CSV)
        status = csv_range(job->p, job->end, job->delim, sinks, job->ncols, job->row0,
                           job->max_rows, &rows);
    else if (job->format == FORMAT_JSONL)
        status = jsonl_range(job->p, job->end, job->keys, sinks, job->ncols, job->row0,
                             job->max_rows, seen, &rows);
    else
        status = array_range(job->p, job->end, job->keys, sinks, job->ncols, job->row0,
                             job->max_rows, job->last, seen, &rows);
    Py_END_ALLOW_THREADS
    result = status == OK ? PyLong_FromSsize_t(rows) : Py_NewRef(Py_None);
done:
    PyMem_RawFree(seen);
    for (int i = 0; i < nviews; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(sinks);
    PyBuffer_Release(data);
    return result;
}

/* The checks csv() and json() share: the range within the buffer, one to 65536 specs, and
 * row0 within the sinks. On success *fast holds the specs and the job points at the range. */
static int
prepare(Job *job, Py_buffer *data, Py_ssize_t start, Py_ssize_t end, PyObject *specs,
        PyObject **fast)
{
    *fast = NULL;
    if (get_range(data, start, end) < 0
        || !(*fast = PySequence_Fast(specs, "specs must be a sequence")))
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(*fast);
    if (n < 1 || n > MAX_COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "between 1 and 65536 columns");
        return -1;
    }
    if (job->row0 < 0 || job->row0 > job->max_rows) {
        PyErr_SetString(PyExc_ValueError, "row0 outside the sinks");
        return -1;
    }
    job->ncols = (int)n;
    job->p = (const char *)data->buf + start;
    job->end = (const char *)data->buf + end;
    return 0;
}

PyDoc_STRVAR(csv_doc,
"csv(data, start, end, delimiter, specs, row0, max_rows) -> int | None\n\n"
"Parse the whole lines in data[start:end] into rows row0... of the sinks; return how many\n"
"rows, or None when the range holds something only pyarrow reads. `specs` has one entry per\n"
"column: None to skip it, or (kind, writable buffer, byte offset, byte stride) with kind 1\n"
"for a float64 number and 2 for an ISO 8601 time as int64 nanoseconds.");

static PyObject *
fp_csv(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t start, end, row0, max_rows;
    int delim;
    PyObject *specs, *fast;
    if (!PyArg_ParseTuple(args, "y*nniOnn", &data, &start, &end, &delim, &specs, &row0,
                          &max_rows))
        return NULL;
    Job job = {.delim = (char)delim, .format = FORMAT_CSV, .row0 = row0,
               .max_rows = max_rows};
    if (prepare(&job, &data, start, end, specs, &fast) < 0) {
        Py_XDECREF(fast);
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *out = run(&job, &data, fast); /* releases data */
    Py_DECREF(fast);
    return out;
}

PyDoc_STRVAR(json_doc,
"json(data, start, end, keys, specs, row0, max_rows, lines, last) -> int | None\n\n"
"Parse the flat objects in data[start:end] into rows row0... of the sinks; return how many\n"
"rows, or None when the range holds something only pyarrow reads. `keys` (bytes, UTF-8)\n"
"are the objects' keys and `specs` their sinks, as for csv(). With `lines` the range is\n"
"JSON lines; otherwise it is a part of an array starting at an object, and `last` says\n"
"whether it ends with the closing bracket.");

static PyObject *
fp_json(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t start, end, row0, max_rows;
    int lines, last;
    PyObject *keys, *specs, *fast_keys = NULL, *fast = NULL, *out = NULL;
    Key *names = NULL;
    if (!PyArg_ParseTuple(args, "y*nnOOnnpp", &data, &start, &end, &keys, &specs, &row0,
                          &max_rows, &lines, &last))
        return NULL;
    Job job = {.format = lines ? FORMAT_JSONL : FORMAT_ARRAY, .last = last, .row0 = row0,
               .max_rows = max_rows};
    if (prepare(&job, &data, start, end, specs, &fast) < 0
        || !(fast_keys = PySequence_Fast(keys, "keys must be a sequence")))
        goto fail;
    if (PySequence_Fast_GET_SIZE(fast_keys) != job.ncols) {
        PyErr_SetString(PyExc_ValueError, "one key per spec");
        goto fail;
    }
    if (!(names = PyMem_Calloc((size_t)job.ncols, sizeof(Key)))) {
        PyErr_NoMemory();
        goto fail;
    }
    job.keys = names;
    for (int i = 0; i < job.ncols; i++) {
        char *text;
        if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(fast_keys, i), &text,
                                    &names[i].len) < 0)
            goto fail;
        names[i].text = text;
    }
    job.p = (const char *)data.buf + start;
    job.end = (const char *)data.buf + end;
    out = run(&job, &data, fast); /* releases data */
    PyMem_Free(names);
    Py_DECREF(fast);
    Py_DECREF(fast_keys);
    return out;
fail:
    PyMem_Free(names);
    Py_XDECREF(fast);
    Py_XDECREF(fast_keys);
    PyBuffer_Release(&data);
    return NULL;
}

static PyMethodDef methods[] = {
    {"count", fp_count, METH_VARARGS, count_doc},
    {"csv", fp_csv, METH_VARARGS, csv_doc},
    {"json", fp_json, METH_VARARGS, json_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastparse",
    "Compiled CSV and JSON parsing into numpy arrays; see astraguard_train.readers.fast.",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__fastparse(void)
{
#ifdef HAVE_STRTOD_L
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!c_locale)
        return PyErr_NoMemory();
#endif
    return PyModule_Create(&module);
}
