/* libFuzzer harness: sg_checkpoint_load into a real trained model and its Adam optimizer
 * (fuzz_model.h), from a file holding the input. Checks the all-or-nothing promise of
 * io/checkpoint.h: a failed load leaves every parameter byte, every optimizer state byte, the
 * step count and the lr exactly as they were; a successful one is undone by reloading the
 * pristine checkpoint, which must restore the same bytes. */
#include "fuzz_model.h"
#include "fuzz_util.h"

typedef struct {
    unsigned char *bytes;
    size_t n;
    int64_t steps;
    double lr;
} fuzz_snap;

static fuzz_model fm;
static char pristine[FUZZ_PATH], input[FUZZ_PATH];

static size_t tensor_bytes(const sg_tensor *t) { return (size_t)sg_numel(t) * sg_dtype_size(sg_dtype_of(t)); }

static fuzz_snap snap(void) {
    fuzz_snap s = {NULL, tensor_bytes(sg_model_flat_params(fm.m)), sg_optim_steps(fm.opt), sg_optim_lr(fm.opt)};
    for (int i = 0; i < sg_optim_state_count(fm.opt); i++) s.n += tensor_bytes(sg_optim_state(fm.opt, i));
    s.bytes = malloc(s.n);
    FUZZ_CHECK(s.bytes != NULL, "out of memory");
    size_t at = tensor_bytes(sg_model_flat_params(fm.m));
    memcpy(s.bytes, sg_data_const(sg_model_flat_params(fm.m)), at);
    for (int i = 0; i < sg_optim_state_count(fm.opt); i++) {
        const sg_tensor *t = sg_optim_state(fm.opt, i);
        memcpy(s.bytes + at, sg_data_const(t), tensor_bytes(t));
        at += tensor_bytes(t);
    }
    return s;
}

static void expect_same(const fuzz_snap *a, const char *what) {
    fuzz_snap b = snap();
    FUZZ_CHECK(a->n == b.n && memcmp(a->bytes, b.bytes, a->n) == 0, "%s: model or optimizer bytes changed", what);
    FUZZ_CHECK(a->steps == b.steps, "%s: steps %lld -> %lld", what, (long long)a->steps, (long long)b.steps);
    FUZZ_CHECK(a->lr == b.lr, "%s: lr %.17g -> %.17g", what, a->lr, b.lr);
    free(b.bytes);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    sg_set_num_threads(1);
    FUZZ_CHECK(fuzz_model_new(&fm) == SG_OK, "model: %s", sg_last_error());
    const char *dir = fuzz_dir("checkpoint");
    fuzz_path(pristine, dir, "pristine.ckpt");
    fuzz_path(input, dir, "input.ckpt");
    FUZZ_CHECK(sg_checkpoint_save(pristine, fm.m, fm.opt, NULL) == SG_OK, "save: %s", sg_last_error());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(input, data, size);
    fuzz_snap before = snap();
    /* the last byte picks whether the optimizer is loaded too (the file decides the rest) */
    bool with_opt = size > 0 && (data[size - 1] & 1);
    int st = sg_checkpoint_load(input, fm.m, with_opt ? fm.opt : NULL);
    if (st != SG_OK) {
        FUZZ_CHECK(sg_last_status() == st, "status %d but last error %d", st, (int)sg_last_status());
        expect_same(&before, "failed load");
    } else {
        char buf[64];
        (void)sg_checkpoint_meta(input, "epoch", buf, sizeof buf);
        sg_clear_error();
        FUZZ_CHECK(sg_checkpoint_load(pristine, fm.m, fm.opt) == SG_OK, "reload: %s", sg_last_error());
        FUZZ_CHECK(sg_optim_set_steps(fm.opt, before.steps) == SG_OK, "steps");
        expect_same(&before, "pristine reload");
    }
    free(before.bytes);
    fuzz_done();
    return 0;
}
