/* Model summaries (nn/summary.h), built on nn/model.h's public accessors and the internal text buffer of
 * tensor/strbuf.h. */
#include <stdlib.h>
#include <string.h>

#include "../tensor/strbuf.h"
#include "summary.h"

enum { SHAPE_BUF = 96, COUNT_BUF = 24 };
static const char H_NAME[] = "parameter", H_SHAPE[] = "shape", H_COUNT[] = "count";

static int max_int(int a, int b) { return a > b ? a : b; }

/* The table into b (open on success). */
static int summary(const sg_model *m, const char *fn, sg__strbuf *b) {
    if (!m) return sg_set_error(SG_ERR_NULL, "%s: argument 'm' is NULL", fn);
    if (!sg_model_is_final(m))
        return sg_set_error(SG_ERR_STATE, "%s: the model is not finalized (call sg_model_finalize)", fn);
    int np = sg_model_num_params(m);
    int wn = (int)strlen(H_NAME), ws = (int)strlen(H_SHAPE), wc = (int)strlen(H_COUNT);
    char shape[SHAPE_BUF], count[COUNT_BUF];
    for (int i = 0; i < np; i++) {
        sg_tensor *p = sg_model_param(m, i);
        wn = max_int(wn, (int)strlen(sg_model_param_name(m, i)));
        ws = max_int(ws, (int)strlen(sg_shape_str(p, shape, sizeof shape)));
        wc = max_int(wc, snprintf(count, sizeof count, "%lld", (long long)sg_numel(p)));
    }
    if (sg__strbuf_open(b, fn)) return sg_last_status();
    FILE *f = b->f;
    fprintf(f, "%-*s  %-*s  %*s\n", wn, H_NAME, ws, H_SHAPE, wc, H_COUNT);
    for (int i = 0; i < np; i++) {
        sg_tensor *p = sg_model_param(m, i);
        fprintf(f, "%-*s  %-*s  %*lld\n", wn, sg_model_param_name(m, i), ws, sg_shape_str(p, shape, sizeof shape), wc,
                (long long)sg_numel(p));
    }
    sg_dtype dt = sg_model_dtype(m);
    int64_t total = sg_model_numel(m);
    fprintf(f, "total: %lld parameters in %d tensors (%s, %lld bytes)\n", (long long)total, np, sg_dtype_name(dt),
            (long long)(total * (int64_t)sg_dtype_size(dt)));
    return sg__strbuf_finish(b, fn);
}

int sg_model_summary_str(char *buf, size_t n, const sg_model *m) {
    if (!buf && n > 0) return sg_set_error(SG_ERR_NULL, "sg_model_summary_str: argument 'buf' is NULL");
    sg__strbuf b;
    if (summary(m, "sg_model_summary_str", &b)) return sg_last_status();
    return sg__strbuf_give(&b, buf, n, "sg_model_summary_str");
}

int sg_model_summary(FILE *f, const sg_model *m) {
    if (!f) return sg_set_error(SG_ERR_NULL, "sg_model_summary: argument 'f' is NULL");
    sg__strbuf b;
    if (summary(m, "sg_model_summary", &b)) return sg_last_status();
    return sg__strbuf_write(&b, f, false, "sg_model_summary");
}
