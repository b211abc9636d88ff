/* Checkpoints (io/checkpoint.h) on top of the safetensors reader and writer: tensor naming, cutting
 * the optimizer's flat state buffers into per-parameter tensors, and all-or-nothing loading
 * (validate every name, shape and dtype first, copy after). Not a file format of its own. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/tensor_impl.h"
#include "checkpoint.h"

/* Longest tensor name built here: "optim." + state name + "." + parameter name. */
enum { CK_NAME_MAX = 256, CK_NUM_BUF = 40, CK_LIST_BUF = 220, CK_NAME_SHOWN = 60 };
#define CK_FORMAT_KEY SG_CKPT_RESERVED_PREFIX "checkpoint"

/* ---- shared helpers ---- */

static bool check_model_arg(const sg_model *m, const sg_optim *opt, const char *fn) {
    if (!m) {
        if (sg_has_error()) sg_set_error(SG_ERR_PROPAGATED, "%s: model came from a failed call", fn);
        else sg_set_error(SG_ERR_NULL, "%s: argument 'm' is NULL", fn);
        return false;
    }
    if (!sg_model_is_final(m)) {
        sg_set_error(SG_ERR_STATE, "%s: call sg_model_finalize first", fn);
        return false;
    }
    if (opt && sg_optim_model(opt) != m) {
        sg_set_error(SG_ERR_ARG, "%s: optimizer 'opt' updates another model than 'm'", fn);
        return false;
    }
    return true;
}

static bool starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

static void state_tensor_name(char *buf, size_t n, const char *state, const char *param) {
    snprintf(buf, n, "%s%s.%s", SG_CKPT_OPTIM_PREFIX, state, param);
}

/* Registered view of optimizer state buffer st over parameter i's elements, shaped like it (the
 * state buffers share the parameter block's layout). Caller drops it with sg__unref. */
static sg_tensor *state_slice(const sg_model *m, const sg_tensor *st, int i, const char *fn) {
    const sg_tensor *p = sg_model_param(m, i), *flat = sg_model_flat_params(m);
    sg_tensor *v = sg__from_storage(st->storage, st->dtype, p->ndim, p->shape, st->offset + p->offset - flat->offset);
    if (v) sg__register(v);
    if (!v || !sg_is_live(v)) {
        if (v) sg__unref(v);
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        return NULL;
    }
    return v;
}

/* ---- save ---- */

static int add_meta_num(sg_st_writer *w, const char *key, double v) {
    char buf[CK_NUM_BUF];
    snprintf(buf, sizeof buf, "%.17g", v);
    return sg_st_writer_meta(w, key, buf);
}

static int add_optim(sg_st_writer *w, const sg_model *m, const sg_optim *opt, const char *fn) {
    char name[CK_NAME_MAX];
    for (int s = 0; s < sg_optim_state_count(opt); s++) {
        const sg_tensor *st = sg_optim_state(opt, s);
        for (int i = 0; i < sg_model_num_params(m); i++) {
            sg_tensor *v = state_slice(m, st, i, fn);
            if (!v) return sg_last_status();
            state_tensor_name(name, sizeof name, sg_optim_state_name(opt, s), sg_model_param_name(m, i));
            int rc = sg_st_writer_add(w, name, v);
            sg__unref(v);
            if (rc) return rc;
        }
    }
    const sg_optim_config *c = sg_optim_get_config(opt);
    char steps[CK_NUM_BUF];
    snprintf(steps, sizeof steps, "%lld", (long long)sg_optim_steps(opt));
    struct {
        const char *key;
        double v;
    } nums[] = {{"optim.lr", c->lr},           {"optim.weight_decay", c->weight_decay},
                {"optim.momentum", c->momentum}, {"optim.dampening", c->dampening},
                {"optim.nesterov", c->nesterov}, {"optim.beta1", c->beta1},
                {"optim.beta2", c->beta2},       {"optim.eps", c->eps},
                {"optim.alpha", c->alpha},       {"optim.centered", c->centered}};
    int rc = sg_st_writer_meta(w, "optim.kind", sg_opt_kind_name(c->kind));
    if (!rc) rc = sg_st_writer_meta(w, "optim.steps", steps);
    for (size_t k = 0; !rc && k < sizeof nums / sizeof *nums; k++) rc = add_meta_num(w, nums[k].key, nums[k].v);
    return rc;
}

static int check_meta_kv(const char *const *kv, const char *fn) {
    for (int i = 0; kv && kv[i]; i += 2) {
        if (!kv[i + 1]) return sg_set_error(SG_ERR_ARG, "%s: meta_kv key '%.100s' has no value (NULL)", fn, kv[i]);
        if (starts_with(kv[i], SG_CKPT_OPTIM_PREFIX) || starts_with(kv[i], SG_CKPT_RESERVED_PREFIX))
            return sg_set_error(SG_ERR_ARG, "%s: metadata key '%.100s' is reserved (prefixes '%s', '%s')", fn, kv[i],
                                SG_CKPT_OPTIM_PREFIX, SG_CKPT_RESERVED_PREFIX);
    }
    return SG_OK;
}

int sg_checkpoint_save(const char *path, const sg_model *m, const sg_optim *opt, const char *const *meta_kv) {
    const char *fn = "sg_checkpoint_save";
    if (!path) return sg_set_error(SG_ERR_NULL, "%s: argument 'path' is NULL", fn);
    if (!check_model_arg(m, opt, fn) || check_meta_kv(meta_kv, fn)) return sg_last_status();
    sg_st_writer *w = sg_st_writer_new();
    if (!w) return sg_last_status();
    int rc = SG_OK;
    for (int i = 0; !rc && i < sg_model_num_params(m); i++)
        rc = sg_st_writer_add(w, sg_model_param_name(m, i), sg_model_param(m, i));
    if (!rc) rc = sg_st_writer_meta(w, CK_FORMAT_KEY, SG_CKPT_FORMAT);
    if (!rc && opt) rc = add_optim(w, m, opt, fn);
    for (int i = 0; !rc && meta_kv && meta_kv[i]; i += 2) rc = sg_st_writer_meta(w, meta_kv[i], meta_kv[i + 1]);
    if (!rc) rc = sg_st_writer_save(w, path);
    sg_st_writer_free(w);
    return rc;
}

/* ---- load: validation report ---- */

typedef struct {
    int count;
    char text[CK_LIST_BUF]; /* the first SG_CKPT_REPORT_MAX entries, comma separated */
} issue_list;

typedef struct {
    issue_list missing, unexpected, shape, dtype;
} report;

static void issue_add(issue_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void issue_add(issue_list *l, const char *fmt, ...) {
    if (l->count++ >= SG_CKPT_REPORT_MAX) return;
    size_t len = strlen(l->text);
    if (len && len + 2 < sizeof l->text) {
        strcpy(l->text + len, ", ");
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text + len, sizeof l->text - len, fmt, ap);
    va_end(ap);
}

static size_t issue_print(char *buf, size_t n, size_t at, const char *what, const issue_list *l) {
    if (!l->count || at >= n) return at;
    int w = snprintf(buf + at, n - at, "%s%s %d: %s%s", at ? "; " : "", what, l->count, l->text,
                     l->count > SG_CKPT_REPORT_MAX ? ", ..." : "");
    return w < 0 ? at : at + (size_t)w;
}

static bool float_dtype(const char *dt) {
    return !strcmp(dt, "F32") || !strcmp(dt, "F64") || !strcmp(dt, "F16") || !strcmp(dt, "BF16");
}

/* Check that the file holds tensor name shaped like want; marks it used. */
static void expect_tensor(const sg_st_file *f, const char *name, const sg_tensor *want, bool *used, report *r) {
    char a[SG_SHAPE_BUF], b[SG_SHAPE_BUF];
    int j = sg_st_find(f, name);
    if (j < 0) {
        issue_add(&r->missing, "%.*s %s", CK_NAME_SHOWN, name, sg__shape_str(want->ndim, want->shape, a, sizeof a));
        return;
    }
    used[j] = true;
    int nd = sg_st_ndim(f, j);
    const int64_t *sh = sg_st_shape(f, j);
    bool same = nd == want->ndim;
    for (int d = 0; same && d < nd; d++) same = sh[d] == want->shape[d];
    if (!same)
        issue_add(&r->shape, "%.*s file %s model %s", CK_NAME_SHOWN, name,
                  nd <= SG_MAX_DIMS ? sg__shape_str(nd, sh, a, sizeof a) : "(rank > 8)",
                  sg__shape_str(want->ndim, want->shape, b, sizeof b));
    if (!float_dtype(sg_st_dtype(f, j))) issue_add(&r->dtype, "%.*s %s", CK_NAME_SHOWN, name, sg_st_dtype(f, j));
}

/* Parses the optimizer section's step count and lr. */
static int parse_optim_meta(const sg_st_file *f, const char *label, int64_t *steps, double *lr, const char *fn) {
    const char *s = sg_st_meta(f, "optim.steps"), *l = sg_st_meta(f, "optim.lr");
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : -1;
    if (!s || !*s || *end || errno || v < 0)
        return sg_set_error(SG_ERR_FORMAT, "%s: '%s': metadata optim.steps is %s%.40s%s, not a count >= 0", fn, label,
                            s ? "'" : "", s ? s : "missing", s ? "'" : "");
    *steps = v;
    double d = l ? strtod(l, &end) : NAN;
    if (!l || !*l || *end || !isfinite(d) || !(d > 0))
        return sg_set_error(SG_ERR_FORMAT, "%s: '%s': metadata optim.lr is %s%.40s%s, not a number > 0", fn, label,
                            l ? "'" : "", l ? l : "missing", l ? "'" : "");
    *lr = d;
    return SG_OK;
}

/* ---- load ---- */

static int load_file(const sg_st_file *f, const char *label, sg_model *m, sg_optim *opt, const char *fn) {
    if (!f) return sg_last_status(); /* sg_st_open failed: its message stands */
    if (!check_model_arg(m, opt, fn)) return sg_last_status();
    const char *format = sg_st_meta(f, CK_FORMAT_KEY); /* absent in plain PyTorch state_dicts */
    if (format && strcmp(format, SG_CKPT_FORMAT))
        return sg_set_error(SG_ERR_UNSUPPORTED, "%s: '%s' is a version '%.20s' checkpoint, this seqgrad reads '%s'",
                            fn, label, format, SG_CKPT_FORMAT);
    const char *kind = sg_st_meta(f, "optim.kind");
    bool use_opt = opt && kind;
    int64_t steps = 0;
    double lr = 0;
    if (use_opt) {
        const char *mine = sg_opt_kind_name(sg_optim_get_config(opt)->kind);
        if (strcmp(kind, mine)) {
            bool known = false;
            for (int k = 0; k < SG_OPT_COUNT; k++) known = known || !strcmp(kind, sg_opt_kind_name((sg_opt_kind)k));
            if (!known)
                return sg_set_error(SG_ERR_FORMAT, "%s: '%s': unknown optimizer kind '%.40s' in metadata optim.kind",
                                    fn, label, kind);
            return sg_set_error(SG_ERR_ARG,
                                "%s: '%s' holds the state of a '%s' optimizer, 'opt' is '%s' (nothing loaded)", fn,
                                label, kind, mine);
        }
        int rc = parse_optim_meta(f, label, &steps, &lr, fn);
        if (rc) return rc;
    }
    int nt = sg_st_count(f), np = sg_model_num_params(m), ns = use_opt ? sg_optim_state_count(opt) : 0;
    bool *used = calloc((size_t)nt + 1, sizeof *used);
    report *r = calloc(1, sizeof *r);
    sg_tensor **slices = calloc((size_t)ns * (size_t)np + 1, sizeof *slices);
    int rc = SG_OK;
    if (!used || !r || !slices) {
        rc = sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        goto done;
    }
    char name[CK_NAME_MAX];
    for (int i = 0; i < np; i++) expect_tensor(f, sg_model_param_name(m, i), sg_model_param(m, i), used, r);
    for (int s = 0; s < ns; s++)
        for (int i = 0; i < np; i++) {
            state_tensor_name(name, sizeof name, sg_optim_state_name(opt, s), sg_model_param_name(m, i));
            expect_tensor(f, name, sg_model_param(m, i), used, r);
        }
    for (int j = 0; j < nt; j++) {
        /* without opt, a saved optimizer section is simply not loaded */
        if (used[j] || (kind && !opt && starts_with(sg_st_name(f, j), SG_CKPT_OPTIM_PREFIX))) continue;
        char a[SG_SHAPE_BUF];
        int nd = sg_st_ndim(f, j);
        issue_add(&r->unexpected, "%.*s %s", CK_NAME_SHOWN, sg_st_name(f, j),
                  nd <= SG_MAX_DIMS ? sg__shape_str(nd, sg_st_shape(f, j), a, sizeof a) : "(rank > 8)");
    }
    if (r->missing.count || r->unexpected.count || r->shape.count || r->dtype.count) {
        char msg[4 * CK_LIST_BUF + 64];
        size_t at = 0;
        at = issue_print(msg, sizeof msg, at, "missing", &r->missing);
        at = issue_print(msg, sizeof msg, at, "unexpected", &r->unexpected);
        at = issue_print(msg, sizeof msg, at, "shape mismatch", &r->shape);
        issue_print(msg, sizeof msg, at, "not a float dtype", &r->dtype);
        sg_status st = (r->missing.count || r->unexpected.count) ? SG_ERR_ARG
                       : r->shape.count                          ? SG_ERR_SHAPE
                                                                 : SG_ERR_DTYPE;
        rc = sg_set_error(st, "%s: '%.200s' does not match the %s (nothing loaded): %s", fn, label,
                          ns ? "model and optimizer" : "model", msg);
        goto done;
    }
    /* every allocation before the first write, so a failure leaves m and opt as they were */
    for (int s = 0; s < ns; s++)
        for (int i = 0; i < np; i++)
            if (!(slices[s * np + i] = state_slice(m, sg_optim_state(opt, s), i, fn))) {
                rc = sg_last_status();
                goto done;
            }
    for (int i = 0; !rc && i < np; i++) rc = sg_st_read_into(f, sg_model_param_name(m, i), sg_model_param(m, i));
    for (int s = 0; !rc && s < ns; s++)
        for (int i = 0; !rc && i < np; i++) {
            state_tensor_name(name, sizeof name, sg_optim_state_name(opt, s), sg_model_param_name(m, i));
            rc = sg_st_read_into(f, name, slices[s * np + i]);
        }
    if (!rc && use_opt) {
        rc = sg_optim_set_steps(opt, steps);
        if (!rc) rc = sg_optim_set_lr(opt, lr);
    }
done:
    for (int k = 0; slices && k < ns * np; k++)
        if (slices[k]) sg__unref(slices[k]);
    free(slices);
    free(r);
    free(used);
    return rc;
}

int sg_checkpoint_load_st(const sg_st_file *f, sg_model *m, sg_optim *opt) {
    if (!f) return sg_set_error(SG_ERR_NULL, "sg_checkpoint_load_st: argument 'f' is NULL");
    return load_file(f, "<file>", m, opt, "sg_checkpoint_load_st");
}

int sg_checkpoint_load(const char *path, sg_model *m, sg_optim *opt) {
    const char *fn = "sg_checkpoint_load";
    if (!path) return sg_set_error(SG_ERR_NULL, "%s: argument 'path' is NULL", fn);
    if (!check_model_arg(m, opt, fn)) return sg_last_status();
    sg_st_file *f = sg_st_open(path);
    int rc = load_file(f, path, m, opt, fn);
    sg_st_close(f);
    return rc;
}

int sg_checkpoint_meta(const char *path, const char *key, char *buf, size_t n) {
    const char *fn = "sg_checkpoint_meta";
    if (!path || !key || (!buf && n))
        return sg_set_error(SG_ERR_NULL, "%s: argument '%s' is NULL", fn, !path ? "path" : !key ? "key" : "buf");
    sg_st_file *f = sg_st_open(path);
    if (!f) return sg_last_status();
    const char *v = sg_st_meta(f, key);
    int rc;
    if (!v) {
        rc = sg_set_error(SG_ERR_ARG, "%s: no metadata key '%.100s' in '%s'", fn, key, path);
    } else {
        size_t len = strlen(v);
        if (n) snprintf(buf, n, "%s", v);
        rc = len > (size_t)INT32_MAX ? INT32_MAX : (int)len;
    }
    sg_st_close(f);
    return rc;
}
