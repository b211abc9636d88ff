/* char_lm: a character-level LSTM language model on H. G. Wells' "The Time Machine" (d2l.ai, ch. 9),
 * with d2l's preprocessing (io/text.h: letters lower-cased, every other run of bytes one space).
 * Not a tokenizer demo: 28 symbols (space, <unk>, a-z), one-hot inputs as in d2l.
 *
 * Recipe (the default; the PyTorch comparison table's recipe): one-hot (28) -> LSTM(256) -> Linear(28),
 * cross-entropy per character, Adam 2e-3, gradient clipping at global norm 1, 32 sequences of 32 steps
 * per batch, 30 epochs. The last 10 % of the text is the validation part (perplexity every epoch).
 * Truncated BPTT with d2l's two partitionings (--partition). Both start each epoch at a random offset
 * in [0, seq). RANDOM (default): the subsequences of seq characters are shuffled into batches and
 * every batch starts from a zero state. SEQUENTIAL: the text is cut into `batch` parallel streams
 * walked seq steps at a time, and the LSTM state is carried from one batch to the next as a
 * graph-free copy (sg_copy of h_n, c_n): gradients stop at batch boundaries, the state does not; it
 * restarts at zero each epoch. Random reproduces the PyTorch table (best 4.27 vs 4.47, final 4.77 vs
 * 4.99); sequential overfits sooner here (best 4.65 at epoch 11, final 5.99). Validation always walks
 * the last 10 % sequentially with the carried state (no shuffling: the same number every time).
 *
 *   build/char_lm --data ../shared/data/timemachine.txt --out build/runs
 *   build/char_lm --data ... --prompt "the time machine" --sample-len 300 --temperature 0.6
 * Writes <out>/char_lm.csv, char_lm.ckpt (every epoch) and char_lm.best.ckpt (best validation). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "excommon.h"
#include "exdist.h"
#include "io/checkpoint.h"

enum { DEFAULT_HIDDEN = 256, DEFAULT_SEQ = 32, DEFAULT_SAMPLE_LEN = 200, PATH_BUF = 1024, NUM_BUF = 64 };
#define DEFAULT_CLIP 1.0
#define DEFAULT_TEMPERATURE 0.8
#define DEFAULT_PROMPT "time traveller"
#define RNG_STREAM_DATA 0x5eedda7aULL /* seed offsets: data offsets and sampling use their own streams */
#define RNG_STREAM_SAMPLE 0x5a3b1eULL

typedef struct {
    int64_t hidden, seq, sample_len;
    double clip, temperature;
    const char *prompt;
    bool random; /* --partition random (default) or sequential */
} lm_opts;

static int parse_extra(const char *f, const char *v, void *ctx) {
    lm_opts *o = ctx;
    if (!v) return -1;
    if (!strcmp(f, "--hidden")) o->hidden = atoll(v);
    else if (!strcmp(f, "--seq")) o->seq = atoll(v);
    else if (!strcmp(f, "--sample-len")) o->sample_len = atoll(v);
    else if (!strcmp(f, "--clip")) o->clip = atof(v);
    else if (!strcmp(f, "--temperature")) o->temperature = atof(v);
    else if (!strcmp(f, "--prompt")) o->prompt = v;
    else if (!strcmp(f, "--partition") && (!strcmp(v, "random") || !strcmp(v, "sequential"))) o->random = !strcmp(v, "random");
    else return -1;
    return 0;
}

typedef struct {
    sg_model *m;
    sg_rnn *lstm;
    sg_linear_layer *head;
    int64_t V;
} net_t;

/* ids of T steps x B streams (ids[t*B + b]) -> one-hot x (T, B, V), user-owned */
static sg_tensor *one_hot(const int64_t *ids, int64_t T, int64_t B, int64_t V) {
    sg_tensor *x = sg_zeros(SG_F32, 3, (int64_t[]){T, B, V});
    float *p = x ? sg_data_f32(x) : NULL;
    if (!p) return NULL;
    for (int64_t i = 0; i < T * B; i++) p[i * V + ids[i]] = 1.0f;
    sg_mark_modified(x);
    return x;
}

/* x (T,B,V), state (h, c) or NULL -> logits (T*B, V); writes the final state as tape-owned h_n, c_n */
static sg_tensor *forward(net_t *n, sg_tensor *x, sg_tensor *h, sg_tensor *c, sg_rnn_out *o) {
    if (sg_rnn_forward(n->lstm, x, NULL, h, c, o)) return NULL;
    sg_tensor *y = sg_linear_layer_forward(n->head, o->output);
    return sg_reshape(y, 2, (int64_t[]){-1, n->V});
}

/* An epoch's batches over ids[0, len) from offset (d2l's seq_data_iter_sequential / _random):
 * start[k*B + b] is where sequence b of batch k begins. carry: pass the state between batches. */
typedef struct {
    const int64_t *ids;
    int64_t B, T, n_batches;
    int64_t *start;
    bool carry;
} stream_t;

/* rng NULL: sequential (B streams of cols characters, walked T at a time); else random (the
 * subsequences at offset + i*T shuffled with rng). start is malloc'd: free it. */
static stream_t make_streams(const int64_t *ids, int64_t len, int64_t offset, int64_t B, int64_t T, sg_rng *rng) {
    stream_t s = {.ids = ids, .B = B, .T = T, .carry = rng == NULL};
    int64_t usable = len - offset - 1 > 0 ? len - offset - 1 : 0, cols = usable / B, nsub = usable / T;
    s.n_batches = rng ? nsub / B : cols / T;
    s.start = malloc((size_t)(nsub > 0 ? nsub : 1) * sizeof *s.start);
    if (!s.start) s.n_batches = 0;
    for (int64_t i = 0; s.start && i < nsub; i++) s.start[i] = offset + i * T;
    if (rng && s.start) sg_shuffle(rng, s.start, nsub);
    for (int64_t k = 0; !rng && s.start && k < s.n_batches; k++)
        for (int64_t b = 0; b < B; b++) s.start[k * B + b] = offset + b * cols + k * T;
    return s;
}

static ex_dist g_dx; /* the processes training together (one without mpirun) */

/* streams [b0, b0 + nb) of batch k of s: inputs and targets, time-major (t*nb + j) */
static void stream_batch(const stream_t *s, int64_t k, int64_t b0, int64_t nb, int64_t *x, int64_t *y) {
    for (int64_t t = 0; t < s->T; t++)
        for (int64_t j = 0; j < nb; j++) {
            int64_t pos = s->start[k * s->B + b0 + j] + t;
            x[t * nb + j] = s->ids[pos];
            y[t * nb + j] = s->ids[pos + 1];
        }
}

/* Runs the streams once: trains (opt != NULL) or evaluates. Each process runs its share of the B
 * streams (its state carried along them). Returns the mean cross-entropy per character over all
 * processes (NaN on error). */
static double run_epoch(net_t *n, sg_optim *opt, const stream_t *s, double clip, ex_progress *bar) {
    int64_t b0, nb;
    ex_dist_share(&g_dx, s->B, &b0, &nb);
    int64_t TB = s->T * nb, count = 0;
    int64_t *xi = malloc((size_t)(TB ? TB : 1) * sizeof *xi), *yi = malloc((size_t)(TB ? TB : 1) * sizeof *yi);
    sg_tensor *h = NULL, *c = NULL;
    double total = 0;
    bool ok = xi && yi;
    if (opt) ex_dist_phase(&g_dx, EX_PH_OTHER); /* training steps are timed by phase (exdist.h) */
    for (int64_t k = 0; k < s->n_batches && ok; k++) {
        sg_rnn_out o;
        sg_tensor *x = NULL, *loss = NULL;
        if (opt) {
            sg_model_zero_grad(n->m);
            ok = !ex_dist_begin(&g_dx, nb, s->B);
        }
        if (ok && nb > 0) {
            if (opt) ex_dist_phase(&g_dx, EX_PH_BATCH);
            stream_batch(s, k, b0, nb, xi, yi);
            x = one_hot(xi, s->T, nb, n->V);
            if (opt) ex_dist_phase(&g_dx, EX_PH_FORWARD);
            loss = sg_cross_entropy(forward(n, x, h, c, &o), yi, -1, SG_REDUCE_MEAN);
            if (opt) ex_dist_phase(&g_dx, EX_PH_BACKWARD);
            ok = loss != NULL && (!opt || !sg_backward(loss));
        }
        if (ok && opt) {
            ex_dist_phase(&g_dx, EX_PH_WAIT);
            ok = !ex_dist_end(&g_dx);
            ex_dist_phase(&g_dx, EX_PH_UPDATE);
            ok = ok && (clip <= 0 || sg_clip_grad_norm(n->m, clip) >= 0) && !sg_optim_step(opt);
            ex_dist_phase(&g_dx, EX_PH_OTHER);
            ok = ok && !ex_dist_check(&g_dx, n->m);
        }
        if (ok && loss) {
            double l = sg_item(loss);
            total += l * (double)TB;
            count += TB;
            if (s->carry) { /* carry the state, without its history */
                sg_tensor_free(h);
                sg_tensor_free(c);
                h = sg_copy(o.h_n);
                c = sg_copy(o.c_n);
            }
            if (bar) ex_progress_update(bar, (k + 1) * s->T * s->B, l);
        }
        sg_tape_clear();
        sg_tensor_free(x);
    }
    if (opt) ex_dist_phase(&g_dx, EX_PH_IDLE);
    sg_tensor_free(h);
    sg_tensor_free(c);
    free(xi);
    free(yi);
    double sums[2] = {total, (double)count};
    if (ok && ex_dist_sum(&g_dx, sums, 2)) ok = false;
    return ok && sums[1] > 0 ? sums[0] / sums[1] : NAN;
}

static double eval_ppl(net_t *n, const sg_char_corpus *cc, int64_t B, int64_t T) {
    int64_t nv = cc->n - cc->n_train;
    int64_t b = B; /* fewer streams when the validation text is short */
    while (b > 1 && (nv - 1) / b < T) b /= 2;
    stream_t s = make_streams(cc->ids + cc->n_train, nv, 0, b, T, NULL);
    sg_model_train(n->m, false);
    bool prev = sg_set_grad_enabled(false);
    double ce = s.n_batches > 0 ? run_epoch(n, NULL, &s, 0, NULL) : NAN;
    free(s.start);
    sg_set_grad_enabled(prev);
    sg_model_train(n->m, true);
    return exp(ce);
}

/* Warms the state up on the prompt, then samples sample_len characters (temperature 0: argmax). */
static int sample(net_t *n, const sg_char_corpus *cc, const char *prompt, int64_t len, double temp, uint64_t seed) {
    size_t plen;
    char *p = sg_char_preprocess(prompt, strlen(prompt), &plen);
    if (!p || plen == 0) {
        free(p);
        fprintf(stderr, "char_lm: the prompt has no letters\n");
        return 1;
    }
    sg_rng rng = sg_rng_new(seed ^ RNG_STREAM_SAMPLE);
    bool prev = sg_set_grad_enabled(false);
    sg_model_train(n->m, false);
    int64_t *ids = malloc(plen * sizeof *ids);
    double *pr = malloc((size_t)n->V * sizeof *pr);
    sg_tensor *h = NULL, *c = NULL;
    int rc = ids && pr ? 0 : 1;
    for (size_t i = 0; i < plen && !rc; i++) ids[i] = sg_char_corpus_id(cc, p[i]);
    printf("sample (temperature %g): %s", temp, p);
    int64_t T = (int64_t)plen;
    for (int64_t s = 0; s < len && !rc; s++) {
        sg_tensor *x = one_hot(ids, T, 1, n->V);
        sg_rnn_out o;
        sg_tensor *logits = forward(n, x, h, c, &o);
        rc = logits && !sg_to_buffer(sg_narrow(logits, 0, T - 1, 1), pr, SG_F64) ? 0 : 1;
        if (!rc) {
            int64_t best = 0;
            double mx = -INFINITY, z = 0;
            for (int64_t v = 0; v < n->V; v++)
                if (pr[v] > mx) mx = pr[v], best = v;
            for (int64_t v = 0; v < n->V && temp > 0; v++) z += pr[v] = exp((pr[v] - mx) / temp);
            int64_t pick = best;
            if (temp > 0) { /* inverse-CDF draw, never the <unk> token */
                double u = sg_rng_uniform(&rng) * (z - pr[cc->unk_id]), acc = 0;
                for (pick = 0; pick < n->V; pick++) {
                    if (pick == cc->unk_id) continue;
                    acc += pr[pick];
                    if (acc > u) break;
                }
                if (pick == n->V) pick = best;
            }
            putchar(cc->tokens[pick][0]);
            ids[0] = pick;
            T = 1;
            sg_tensor_free(h);
            sg_tensor_free(c);
            h = sg_copy(o.h_n);
            c = sg_copy(o.c_n);
        }
        sg_tape_clear();
        sg_tensor_free(x);
    }
    putchar('\n');
    if (rc) fprintf(stderr, "char_lm: sampling failed: %s\n", sg_last_error());
    sg_tensor_free(h);
    sg_tensor_free(c);
    sg_set_grad_enabled(prev);
    free(ids);
    free(pr);
    free(p);
    return rc;
}

static int save(const char *path, net_t *n, sg_optim *opt, int epoch, double best, int best_epoch, const char *recipe) {
    return ex_save_checkpoint("char_lm", path, n->m, opt, epoch, "best_val_ppl", best, best_epoch,
                              (const char *const[]){"recipe", recipe, NULL});
}

/* 0 when the start of path looks like text; else 1 with a message (gzip, NUL bytes, or mostly
 * control bytes): the corpus loader maps any byte to a character, so a binary file would "train". */
static int check_text(const char *path) {
    enum { SNIFF = 65536, CONTROL_MAX_PERCENT = 5 };
    FILE *f = fopen(path, "rb");
    if (!f) return 0; /* the loader reports it */
    static unsigned char b[SNIFF];
    size_t n = fread(b, 1, sizeof b, f), ctl = 0;
    fclose(f);
    const char *why = NULL;
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) why = "is gzip-compressed (gunzip it first)";
    for (size_t i = 0; i < n && !why; i++) {
        if (b[i] == 0) why = "contains NUL bytes: a binary file, not text";
        else if (b[i] < 0x20 && b[i] != '\n' && b[i] != '\r' && b[i] != '\t' && b[i] != '\f') ctl++;
    }
    if (!why && ctl * 100 > n * CONTROL_MAX_PERCENT) why = "is mostly control bytes: a binary file, not text";
    if (!why && n == 0) why = "is empty";
    if (!why) return 0;
    fprintf(stderr, "char_lm: --data %s %s\n", path, why);
    return 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* per-epoch lines reach a log file as they happen */
    if (ex_dist_start(&g_dx, &argc, &argv, "char_lm")) return 1;
    ex_args a = {.data = "../shared/data/timemachine.txt", .epochs = 30, .batch = 32, .lr = 2e-3, .seed = 1, .threads = 2};
    lm_opts o = {.hidden = DEFAULT_HIDDEN, .seq = DEFAULT_SEQ, .sample_len = DEFAULT_SAMPLE_LEN, .clip = DEFAULT_CLIP,
                 .temperature = DEFAULT_TEMPERATURE, .prompt = DEFAULT_PROMPT, .random = true};
    const char *extra = "  --hidden N         LSTM hidden size (default 256)\n"
                        "  --seq N            truncated-BPTT length in characters (default 32)\n"
                        "  --partition P      random (default) or sequential (state carried across batches)\n"
                        "  --clip X           gradient clipping, global norm (default 1; 0: off)\n"
                        "  --prompt TEXT      start of the sampled continuation (default \"time traveller\")\n"
                        "  --sample-len N     characters to sample (default 200)\n"
                        "  --temperature X    sampling temperature (default 0.8; 0: always the likeliest)\n"
                        "--limit N uses only the first N training characters.\n";
    int pr = ex_parse(argc, argv, &a, "char_lm", "Character LSTM language model on The Time Machine (d2l).", extra,
                      parse_extra, &o);
    if (pr < 0) {
        ex_dist_stop(&g_dx);
        return pr == -1 ? 0 : 2;
    }
    if (o.hidden < 1 || o.seq < 1 || o.sample_len < 0 || o.clip < 0 || o.temperature < 0) {
        fprintf(stderr, "char_lm: --hidden and --seq must be >= 1, --sample-len, --clip, --temperature >= 0\n");
        ex_dist_stop(&g_dx);
        return 2;
    }
    if (check_text(a.data)) {
        ex_dist_fail(&g_dx, "char_lm", "not a text file");
        ex_dist_stop(&g_dx);
        return 1;
    }
    sg_char_corpus cc;
    if (sg_time_machine_load(a.data, &cc)) {
        fprintf(stderr, "char_lm: cannot load --data %s: %s\n(expected the plain-text Time Machine, e.g. "
                        "../shared/data/timemachine.txt)\n", a.data, sg_last_error());
        ex_dist_fail(&g_dx, "char_lm", "cannot load --data");
        ex_dist_stop(&g_dx);
        return 1;
    }
    int64_t n_train = a.limit > 0 && a.limit < cc.n_train ? a.limit : cc.n_train;
    if (n_train < 1 || cc.n - cc.n_train < 1 || cc.vocab_size < 2) {
        fprintf(stderr, "char_lm: --data %s has %lld training and %lld validation characters, vocabulary %lld: "
                        "too little text to train on\n", a.data, (long long)n_train, (long long)(cc.n - cc.n_train),
                (long long)cc.vocab_size);
        ex_dist_fail(&g_dx, "char_lm", "too little text");
        sg_char_corpus_free(&cc);
        ex_dist_stop(&g_dx);
        return 1;
    }
    char recipe[NUM_BUF * 2]; /* what a resumed run must share with the checkpoint's run */
    snprintf(recipe, sizeof recipe, "hidden=%lld seq=%lld partition=%s clip=%g", (long long)o.hidden, (long long)o.seq,
             o.random ? "random" : "sequential", o.clip);
    net_t n = {.m = sg_model_new(SG_F32), .V = cc.vocab_size};
    n.lstm = sg_rnn_new(n.m, "lstm", &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = n.V, .hidden_size = o.hidden});
    n.head = sg_linear_layer_new(n.m, "fc", o.hidden, n.V, true);
    sg_optim *opt = NULL;
    if (!n.lstm || !n.head || sg_model_finalize(n.m, a.seed) ||
        !(opt = sg_optim_new(n.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = a.lr}))) {
        fprintf(stderr, "char_lm: %s\n", sg_last_error());
        ex_dist_fail(&g_dx, "char_lm", sg_last_error());
        sg_char_corpus_free(&cc);
        sg_model_free(n.m);
        ex_dist_stop(&g_dx);
        return 1;
    }
    char ckpt[PATH_BUF], best_ckpt[PATH_BUF];
    ex_path(ckpt, sizeof ckpt, a.out_dir, "char_lm.ckpt");
    ex_path(best_ckpt, sizeof best_ckpt, a.out_dir, "char_lm.best.ckpt");
    int start = 0, best_epoch = 0;
    double best = INFINITY;
    int rc = 1;
    if (a.resume) {
        int64_t ep = 0, be = 0;
        if (ex_meta_same("char_lm", a.resume, "recipe", recipe, "(use the same --hidden, --seq, --partition, --clip)") ||
            ex_meta_int("char_lm", a.resume, "epoch", 0, EX_EPOCHS_MAX, &ep) ||
            ex_meta_real("char_lm", a.resume, "best_val_ppl", 1, INFINITY, &best) ||
            ex_meta_int("char_lm", a.resume, "best_epoch", 0, ep, &be))
            goto done;
        if (sg_checkpoint_load(a.resume, n.m, opt)) {
            fprintf(stderr, "char_lm: cannot resume from %s: %s\n", a.resume, sg_last_error());
            goto done;
        }
        start = (int)ep, best_epoch = (int)be;
        printf("resumed from %s after epoch %d (best validation perplexity %.3f)\n", a.resume, start, best);
    }
    ex_log log = {0};
    if (ex_dist_check_batch(&g_dx, "char_lm", a.batch) || ex_dist_setup(&g_dx, n.m, opt)) {
        fprintf(stderr, "char_lm: %s\n", sg_last_error());
        goto done;
    }
    if (ex_dist_root(&g_dx) && ex_log_open(&log, a.out_dir, "char_lm", "epoch,train_loss,train_ppl,val_ppl,eval_seconds,seconds", start > 0)) {
        fprintf(stderr, "char_lm: %s\n", sg_last_error());
        goto done;
    }
    printf("char_lm: %lld training / %lld validation characters, vocabulary %lld, LSTM(%lld) -> Linear(%lld), "
           "%lld parameters\n  Adam lr %g, clip %g, batch %d x seq %lld (%s partitioning), %d epochs, %d thread(s), backend %s\n",
           (long long)n_train, (long long)(cc.n - cc.n_train), (long long)n.V, (long long)o.hidden, (long long)n.V,
           (long long)sg_model_numel(n.m), a.lr, o.clip, a.batch, (long long)o.seq, o.random ? "random" : "sequential", a.epochs, a.threads,
           sg_backend_name(sg_rnn_default_backend()));
    double t_start = ex_now(), train_time = 0, final_ppl = NAN;
    int trained = 0;
    for (int ep = start + 1; ep <= a.epochs; ep++) {
        sg_rng drng = sg_rng_new(a.seed ^ RNG_STREAM_DATA ^ ((uint64_t)ep << 32)); /* resumable: per-epoch stream */
        int64_t offset = (int64_t)sg_rng_below(&drng, (uint64_t)o.seq);
        stream_t s = make_streams(cc.ids, n_train, offset, a.batch, o.seq, o.random ? &drng : NULL);
        if (s.n_batches < 1) {
            free(s.start);
            fprintf(stderr, "char_lm: %lld training characters are too few for batch %d x seq %lld\n",
                    (long long)n_train, a.batch, (long long)o.seq);
            goto close;
        }
        char label[NUM_BUF];
        snprintf(label, sizeof label, "[epoch %d/%d]", ep, a.epochs);
        ex_progress bar;
        ex_progress_start(&bar, label, s.n_batches * s.T * s.B, a.quiet);
        double t0 = ex_now();
        double loss = run_epoch(&n, opt, &s, o.clip, &bar);
        double dt = ex_now() - t0;
        free(s.start);
        ex_progress_end(&bar);
        if (isnan(loss)) {
            fprintf(stderr, "char_lm: training failed: %s\n", sg_last_error());
            goto close;
        }
        double t1 = ex_now();
        double ppl = eval_ppl(&n, &cc, a.batch, o.seq);
        double et = ex_now() - t1;
        train_time += dt;
        trained++;
        final_ppl = ppl;
        bool improved = ppl < best;
        if (improved) best = ppl, best_epoch = ep;
        printf("epoch %2d  train loss %.4f (ppl %.3f)  val ppl %.3f%s  %.2f s train (%.0f chars/s) + %.2f s eval\n", ep,
               loss, exp(loss), ppl, improved ? " *" : "", dt, (double)(s.n_batches * s.T * s.B) / dt, et);
        ex_log_row(&log, "%d,%.6f,%.6f,%.6f,%.3f,%.3f", ep, loss, exp(loss), ppl, et, dt);
        if (ex_dist_root(&g_dx) && (save(ckpt, &n, opt, ep, best, best_epoch, recipe) ||
                                    (improved && save(best_ckpt, &n, opt, ep, best, best_epoch, recipe))))
            goto close;
    }
    if (trained) {
        printf("validation perplexity: best %.3f (epoch %d, %s), final %.3f; %.2f s/epoch train\n", best, best_epoch,
               best_ckpt, final_ppl, train_time / trained);
        if (best_epoch != a.epochs && sg_checkpoint_load(best_ckpt, n.m, NULL) == 0)
            printf("sampling from the best checkpoint (epoch %d)\n", best_epoch);
    }
    ex_dist_report(&g_dx, "char_lm");
    ex_dist_report_phases(&g_dx, "char_lm");
    rc = o.sample_len > 0 ? sample(&n, &cc, o.prompt, o.sample_len, o.temperature, a.seed) : 0;
    if (a.plot) ex_plot(&log, a.out_dir, "char_lm", 1, (const int[]){3, 4}, 2, (const char *const[]){"train ppl", "val ppl"});
    printf("char_lm done: best val ppl %.3f (epoch %d), final %.3f, wall %.1f s\n", best, best_epoch, final_ppl,
           ex_now() - t_start);
close:
    ex_log_close(&log);
done:
    if (rc) ex_dist_fail(&g_dx, "char_lm", sg_last_error());
    sg_optim_free(opt);
    sg_model_free(n.m);
    sg_char_corpus_free(&cc);
    ex_dist_stop(&g_dx);
    return rc;
}
