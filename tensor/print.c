/* Tensor printing (tensor/print.h), following torch/_tensor_str.py: one formatter chosen from the
 * elements that are shown, then a recursive walk writing nested brackets. Knows nothing of the
 * tape (requires_grad is a tensor flag). Not fast: for looking at small tensors and summaries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "print.h"
#include "strbuf.h"
#include "tensor_impl.h"

enum {
    DEFAULT_PRECISION = 4,
    DEFAULT_THRESHOLD = 1000,
    DEFAULT_EDGEITEMS = 3,
    DEFAULT_LINEWIDTH = 80,
    MAX_PRECISION = 17,
    NUM_BUF = 64,
    ELEMENT_SEP = 2, /* ", " after each element */
};
#define PREFIX "tensor("
#define SCI_RATIO 1000.0 /* PyTorch's thresholds for scientific notation */
#define SCI_MAX 1.0e8
#define SCI_MIN 1.0e-4

typedef enum { FMT_FIXED, FMT_INT, FMT_SCI } fmt_mode;

typedef struct {
    const sg_tensor *t;
    const sg_print_opts *o;
    bool summarize;
    fmt_mode mode;
    int width;
    /* scan state */
    bool any, all_int;
    double amin, amax;
    FILE *f;
} printer;

sg_print_opts sg_print_defaults(void) {
    return (sg_print_opts){DEFAULT_PRECISION, DEFAULT_THRESHOLD, DEFAULT_EDGEITEMS, DEFAULT_LINEWIDTH};
}

static double value_at(const sg_tensor *t, int64_t off) {
    const char *p = (const char *)t->storage->data + (size_t)(t->offset + off) * sg_dtype_size(t->dtype);
    return t->dtype == SG_F32 ? (double)*(const float *)p : *(const double *)p;
}

/* One value as PyTorch formats it, without padding. */
static int format_value(char *b, size_t n, double v, const printer *p) {
    if (isnan(v)) return snprintf(b, n, "nan");
    if (isinf(v)) return snprintf(b, n, v < 0 ? "-inf" : "inf");
    switch (p->mode) {
    case FMT_SCI: return snprintf(b, n, "%.*e", p->o->precision, v);
    case FMT_INT: return snprintf(b, n, "%.0f.", v);
    default: return snprintf(b, n, "%.*f", p->o->precision, v);
    }
}

/* Is index i of a dimension of size s shown? (the rest are one "...") */
static bool long_dim(const printer *p, int64_t s) { return p->summarize && s > 2 * (int64_t)p->o->edgeitems; }

static void scan(printer *p, int d, int64_t off) {
    const sg_tensor *t = p->t;
    if (d == t->ndim) {
        double v = value_at(t, off);
        if (!isfinite(v) || v == 0) return;
        double a = fabs(v);
        if (!p->any) p->amin = p->amax = a;
        p->any = true;
        p->amin = a < p->amin ? a : p->amin;
        p->amax = a > p->amax ? a : p->amax;
        if (v != ceil(v)) p->all_int = false;
        return;
    }
    int64_t s = t->shape[d], e = p->o->edgeitems;
    for (int64_t i = 0; i < s; i++) {
        if (long_dim(p, s) && i == e) i = s - e;
        scan(p, d + 1, off + i * t->stride[d]);
    }
}

/* Width of the widest shown nonzero finite value in the chosen mode (PyTorch's _Formatter). */
static void widen(printer *p, int d, int64_t off) {
    const sg_tensor *t = p->t;
    if (d == t->ndim) {
        double v = value_at(t, off);
        if (!isfinite(v) || v == 0) return;
        char b[NUM_BUF];
        int w = format_value(b, sizeof b, v, p);
        if (w > p->width) p->width = w;
        return;
    }
    int64_t s = t->shape[d], e = p->o->edgeitems;
    for (int64_t i = 0; i < s; i++) {
        if (long_dim(p, s) && i == e) i = s - e;
        widen(p, d + 1, off + i * t->stride[d]);
    }
}

static void choose_format(printer *p) {
    p->all_int = true;
    p->width = 1;
    p->mode = FMT_INT;
    scan(p, 0, 0);
    if (!p->any) return; /* only zeros and non-finite values */
    bool wide = p->amax / p->amin > SCI_RATIO || p->amax > SCI_MAX;
    if (p->all_int) p->mode = wide ? FMT_SCI : FMT_INT;
    else p->mode = wide || p->amin < SCI_MIN ? FMT_SCI : FMT_FIXED;
    widen(p, 0, 0);
}

static void put_value(printer *p, double v) {
    char b[NUM_BUF];
    int w = format_value(b, sizeof b, v, p);
    fprintf(p->f, "%*s%s", w < p->width ? p->width - w : 0, "", b);
}

static void newline_indent(printer *p, int blank_lines, int indent) {
    for (int k = 0; k < blank_lines; k++) fputc('\n', p->f);
    fprintf(p->f, "%*s", indent, "");
}

/* The last dimension: elements wrapped so each line fits linewidth (PyTorch's _vector_str). */
static void emit_vector(printer *p, int64_t off, int indent) {
    const sg_tensor *t = p->t;
    int d = t->ndim - 1;
    int64_t s = t->shape[d], e = p->o->edgeitems;
    int per_line = (p->o->linewidth - indent) / (p->width + ELEMENT_SEP);
    if (per_line < 1) per_line = 1;
    fputc('[', p->f);
    int64_t item = 0;
    for (int64_t i = 0; i < s; i++, item++) {
        if (item) {
            fputc(',', p->f);
            if (item % per_line == 0) newline_indent(p, 1, indent + 1);
            else fputc(' ', p->f);
        }
        if (long_dim(p, s) && i == e) {
            fputs(" ...", p->f);
            i = s - e - 1;
            continue;
        }
        put_value(p, value_at(t, off + i * t->stride[d]));
    }
    fputc(']', p->f);
}

static void emit(printer *p, int d, int64_t off, int indent) {
    const sg_tensor *t = p->t;
    if (d == t->ndim - 1) {
        emit_vector(p, off, indent);
        return;
    }
    int64_t s = t->shape[d], e = p->o->edgeitems;
    fputc('[', p->f);
    for (int64_t i = 0; i < s; i++) {
        if (i) {
            fputc(',', p->f);
            newline_indent(p, t->ndim - d - 1, indent + 1);
        }
        if (long_dim(p, s) && i == e) {
            fputs("...", p->f);
            i = s - e - 1;
            continue;
        }
        emit(p, d + 1, off + i * t->stride[d], indent + 1);
    }
    fputc(']', p->f);
}

static int check_opts(const sg_print_opts *o, const char *fn) {
    if (o->precision < 0 || o->precision > MAX_PRECISION || o->threshold < 0 || o->edgeitems < 1 || o->linewidth < 1)
        return sg_set_error(SG_ERR_ARG,
                            "%s: bad print options (precision %d in [0, %d], threshold %lld >= 0, edgeitems %d >= 1, "
                            "linewidth %d >= 1)",
                            fn, o->precision, MAX_PRECISION, (long long)o->threshold, o->edgeitems, o->linewidth);
    return SG_OK;
}

/* The repr into b (open on success). */
static int repr(const sg_tensor *t, const sg_print_opts *opts, const char *fn, sg__strbuf *b) {
    if (!sg__check_arg(t, fn, "t")) return sg_last_status();
    sg_print_opts o = opts ? *opts : sg_print_defaults();
    if (check_opts(&o, fn) || sg__strbuf_open(b, fn)) return sg_last_status();
    FILE *f = b->f;
    printer p = {.t = t, .o = &o, .summarize = sg__numel(t) > o.threshold, .f = f};
    fputs(PREFIX, f);
    if (t->ndim == 0) {
        choose_format(&p);
        put_value(&p, value_at(t, 0));
    } else if (sg__numel(t) == 0) {
        fputs("[]", f);
    } else {
        choose_format(&p);
        emit(&p, 0, 0, (int)strlen(PREFIX));
    }
    char shape[SG_SHAPE_BUF];
    fprintf(f, ", shape=%s, dtype=%s%s)", sg__shape_str(t->ndim, t->shape, shape, sizeof shape),
            sg_dtype_name(t->dtype), t->flags & SG_FLAG_REQUIRES_GRAD ? ", requires_grad=True" : "");
    return sg__strbuf_finish(b, fn);
}

int sg_tensor_snprint(char *buf, size_t n, const sg_tensor *t, const sg_print_opts *opts) {
    if (!buf && n > 0) return sg_set_error(SG_ERR_NULL, "sg_tensor_snprint: argument 'buf' is NULL");
    sg__strbuf b;
    if (repr(t, opts, "sg_tensor_snprint", &b)) return sg_last_status();
    return sg__strbuf_give(&b, buf, n, "sg_tensor_snprint");
}

int sg_tensor_fprint(FILE *f, const sg_tensor *t, const sg_print_opts *opts) {
    if (!f) return sg_set_error(SG_ERR_NULL, "sg_tensor_fprint: argument 'f' is NULL");
    sg__strbuf b;
    if (repr(t, opts, "sg_tensor_fprint", &b)) return sg_last_status();
    return sg__strbuf_write(&b, f, true, "sg_tensor_fprint");
}

int sg_tensor_print(const sg_tensor *t) { return sg_tensor_fprint(stdout, t, NULL); }
