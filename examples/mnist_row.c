/* mnist_row: MNIST digits read row by row by an LSTM (28 steps of 28 pixels) -> Linear(10), Adam,
 * trained on the 10k-image training subset in ../shared/data/mnist and tested on the 10k test set.
 * Not a vision model: no convolutions, no augmentation; it is the classic sequential-MNIST task.
 *
 * Default recipe (>= 97 % test): inputs normalised (MNIST mean/std), LSTM(128), Adam lr 2e-3 with a
 * one-epoch linear warm-up then cosine decay to 1e-5, gradient clipping at norm 1, batch 64, 20 epochs:
 *   build/mnist_row --data ../shared/data/mnist
 * PyTorch table recipe (raw pixels in [0,1], LSTM(128), Adam 1e-3 constant, no clipping, batch 64,
 * 10 epochs; PyTorch 1.13 on 2 cores: 94.6 % test, 4.3 s/epoch train + 1.5 s eval):
 *   build/mnist_row --data ../shared/data/mnist --recipe torch
 * Every flag after --recipe overrides it. Each epoch prints train loss/accuracy, test loss/accuracy
 * and the train and eval times; writes <out>/mnist_row.csv, <out>/mnist_row.ckpt every epoch and
 * <out>/mnist_row.best.ckpt when the test accuracy improves; --resume FILE continues a run.
 * Data parallel: `mpirun -np N build/mnist_row ...` trains on N processes (--batch stays the global
 * batch, --threads is per process; examples/common/exdist.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "excommon.h"
#include "exdist.h"
#include "io/checkpoint.h"

enum { ROWS = 28, COLS = 28, CLASSES = SG_MNIST_CLASSES, EVAL_BATCH = 1000, MAX_LAYERS = 8, META_BUF = 64, DESC_BUF = 256 };
#define SCHED_STEPS_MAX ((int64_t)1 << 50) /* what a checkpoint's schedule may claim */
#define LR_MIN_VALID 1e-12
#define LR_MAX_VALID 1e3
#define MNIST_MEAN 0.1307 /* pixel mean and std of the MNIST training set, for --normalize */
#define MNIST_STD 0.3081
#define MIN_LR 1e-5
#define NAME "mnist_row"

typedef struct {
    int64_t hidden;
    int layers;
    bool bidir, normalize;
    double clip;         /* global-norm clipping; 0: off */
    bool cosine;         /* cosine decay to MIN_LR over the run; else constant */
    int warmup_epochs;   /* linear warm-up length (0: none) */
    int64_t test_limit;  /* evaluate on the first N test images only (0: all) */
} recipe;

/* Flags specific to this example (ex_parse calls back for anything it does not know). */
static int extra_flag(const char *f, const char *v, void *ctx) {
    recipe *r = ctx;
    const int flag_only = v ? 1 : 0; /* what ex_parse expects for a value-less flag (last or not) */
    if (!strcmp(f, "--bidirectional")) return r->bidir = true, flag_only;
    if (!strcmp(f, "--normalize")) return r->normalize = true, flag_only;
    if (!strcmp(f, "--no-normalize")) return r->normalize = false, flag_only;
    if (!v) return -1;
    if (!strcmp(f, "--recipe")) return 0; /* applied before parsing, see main */
    if (!strcmp(f, "--hidden")) return (r->hidden = atoll(v)) >= 1 ? 0 : -1;
    if (!strcmp(f, "--layers")) return (r->layers = atoi(v)) >= 1 && r->layers <= MAX_LAYERS ? 0 : -1;
    if (!strcmp(f, "--clip")) return (r->clip = atof(v)) >= 0 ? 0 : -1;
    if (!strcmp(f, "--test-limit")) return (r->test_limit = atoll(v)) >= 1 ? 0 : -1;
    if (!strcmp(f, "--warmup")) return (r->warmup_epochs = atoi(v)) >= 0 ? 0 : -1;
    if (!strcmp(f, "--schedule")) {
        if (strcmp(v, "cosine") && strcmp(v, "constant")) return -1;
        r->cosine = !strcmp(v, "cosine");
        return 0;
    }
    return -1;
}

static const char *EXTRA_USAGE =
    "  --recipe R         default | torch (the PyTorch table: LSTM 128, Adam 1e-3 constant, no clipping,\n"
    "                     raw pixels, batch 64, 10 epochs); later flags override it\n"
    "  --hidden N         LSTM hidden size (default 128)\n"
    "  --layers N         stacked LSTM layers (default 1)\n"
    "  --bidirectional    read the rows in both directions\n"
    "  --clip X           clip the global gradient norm at X, 0 = off (default 1)\n"
    "  --schedule S       cosine | constant learning rate (default cosine)\n"
    "  --warmup N         epochs of linear lr warm-up (default 1)\n"
    "  --normalize / --no-normalize   standardise pixels with the MNIST mean/std (default on)\n"
    "  --test-limit N     evaluate on the first N test images only (quick runs; default all)\n";

typedef struct {
    sg_model *m;
    sg_rnn *lstm;
    sg_linear_layer *head;
    int dirs, layers;
} net_t;

/* x (T=28, B, 28) -> logits (B, 10) from the last layer's final state(s) */
static sg_tensor *forward(net_t *n, sg_tensor *x) {
    sg_rnn_out o;
    if (sg_rnn_forward(n->lstm, x, NULL, NULL, NULL, &o)) return NULL;
    int64_t top = (int64_t)(n->layers - 1) * n->dirs;
    sg_tensor *h = sg_squeeze(sg_narrow(o.h_n, 0, top, 1), 0);
    if (n->dirs == 2) h = sg_concat(2, (sg_tensor *[]){h, sg_squeeze(sg_narrow(o.h_n, 0, top + 1, 1), 0)}, 1);
    return sg_linear_layer_forward(n->head, h);
}

/* Images idx[0..B) of pix (N, 28*28 floats) -> user-owned x (28, B, 28), time-major. */
static sg_tensor *make_batch(const float *pix, const int64_t *idx, int64_t B, float *scratch) {
    for (int64_t b = 0; b < B; b++)
        for (int r = 0; r < ROWS; r++)
            memcpy(scratch + ((int64_t)r * B + b) * COLS, pix + idx[b] * ROWS * COLS + (int64_t)r * COLS,
                   COLS * sizeof(float));
    return sg_from_buffer(SG_F32, 3, (int64_t[]){ROWS, B, COLS}, scratch, SG_F32);
}

/* Number of rows of logits (B,10) whose argmax equals the label. */
static int64_t count_correct(const sg_tensor *logits, const int64_t *labels, const int64_t *idx, int64_t B) {
    const float *p = sg_data_const(logits);
    int64_t ok = 0;
    for (int64_t b = 0; b < B; b++) {
        int best = 0;
        for (int c = 1; c < CLASSES; c++)
            if (p[b * CLASSES + c] > p[b * CLASSES + best]) best = c;
        ok += best == labels[idx ? idx[b] : b];
    }
    return ok;
}

/* Test loss and accuracy over the whole set, in evaluation mode without a tape. */
static int evaluate(net_t *n, const float *pix, const int64_t *labels, int64_t N, float *scratch, double *loss,
                    double *acc) {
    sg_model_train(n->m, false);
    bool prev = sg_set_grad_enabled(false);
    double sum = 0;
    int64_t ok = 0, idx[EVAL_BATCH];
    int rc = 0;
    for (int64_t s = 0; s < N && !rc; s += EVAL_BATCH) {
        int64_t B = N - s < EVAL_BATCH ? N - s : EVAL_BATCH;
        for (int64_t b = 0; b < B; b++) idx[b] = s + b;
        sg_tensor *x = make_batch(pix, idx, B, scratch);
        sg_tensor *logits = forward(n, x);
        sg_tensor *l = sg_cross_entropy(logits, labels + s, -1, SG_REDUCE_SUM);
        if (!l) rc = 1;
        else {
            sum += sg_item(l);
            ok += count_correct(logits, labels + s, NULL, B);
        }
        sg_tensor_free(x);
        sg_tape_clear();
    }
    sg_set_grad_enabled(prev);
    sg_model_train(n->m, true);
    *loss = sum / (double)N;
    *acc = (double)ok / (double)N;
    return rc;
}

/* Pixels as one float array (N*784), standardised when asked. Caller frees. */
static float *pixels(const sg_mnist *d, bool normalize) {
    int64_t n = d->n * ROWS * COLS;
    float *p = malloc((size_t)n * sizeof(float));
    if (!p || sg_to_buffer(d->images, p, SG_F32)) return free(p), NULL;
    if (normalize)
        for (int64_t i = 0; i < n; i++) p[i] = (float)((p[i] - MNIST_MEAN) / MNIST_STD);
    return p;
}

/* Checkpoint metadata: finished epochs, best test accuracy, the recipe (a resumed run must have the
 * same) and the learning-rate schedule as run (a resumed run continues it, whatever its --epochs). */
static int save_ckpt(const char *out, const char *file, net_t *n, sg_optim *opt, int epoch, double best,
                     const char *desc, const sg_lr_schedule *sched, double base_lr) {
    char path[1024], ep[META_BUF], bs[META_BUF], tot[META_BUF], wu[META_BUF], lr[META_BUF];
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(bs, sizeof bs, "%.17g", best);
    snprintf(tot, sizeof tot, "%lld", (long long)sched->total_steps);
    snprintf(wu, sizeof wu, "%lld", (long long)sched->warmup_steps);
    snprintf(lr, sizeof lr, "%.17g", base_lr);
    const char *meta[] = {"epoch", ep, "best_test_acc", bs, "example", NAME, "recipe", desc,
                          "sched_total_steps", tot, "sched_warmup_steps", wu, "sched_lr", lr, NULL};
    if (!sg_checkpoint_save(ex_path(path, sizeof path, out, file), n->m, opt, meta)) return 0;
    fprintf(stderr, NAME ": cannot save %s: %s\n", path, sg_last_error());
    return 1;
}

int main(int argc, char **argv) {
    ex_dist dx;
    if (ex_dist_start(&dx, &argc, &argv, NAME)) return 1;
    ex_args a = {.epochs = 20, .batch = 64, .lr = 2e-3, .seed = 1, .threads = 2, .data = "../shared/data/mnist"};
    recipe r = {.hidden = 128, .layers = 1, .normalize = true, .clip = 1, .cosine = true, .warmup_epochs = 1};
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--recipe")) {
            if (!strcmp(argv[i + 1], "torch")) {
                a.epochs = 10, a.lr = 1e-3;
                r = (recipe){.hidden = 128, .layers = 1};
            } else if (strcmp(argv[i + 1], "default")) {
                fprintf(stderr, NAME ": unknown --recipe %s (expected default or torch)\n", argv[i + 1]);
                return 2;
            }
        }
    int pr = ex_parse(argc, argv, &a, NAME, "Sequential MNIST: an LSTM reads each digit as 28 rows of 28 pixels.",
                      EXTRA_USAGE, extra_flag, &r);
    if (pr || ex_dist_check_batch(&dx, NAME, a.batch)) {
        ex_dist_stop(&dx);
        return pr == -1 ? 0 : 2;
    }

    sg_mnist train = {0}, test = {0};
    if (sg_mnist_load(a.data, "train", &train) || sg_mnist_load(a.data, "t10k", &test)) {
        fprintf(stderr, NAME ": cannot load MNIST from '%s': %s\n"
                        "  (expected a directory with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],\n"
                        "   t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz])\n",
                a.data, sg_last_error());
        ex_dist_fail(&dx, NAME, "cannot load MNIST");
        sg_mnist_free(&train);
        ex_dist_stop(&dx);
        return 1;
    }
    if (train.rows != ROWS || train.cols != COLS || test.rows != ROWS || test.cols != COLS) {
        fprintf(stderr, NAME ": '%s' does not hold 28x28 images\n", a.data);
        ex_dist_fail(&dx, NAME, "wrong image size");
        sg_mnist_free(&train), sg_mnist_free(&test);
        ex_dist_stop(&dx);
        return 1;
    }
    if (train.n < 1 || test.n < 1) {
        fprintf(stderr, NAME ": '%s' holds %lld training and %lld test images; need at least one of each\n", a.data,
                (long long)train.n, (long long)test.n);
        ex_dist_fail(&dx, NAME, "no images");
        sg_mnist_free(&train), sg_mnist_free(&test);
        ex_dist_stop(&dx);
        return 1;
    }
    int64_t N = a.limit && a.limit < train.n ? a.limit : train.n;
    int64_t NT = r.test_limit && r.test_limit < test.n ? r.test_limit : test.n;
    float *trp = pixels(&train, r.normalize), *tep = pixels(&test, r.normalize);
    float *scratch = malloc((size_t)(a.batch > EVAL_BATCH ? a.batch : EVAL_BATCH) * ROWS * COLS * sizeof(float));
    int64_t *yb = malloc((size_t)a.batch * sizeof(int64_t));

    net_t n = {.m = sg_model_new(SG_F32), .dirs = r.bidir ? 2 : 1, .layers = r.layers};
    sg_rnn_config cfg = {.cell = SG_CELL_LSTM, .input_size = COLS, .hidden_size = r.hidden,
                         .num_layers = r.layers, .bidirectional = r.bidir};
    n.lstm = sg_rnn_new(n.m, "lstm", &cfg);
    n.head = sg_linear_layer_new(n.m, "fc", n.dirs * r.hidden, CLASSES, true);
    sg_optim *opt = NULL;
    sg_batcher bt = {0};
    ex_log log = {0};
    int rc = 1, start_epoch = 0;
    bool reported = false; /* the failure's message is printed already */
    double best = 0, best_final = 0, t_all = ex_now();
    if (!trp || !tep || !scratch || !yb || !n.lstm || !n.head || sg_model_finalize(n.m, a.seed)) goto fail;
    opt = sg_optim_new(n.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = a.lr});
    if (!opt || sg_batcher_init(&bt, N, a.batch, false)) goto fail;
    int warm = r.warmup_epochs < a.epochs ? r.warmup_epochs : a.epochs - 1; /* cosine needs steps after it */
    sg_lr_schedule sched = {.kind = r.cosine ? SG_SCHED_COSINE : SG_SCHED_CONSTANT,
                            .warmup_steps = (int64_t)warm * bt.n_batches,
                            .total_steps = (int64_t)a.epochs * bt.n_batches,
                            .min_lr = r.cosine ? MIN_LR : 0};
    double base_lr = a.lr;
    char desc[DESC_BUF]; /* what a resumed run must share with the checkpoint's run */
    snprintf(desc, sizeof desc, "hidden=%lld layers=%d bidirectional=%d pixels=%s clip=%g schedule=%s",
             (long long)r.hidden, r.layers, (int)r.bidir, r.normalize ? "standardised" : "raw", r.clip,
             r.cosine ? "cosine" : "constant");
    if (a.resume) {
        int64_t ep, tot, wu;
        double lr0;
        reported = true; /* the readers print their own message */
        if (ex_meta_same(NAME, a.resume, "recipe", desc, "(use the same --recipe and model flags)") ||
            ex_meta_int(NAME, a.resume, "epoch", 0, EX_EPOCHS_MAX, &ep) ||
            ex_meta_real(NAME, a.resume, "best_test_acc", 0, 1, &best) ||
            ex_meta_int(NAME, a.resume, "sched_total_steps", 1, SCHED_STEPS_MAX, &tot) ||
            ex_meta_int(NAME, a.resume, "sched_warmup_steps", 0, r.cosine ? tot - 1 : tot, &wu) ||
            ex_meta_real(NAME, a.resume, "sched_lr", LR_MIN_VALID, LR_MAX_VALID, &lr0))
            goto fail;
        reported = false;
        if (sg_checkpoint_load(a.resume, n.m, opt)) goto fail;
        start_epoch = (int)ep;
        sched.total_steps = tot, sched.warmup_steps = wu, base_lr = lr0;
        printf("resumed from %s after epoch %d (best test accuracy so far %.2f %%); continuing its %s schedule: "
               "lr %g, %lld warm-up and %lld total steps, now at step %lld\n",
               a.resume, start_epoch, 100 * best, r.cosine ? "cosine" : "constant", base_lr, (long long)wu,
               (long long)tot, (long long)sg_optim_steps(opt));
        if (base_lr != a.lr) printf("  (--lr %g ignored: the schedule is the checkpoint's)\n", a.lr);
    }
    if (ex_dist_setup(&dx, n.m, opt)) goto fail;
    printf(NAME ": %lld train / %lld test images, LSTM(%lld) x %d layer(s)%s -> Linear(%d), %lld parameters\n"
           "  Adam lr %g (%s, warm-up %d epoch(s)), clip %g, batch %d, %d epochs, %s pixels, %d thread(s), backend %s\n",
           (long long)N, (long long)NT, (long long)r.hidden, r.layers, r.bidir ? " bidirectional" : "", CLASSES,
           (long long)sg_model_numel(n.m), base_lr, r.cosine ? "cosine" : "constant", warm, r.clip, a.batch,
           a.epochs, r.normalize ? "standardised" : "raw", a.threads, sg_backend_name(sg_rnn_default_backend()));
    if (ex_dist_root(&dx) && ex_log_open(&log, a.out_dir, NAME, "epoch,train_loss,train_acc,test_loss,test_acc,lr,eval_seconds,seconds",
                    a.resume != NULL))
        goto fail;
    sg_rng rng = sg_rng_new(a.seed + 1);
    double t_train = 0, t_eval = 0;
    for (int ep = start_epoch; ep < a.epochs; ep++) {
        sg_rng erng = {rng.seed, rng.offset + (uint64_t)ep * (uint64_t)N}; /* same order whether resumed or not */
        sg_batcher_shuffle(&bt, &erng);
        char label[32];
        snprintf(label, sizeof label, "[epoch %d/%d]", ep + 1, a.epochs);
        ex_progress pg;
        ex_progress_start(&pg, label, N, a.quiet);
        double t0 = ex_now(), sum = 0;
        int64_t ok = 0, seen = 0, mine = 0; /* global and this process's examples */
        ex_dist_phase(&dx, EX_PH_OTHER);
        for (int64_t k = 0; k < bt.n_batches; k++) {
            const int64_t *idx;
            int64_t GB = sg_batcher_batch(&bt, k, &idx), off, B; /* global batch; this process's share */
            ex_dist_share(&dx, GB, &off, &B);
            idx += off;
            sg_optim_set_lr(opt, sg_lr_at(&sched, base_lr, sg_optim_steps(opt))); /* the run's step, resumed or not */
            sg_model_zero_grad(n.m);
            if (ex_dist_begin(&dx, B, GB)) goto fail;
            if (B > 0) {
                ex_dist_phase(&dx, EX_PH_BATCH);
                sg_gather_rows_i64(train.labels, train.n, 1, idx, B, yb);
                sg_tensor *x = make_batch(trp, idx, B, scratch);
                ex_dist_phase(&dx, EX_PH_FORWARD);
                sg_tensor *logits = forward(&n, x);
                sg_tensor *loss = sg_cross_entropy(logits, yb, -1, SG_REDUCE_MEAN);
                sg_tensor_free(x);
                ex_dist_phase(&dx, EX_PH_BACKWARD);
                if (!loss || sg_backward(loss)) goto fail;
                ex_dist_phase(&dx, EX_PH_OTHER);
                sum += sg_item(loss) * (double)B;
                ok += count_correct(logits, yb, NULL, B);
                mine += B;
            }
            ex_dist_phase(&dx, EX_PH_WAIT);
            if (ex_dist_end(&dx)) goto fail;
            ex_dist_phase(&dx, EX_PH_UPDATE);
            if (r.clip > 0) sg_clip_grad_norm(n.m, r.clip);
            sg_optim_step(opt);
            ex_dist_phase(&dx, EX_PH_OTHER);
            if (ex_dist_check(&dx, n.m)) goto fail;
            seen += GB;
            sg_tape_clear();
            ex_progress_update(&pg, seen, sum / (double)(mine ? mine : 1));
        }
        ex_progress_end(&pg);
        ex_dist_phase(&dx, EX_PH_IDLE);
        double t1 = ex_now(), tl = 0, ta = 0, tot[4] = {sum, (double)ok, 0, 0};
        int64_t eoff, en; /* each process evaluates its share of the test set */
        ex_dist_share(&dx, NT, &eoff, &en);
        if (en > 0 && evaluate(&n, tep + eoff * ROWS * COLS, test.labels + eoff, en, scratch, &tl, &ta)) goto fail;
        tot[2] = tl * (double)en, tot[3] = ta * (double)en;
        if (ex_dist_sum(&dx, tot, 4)) goto fail;
        sum = tot[0], ok = (int64_t)tot[1], tl = tot[2] / (double)NT, ta = tot[3] / (double)NT;
        double t2 = ex_now();
        t_train += t1 - t0, t_eval += t2 - t1;
        bool improved = ta > best;
        if (improved) best = ta;
        best_final = ta;
        printf("epoch %2d  train loss %.4f acc %6.2f %%  test loss %.4f acc %6.2f %%%s  lr %.2e  train %.2f s  eval %.2f s\n",
               ep + 1, sum / (double)seen, 100.0 * (double)ok / (double)seen, tl, 100 * ta, improved ? " *" : "  ",
               sg_optim_lr(opt), t1 - t0, t2 - t1);
        ex_log_row(&log, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%.3f", ep + 1, sum / (double)seen, (double)ok / (double)seen,
                   tl, ta, sg_optim_lr(opt), t2 - t1, t1 - t0);
        if (ex_dist_root(&dx) &&
            (save_ckpt(a.out_dir, NAME ".ckpt", &n, opt, ep + 1, best, desc, &sched, base_lr) ||
             (improved && save_ckpt(a.out_dir, NAME ".best.ckpt", &n, opt, ep + 1, best, desc, &sched, base_lr)))) {
            reported = true;
            goto fail;
        }
    }
    int ran = a.epochs - start_epoch;
    if (ran > 0)
        printf(NAME ": final test accuracy %.2f %%, best %.2f %%; %.2f s/epoch train + %.2f s eval; wall %.1f s\n",
               100 * best_final, 100 * best, t_train / ran, t_eval / ran, ex_now() - t_all);
    else
        printf(NAME ": nothing to do (checkpoint is at epoch %d of %d)\n", start_epoch, a.epochs);
    ex_dist_report(&dx, NAME);
    ex_dist_report_phases(&dx, NAME);
    if (a.plot && ran > 0)
        ex_plot(&log, a.out_dir, NAME, 1, (const int[]){3, 5}, 2, (const char *const[]){"train acc", "test acc"});
    rc = 0;
fail:
    if (rc) {
        ex_dist_fail(&dx, NAME, reported ? "(see the message above)" : sg_last_error());
        if (!reported) fprintf(stderr, NAME ": error: %s\n", sg_last_error());
    }
    sg_tape_clear();
    ex_log_close(&log);
    sg_batcher_free(&bt);
    sg_optim_free(opt);
    sg_model_free(n.m);
    free(trp), free(tep), free(scratch), free(yb);
    sg_mnist_free(&train), sg_mnist_free(&test);
    ex_dist_stop(&dx);
    return rc;
}
