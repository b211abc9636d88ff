/* bench_cells --stream: the streaming inference step (nn/stream.h) of an LSTM D=128 H=256 batch 1,
 * one time step per call with the states carried, timed side by side with PyTorch eager
 * (tools/torch_cells.py --stream: nn.LSTM and nn.LSTMCell under torch.no_grad(), and the MGU cell)
 * in one run; also the stream's composed path, the shipped MGU and LayerNorm-LSTM definitions,
 * and the old way (sg_rnn_forward over T = 1 under no-grad plus sg_tape_clear per step). Reports
 * medians of blocks of SB_BLOCK steps in microseconds per step, and the ratios. Included by
 * bench_cells.c (uses its opts, load_avg and BU helpers); not a test. */
#ifndef BENCH_CELLS_STREAM_H
#define BENCH_CELLS_STREAM_H

enum { SB_BLOCK = 200, SB_BLOCKS = 25, SB_WARM = 300, SB_SMOKE_BLOCKS = 1 };
#define SB_TARGET_US 25.0 /* issue 10: <= 25 us/step at 1 thread (stretch 20) */

#define SB_IMPLS(X)                                                                  \
    X(SB_LSTM, "stream_lstm", &sg_cell_lstm, 0, 1)                                   \
    X(SB_LSTM_COMPOSED, "stream_lstm_composed", &sg_cell_lstm, SG_STREAM_COMPOSED, 1) \
    X(SB_MGU, "stream_mgu", &sg_cell_mgu, 0, 1)                                      \
    X(SB_LNLSTM, "stream_lnlstm", &sg_cell_lnlstm, 0, 1)                             \
    X(SB_FORWARD_T1, "forward_t1_lstm", &sg_cell_lstm, 0, 0)
#define SB_ENUM(e, n, d, f, s) e,
#define SB_ROW(e, n, d, f, s) {n, d, f, s},
enum { SB_IMPLS(SB_ENUM) SB_COUNT };
static const struct {
    const char *name;
    const sg_cell_def *def;
    unsigned flags;
    int stream; /* 0: sg_rnn_forward of T = 1 per step */
} SB_IMPL[SB_COUNT] = {SB_IMPLS(SB_ROW)};
static const char *const SB_TORCH[] = {"torch_stream_lstm", "torch_stream_lstmcell", "torch_stream_mgu"};
enum { SB_NTORCH = sizeof SB_TORCH / sizeof SB_TORCH[0] };

typedef struct {
    sg_model *m;
    sg_rnn *r;
    sg_rnn_stream *s;
    sg_tensor *x, *x3, *h, *c;
    float *xbuf, *ybuf;
} sb_ctx;

static void sb_free(sb_ctx *c) {
    sg_rnn_stream_free(c->s);
    sg_tensor_free(c->x3);
    sg_tensor_free(c->h);
    sg_tensor_free(c->c);
    sg_model_free(c->m);
    free(c->xbuf);
    free(c->ybuf);
}

static int sb_build(int k, uint64_t seed, sb_ctx *c) {
    *c = (sb_ctx){0};
    c->m = sg_model_new(SG_F32);
    c->r = sg_rnn_new(c->m, "l", &(sg_rnn_config){.def = SB_IMPL[k].def, .input_size = CW_D, .hidden_size = CW_H,
                                                   .backend = SG_BACKEND_COMPOSED});
    if (!c->r || sg_model_finalize(c->m, seed)) return -1;
    c->xbuf = calloc(CW_D, sizeof(float));
    c->ybuf = calloc(CW_H, sizeof(float));
    if (!c->xbuf || !c->ybuf) return -1;
    for (int i = 0; i < CW_D; i++) c->xbuf[i] = (float)((i % 7) - 3) * 0.1f;
    if (SB_IMPL[k].stream) return (c->s = sg_rnn_stream_new(c->r, 1, SB_IMPL[k].flags)) ? 0 : -1;
    c->x3 = sg_from_buffer(SG_F32, 3, (int64_t[]){1, 1, CW_D}, c->xbuf, SG_F32);
    c->h = sg_zeros(SG_F32, 3, (int64_t[]){1, 1, CW_H});
    c->c = sg_zeros(SG_F32, 3, (int64_t[]){1, 1, CW_H});
    return c->x3 && c->h && c->c ? 0 : -1;
}

/* one step; the old way copies the new states out of the tape before clearing it */
static int sb_step(int k, sb_ctx *c) {
    if (SB_IMPL[k].stream) return sg_rnn_stream_step_data(c->s, c->xbuf, c->ybuf);
    bool prev = sg_set_grad_enabled(false);
    sg_rnn_out o;
    int rc = sg_rnn_forward(c->r, c->x3, NULL, c->h, c->c, &o);
    if (!rc) {
        memcpy(sg_data_f32(c->h), sg_data_f32(sg_contiguous(o.h_n)), CW_H * sizeof(float));
        memcpy(sg_data_f32(c->c), sg_data_f32(sg_contiguous(o.c_n)), CW_H * sizeof(float));
        sg_mark_modified(c->h);
        sg_mark_modified(c->c);
    }
    sg_tape_clear();
    sg_set_grad_enabled(prev);
    return rc;
}

/* torch_cells.py --stream: fills us[SB_NTORCH] */
static void sb_torch(const opts *o, int blocks, double *us) {
    char cmd[2 * BU_LINE], js[4 * BU_LINE];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --stream --threads 1 --D %d --H %d --warmup %d --steps %d --block %d",
             o->python, TORCH_SCRIPT, CW_D, CW_H, SB_WARM, blocks, SB_BLOCK);
    if (bu_run_json(cmd, "torch_cells.py", js, sizeof js) != 0) return;
    for (int k = 0; k < SB_NTORCH; k++) bu_json_num(js, SB_TORCH[k], &us[k]);
}

static int stream_main(const opts *o) {
    int blocks = o->smoke ? SB_SMOKE_BLOCKS : SB_BLOCKS;
    double load0, load1, us[SB_COUNT], tus[SB_NTORCH];
    for (int k = 0; k < SB_COUNT; k++) us[k] = NAN;
    for (int k = 0; k < SB_NTORCH; k++) tus[k] = NAN;
    load_avg(&load0);
    printf("bench_cells --stream: inference step D=%d H=%d batch 1 float32, 1 thread, state carried; median of %d "
           "blocks of %d steps; load average %.2f\n", CW_D, CW_H, blocks, SB_BLOCK, load0);
    sg_set_num_threads(1);
    sb_ctx ctx[SB_COUNT];
    double *samples = calloc((size_t)(SB_COUNT * blocks), sizeof *samples);
    bool alive[SB_COUNT];
    int fails = 0;
    for (int k = 0; k < SB_COUNT; k++) {
        alive[k] = sb_build(k, o->seed, &ctx[k]) == 0;
        for (int i = 0; i < (o->smoke ? 1 : SB_WARM) && alive[k]; i++) alive[k] = sb_step(k, &ctx[k]) == 0;
        if (!alive[k]) {
            fprintf(stderr, "bench_cells: %s failed: %s\n", SB_IMPL[k].name, sg_last_error());
            fails++;
        }
    }
    for (int b = 0; samples && b < blocks; b++) /* interleaved blocks */
        for (int k = 0; k < SB_COUNT; k++) {
            if (!alive[k]) continue;
            double t0 = bu_now_s();
            for (int i = 0; i < SB_BLOCK && alive[k]; i++) alive[k] = sb_step(k, &ctx[k]) == 0;
            samples[k * blocks + b] = (bu_now_s() - t0) * 1e6 / SB_BLOCK;
            if (!alive[k]) fails++;
        }
    for (int k = 0; k < SB_COUNT; k++) {
        if (alive[k] && samples) us[k] = bu_median(samples + k * blocks, blocks);
        sb_free(&ctx[k]);
    }
    free(samples);
    if (o->torch) sb_torch(o, blocks, tus);
    load_avg(&load1);
    printf("  %-24s %10s\n", "impl", "us/step");
    for (int k = 0; k < SB_COUNT; k++) printf("  %-24s %10.2f\n", SB_IMPL[k].name, us[k]);
    for (int k = 0; k < SB_NTORCH && o->torch; k++) printf("  %-24s %10.2f\n", SB_TORCH[k], tus[k]);
    printf("ratios (< 1: seqgrad faster):\n");
    print_ratio("stream_lstm / torch_stream_lstm", us[SB_LSTM] / tus[0], INFINITY, true);
    print_ratio("stream_lstm / torch_stream_lstmcell", us[SB_LSTM] / tus[1], INFINITY, true);
    print_ratio("stream_mgu / torch_stream_mgu", us[SB_MGU] / tus[2], INFINITY, true);
    print_ratio("stream_lstm / forward_t1_lstm", us[SB_LSTM] / us[SB_FORWARD_T1], INFINITY, true);
    printf("  %-34s %6.2f  (target <= %.0f us, stretch 20%s)\n", "stream_lstm us/step", us[SB_LSTM], SB_TARGET_US,
           us[SB_LSTM] <= SB_TARGET_US ? "" : ", MISSED");
    printf("load average %.2f before, %.2f after (2 CPUs: above ~0.5 the timings are unreliable)\n", load0, load1);
    if (o->json) {
        FILE *f = fopen(o->json, "w");
        if (!f) {
            fprintf(stderr, "bench_cells: cannot write %s: %s\n", o->json, strerror(errno));
            return 1;
        }
        fprintf(f, "{\"workload\": {\"D\": %d, \"H\": %d, \"B\": 1, \"block\": %d, \"blocks\": %d}, \"load\": [%.2f, %.2f],\n"
                   " \"us\": {", CW_D, CW_H, SB_BLOCK, blocks, load0, load1);
        for (int k = 0; k < SB_COUNT + (o->torch ? SB_NTORCH : 0); k++) {
            double v = k < SB_COUNT ? us[k] : tus[k - SB_COUNT];
            fprintf(f, "%s\n  \"%s\": {\"1\": ", k ? "," : "", k < SB_COUNT ? SB_IMPL[k].name : SB_TORCH[k - SB_COUNT]);
            if (isnan(v)) fprintf(f, "null}");
            else fprintf(f, "%.3f}", v);
        }
        fprintf(f, "\n}}\n");
        if (fclose(f)) return 1;
        printf("JSON written to %s\n", o->json);
    }
    return fails ? 1 : 0;
}

#endif
