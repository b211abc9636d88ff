/* imdb_sentiment: binary sentiment of IMDB movie reviews (Maas et al. 2011) with a bidirectional
 * LSTM over the true (ragged) review lengths. Not a text-processing showcase: the tokenizer and
 * vocabulary are io/text.h's (ASCII words, the 20,000 most frequent training words + pad + unk).
 *
 * Model: Embedding(20002, 128, padding 0) -> [dropout] -> BiLSTM(128) over each review's length ->
 *   --pool max:   max over time of the (T, B, 256) outputs, padded steps masked to -1e30 first, or
 *   --pool final: the final forward and backward states h_n (B, 256) ->
 *   [dropout] -> Linear(256, 1) -> logit; binary cross-entropy with logits; Adam.
 * Default recipe (better than the table): max-pooling over time, reviews cut to their LAST 400 words,
 * dropout 0.3 on the embeddings and 0.5 on the pooled features, 6 epochs, Adam 1e-3, batch 64.
 * PyTorch table recipes (first 200 words, final states or --pool max, no dropout, 3 epochs; PyTorch
 * 1.13 on 2 cores: 80.2 % / 85.6 % test, 210 / 229 s per epoch train + 73 / 80 s eval):
 *   build/imdb_sentiment --data build/data/aclImdb --recipe torch [--pool max] [--bucket]
 * which is --pool final --max-len 200 --keep-start --emb-dropout 0 --dropout 0 --epochs 3
 * --no-bucket (PyTorch's plain shuffled batches: buckets cost the final-states recipe ~4 points);
 * other flags (anywhere on the line) override it.
 * Data: tar xzf ../shared/data/aclImdb-labeled.tar.gz -C build/data   (then --data build/data/aclImdb)
 *
 * Speed trick, on by default except in the torch recipe (--no-bucket / --bucket): length buckets. Each epoch the training
 * reviews are shuffled (seeded), cut into pools of BUCKET_POOL batches, each pool is sorted by length
 * and cut into batches, and the batch order is shuffled again (seeded). Every batch then runs only
 * to its longest review, so little time goes into padding; batches still mix reviews of the whole
 * set. Evaluation batches are sorted by length too (this changes nothing but the speed).
 * Writes <out>/imdb_sentiment.csv, imdb_sentiment.ckpt every epoch, imdb_sentiment.best.ckpt on the
 * best test accuracy (IMDB has no validation split; the result reported is the FINAL epoch's).
 * Data parallel: `mpirun -np N build/imdb_sentiment ...` trains on N processes: each takes its share
 * of every global batch (--batch) of the same seeded plan, and of every evaluation batch; --threads
 * is per process (examples/common/exdist.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "excommon.h"
#include "exdist.h"
#include "io/checkpoint.h"

enum { VOCAB_WORDS = 20000, EMBED = 128, HIDDEN = 128, MAX_LEN = 400, EVAL_BATCH = 64, BUCKET_POOL = 50,
       PATH_BUF = 1024, NUM_BUF = 64, RECIPE_BUF = 256, TORCH_MAX_LEN = 200, TORCH_EPOCHS = 3 };
/* EVAL_BATCH: evaluation runs under no-grad, where the layers free each time step's intermediates
 * as they go (nn/rnn.c), so a large batch costs little memory: with the torch recipe (200 words)
 * peak RSS is 0.77 GB at --eval-batch 512 and 0.81 GB at 1024 (PyTorch: 1.15 GB). 64 is the default
 * the README's timings were taken with. The batch size changes no result: each review is computed
 * on its own. */
#define MASKED_VALUE (-1e30) /* padded steps never win the max (outputs are bounded by 1) */
#define DEFAULT_EMB_DROPOUT 0.3
#define DEFAULT_DROPOUT 0.5
#define RNG_STREAM_DATA 0x1adbULL
#define RNG_STREAM_SUBSET 0x5b5e7ULL

typedef enum { POOL_MAX = 0, POOL_FINAL } pool_kind;

typedef struct {
    int64_t vocab, embed, hidden, max_len, test_limit, eval_batch;
    bool keep_start, no_bucket;
    pool_kind pool;
    double emb_dropout, dropout, clip;
} im_opts;

static int parse_extra(const char *f, const char *v, void *ctx) {
    im_opts *o = ctx;
    if (!strcmp(f, "--keep-start")) return o->keep_start = true, 1;
    if (!strcmp(f, "--keep-end")) return o->keep_start = false, 1;
    if (!strcmp(f, "--no-bucket")) return o->no_bucket = true, 1;
    if (!strcmp(f, "--bucket")) return o->no_bucket = false, 1;
    if (!v) return -1;
    if (!strcmp(f, "--recipe")) return 0; /* applied before parsing, see main */
    if (!strcmp(f, "--vocab")) o->vocab = atoll(v);
    else if (!strcmp(f, "--embed")) o->embed = atoll(v);
    else if (!strcmp(f, "--hidden")) o->hidden = atoll(v);
    else if (!strcmp(f, "--max-len")) o->max_len = atoll(v);
    else if (!strcmp(f, "--test-limit")) o->test_limit = atoll(v);
    else if (!strcmp(f, "--eval-batch")) o->eval_batch = atoll(v);
    else if (!strcmp(f, "--emb-dropout")) o->emb_dropout = atof(v);
    else if (!strcmp(f, "--dropout")) o->dropout = atof(v);
    else if (!strcmp(f, "--clip")) o->clip = atof(v);
    else if (!strcmp(f, "--pool") && (!strcmp(v, "max") || !strcmp(v, "final"))) o->pool = !strcmp(v, "max") ? POOL_MAX : POOL_FINAL;
    else return -1;
    return 0;
}

/* A split as ids and labels. */
typedef struct {
    sg_encoded enc;
    float *labels;
} split_t;

typedef struct {
    sg_model *m;
    sg_embedding_layer *emb;
    sg_rnn *lstm;
    sg_linear_layer *head;
    const im_opts *o;
} net_t;

/* Batch of rows idx[0..B): time-major ids (T, B), lengths, T = longest; padding mask (T, B, 1). */
typedef struct {
    int64_t B, T;
    int64_t *ids, *lengths;
    float *y;
} batch_t;

static void make_batch(const split_t *s, const int64_t *idx, int64_t B, batch_t *b) {
    b->B = B;
    b->T = 1;
    for (int64_t i = 0; i < B; i++) {
        b->lengths[i] = s->enc.lengths[idx[i]];
        if (b->lengths[i] > b->T) b->T = b->lengths[i];
        b->y[i] = s->labels[idx[i]];
    }
    for (int64_t t = 0; t < b->T; t++)
        for (int64_t i = 0; i < B; i++) b->ids[t * B + i] = s->enc.ids[idx[i] * s->enc.max_len + t];
}

/* batch -> logits (B) */
static sg_tensor *forward(net_t *n, const batch_t *b, sg_tensor **mask_out) {
    const im_opts *o = n->o;
    sg_tensor *x = sg_embedding_layer_forward(n->emb, 2, (int64_t[]){b->T, b->B}, b->ids); /* (T, B, E) */
    x = sg_model_dropout(n->m, x, o->emb_dropout);
    sg_rnn_out r;
    if (!x || sg_rnn_forward(n->lstm, x, b->lengths, NULL, NULL, &r)) return NULL;
    sg_tensor *feat;
    if (o->pool == POOL_MAX) { /* (T, B, 2H): padded steps set to MASKED_VALUE, then max over time */
        sg_tensor *mask = sg_zeros(SG_F32, 3, (int64_t[]){b->T, b->B, 1});
        float *mp = sg_data_f32(mask);
        for (int64_t t = 0; t < b->T; t++)
            for (int64_t i = 0; i < b->B; i++) mp[t * b->B + i] = t >= b->lengths[i];
        sg_mark_modified(mask);
        *mask_out = mask;
        feat = sg_max(sg_masked_fill(r.output, mask, MASKED_VALUE), 0, false);
    } else { /* h_n (2, B, H): forward state after each review's last word, backward state after its first */
        sg_tensor *h[2];
        if (sg_chunk(r.h_n, 2, 0, h)) return NULL;
        feat = sg_concat(2, (sg_tensor *[]){sg_squeeze(h[0], 0), sg_squeeze(h[1], 0)}, 1);
    }
    feat = sg_model_dropout(n->m, feat, o->dropout);
    return sg_reshape(sg_linear_layer_forward(n->head, feat), 1, (int64_t[]){b->B});
}

static ex_dist g_dx; /* the processes training together (one without mpirun) */

/* One step on batch b, this process's share of a global batch of GB reviews (b->B may be 0): loss
 * and the number of correct signs; trains when opt is set. 0 or a status. */
static int step(net_t *n, sg_optim *opt, const batch_t *b, int64_t GB, double *loss, int64_t *correct) {
    sg_tensor *mask = NULL, *y = NULL, *logits = NULL, *l = NULL;
    int rc = SG_OK;
    if (opt) {
        sg_model_zero_grad(n->m);
        rc = ex_dist_begin(&g_dx, b->B, GB);
    }
    *loss = 0;
    if (!rc && b->B > 0) {
        if (opt) ex_dist_phase(&g_dx, EX_PH_FORWARD);
        y = sg_from_buffer(SG_F32, 1, (int64_t[]){b->B}, b->y, SG_F32);
        logits = forward(n, b, &mask);
        l = sg_bce_with_logits(logits, y, SG_REDUCE_MEAN);
        rc = l ? SG_OK : sg_last_status();
        if (opt) ex_dist_phase(&g_dx, EX_PH_BACKWARD);
        if (!rc && opt) rc = sg_backward(l);
    }
    if (opt) {
        ex_dist_phase(&g_dx, EX_PH_WAIT);
        if (!rc) rc = ex_dist_end(&g_dx);
        ex_dist_phase(&g_dx, EX_PH_UPDATE);
        if (!rc && n->o->clip > 0 && sg_clip_grad_norm(n->m, n->o->clip) < 0) rc = sg_last_status();
        if (!rc) rc = sg_optim_step(opt);
        ex_dist_phase(&g_dx, EX_PH_OTHER);
        if (!rc) rc = ex_dist_check(&g_dx, n->m);
    }
    if (!rc && l) {
        *loss = sg_item(l);
        for (int64_t i = 0; i < b->B; i++) *correct += (sg_get_flat(logits, i) > 0) == (b->y[i] > 0.5f);
    }
    sg_tape_clear();
    sg_tensor_free(y);
    sg_tensor_free(mask);
    return rc;
}

static int cmp_len(const void *a, const void *b, void *lens) {
    const int64_t *L = lens, i = *(const int64_t *)a, j = *(const int64_t *)b;
    return L[i] != L[j] ? (L[i] < L[j] ? -1 : 1) : (i > j) - (i < j); /* ties by index: deterministic */
}

/* Batch plan of an epoch: order (n) and batch starts (nb + 1). Shuffled with rng when given;
 * with buckets, sorted by length within pools of BUCKET_POOL batches (see the top comment). */
static int64_t plan(const split_t *s, int64_t n, int64_t B, bool bucket, sg_rng *rng, int64_t *order, int64_t *starts) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    if (rng) sg_shuffle(rng, order, n);
    int64_t pool = bucket ? (rng ? BUCKET_POOL * B : n) : 0;
    for (int64_t p = 0; pool && p < n; p += pool)
        qsort_r(order + p, (size_t)(n - p < pool ? n - p : pool), sizeof *order, cmp_len, s->enc.lengths);
    int64_t nb = (n + B - 1) / B;
    for (int64_t k = 0; k <= nb; k++) starts[k] = k * B < n ? k * B : n;
    if (bucket && rng) { /* shuffle the batch order: permute the start indices (last start stays n) */
        int64_t *perm = sg_permutation(rng, nb), *tmp = malloc((size_t)nb * sizeof *tmp);
        if (!perm || !tmp) nb = -1;
        for (int64_t k = 0; k < nb; k++) tmp[k] = starts[perm[k]];
        if (nb > 0) memcpy(starts, tmp, (size_t)nb * sizeof *tmp);
        free(tmp);
        sg_perm_free(perm);
    }
    return nb;
}

/* One pass over the first n rows of s. Returns mean loss (NaN on error) and accuracy in *acc. */
static double run(net_t *n, sg_optim *opt, const split_t *s, int64_t nrows, int64_t B, sg_rng *rng, double *acc,
                  const char *label, bool quiet) {
    int64_t maxT = s->enc.max_len, *order = malloc((size_t)nrows * sizeof *order);
    int64_t *starts = malloc((size_t)(nrows / B + 2) * sizeof *starts);
    int64_t *pick = malloc((size_t)(B / g_dx.size + 1) * sizeof *pick); /* this process's rows of a batch */
    batch_t b = {.ids = malloc((size_t)(maxT * B) * sizeof *b.ids), .lengths = malloc((size_t)B * sizeof *b.lengths),
                 .y = malloc((size_t)B * sizeof *b.y)};
    double total = NAN;
    int64_t correct = 0, done = 0;
    if (opt) ex_dist_phase(&g_dx, EX_PH_OTHER); /* the epoch's plan counts as training time */
    if (order && starts && pick && b.ids && b.lengths && b.y) {
        int64_t nb = plan(s, nrows, B, !n->o->no_bucket || !opt, rng, order, starts);
        if (nb < 0) sg_set_error(SG_ERR_MEM, "imdb_sentiment: out of memory planning batches");
        ex_progress bar;
        ex_progress_start(&bar, label, nrows, quiet);
        total = nb < 0 ? NAN : 0;
        int64_t mine = 0; /* this process's reviews (done counts the global ones) */
        for (int64_t k = 0; k < nb; k++) {
            int64_t bs = (starts[k] + B <= nrows ? B : nrows - starts[k]);
            double l;
            if (opt) ex_dist_phase(&g_dx, EX_PH_BATCH);
            int64_t cnt = ex_dist_pick(&g_dx, order + starts[k], bs, pick);
            make_batch(s, pick, cnt, &b);
            if (opt) ex_dist_phase(&g_dx, EX_PH_OTHER);
            if (step(n, opt, &b, bs, &l, &correct)) {
                total = NAN;
                break;
            }
            total += l * (double)cnt;
            done += bs;
            mine += cnt;
            ex_progress_update(&bar, done, total / (double)(mine ? mine : 1));
        }
        ex_progress_end(&bar);
        if (opt) ex_dist_phase(&g_dx, EX_PH_IDLE);
        double sums[2] = {total, (double)correct};
        if (!isnan(total) && ex_dist_sum(&g_dx, sums, 2)) total = NAN;
        total = sums[0], correct = (int64_t)sums[1];
    }
    *acc = done ? (double)correct / (double)done : 0;
    free(order);
    free(starts);
    free(pick);
    free(b.ids);
    free(b.lengths);
    free(b.y);
    return done ? total / (double)done : NAN;
}

/* Reads split, keeps `limit` reviews (seeded random subset when 0 < limit < n), builds the vocabulary
 * from it when *v is NULL, encodes. */
static int load_split(const char *root, const char *name, int64_t limit, uint64_t seed, const im_opts *o, sg_vocab **v,
                      split_t *s) {
    sg_text_set ts;
    if (sg_imdb_read(root, name, &ts)) return 1;
    if (ts.n == 0) {
        sg_text_set_free(&ts);
        return sg_set_error(SG_ERR_FORMAT, "%s/%s/pos and %s/%s/neg hold no reviews", root, name, root, name), 1;
    }
    int64_t n = limit > 0 && limit < ts.n ? limit : ts.n;
    sg_rng rng = sg_rng_new(seed ^ RNG_STREAM_SUBSET);
    int64_t *pick = n < ts.n ? sg_permutation(&rng, ts.n) : NULL;
    const char **texts = malloc((size_t)n * sizeof *texts);
    s->labels = malloc((size_t)n * sizeof *s->labels);
    int rc = texts && s->labels ? 0 : 1;
    for (int64_t i = 0; i < n && !rc; i++) {
        int64_t j = pick ? pick[i] : i;
        texts[i] = ts.texts[j];
        s->labels[i] = (float)ts.labels[j];
    }
    if (!rc && !*v && !(*v = sg_vocab_build(texts, n, o->vocab))) rc = 1;
    if (!rc) rc = sg_encode_texts(*v, texts, n, o->max_len, !o->keep_start, &s->enc) ? 1 : 0;
    free(texts);
    sg_perm_free(pick);
    sg_text_set_free(&ts);
    return rc;
}

static int save(const char *path, net_t *n, sg_optim *opt, int epoch, double best, int best_epoch, const char *recipe) {
    return ex_save_checkpoint("imdb_sentiment", path, n->m, opt, epoch, "best_test_acc", best, best_epoch,
                              (const char *const[]){"recipe", recipe, NULL});
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* per-epoch lines reach a log file as they happen */
    if (ex_dist_start(&g_dx, &argc, &argv, "imdb_sentiment")) return 1;
    ex_args a = {.data = "build/data/aclImdb", .epochs = 6, .batch = 64, .lr = 1e-3, .seed = 1, .threads = 2};
    im_opts o = {.vocab = VOCAB_WORDS, .embed = EMBED, .hidden = HIDDEN, .max_len = MAX_LEN, .eval_batch = EVAL_BATCH,
                 .pool = POOL_MAX, .emb_dropout = DEFAULT_EMB_DROPOUT, .dropout = DEFAULT_DROPOUT};
    for (int i = 1; i + 1 < argc; i++) /* --recipe first, so that every other flag overrides it */
        if (!strcmp(argv[i], "--recipe")) {
            if (!strcmp(argv[i + 1], "torch")) {
                o.pool = POOL_FINAL, o.max_len = TORCH_MAX_LEN, o.keep_start = true, o.emb_dropout = o.dropout = 0;
                o.no_bucket = true;
                a.epochs = TORCH_EPOCHS;
            } else if (strcmp(argv[i + 1], "default")) {
                fprintf(stderr, "imdb_sentiment: unknown --recipe %s (expected default or torch)\n", argv[i + 1]);
                return 2;
            }
        }
    const char *extra = "  --recipe R         default | torch (the PyTorch table: first 200 words, final states, no\n"
                        "                     dropout, plain shuffled batches, 3 epochs); other flags override it\n"
                        "  --pool max|final   max over time of the outputs, or the final states (default max)\n"
                        "  --max-len N        words kept per review (default 400)\n"
                        "  --keep-start       keep a long review's FIRST words (default: its last, --keep-end)\n"
                        "  --emb-dropout P    dropout on the embeddings (default 0.3)\n"
                        "  --dropout P        dropout on the pooled features (default 0.5)\n"
                        "  --no-bucket        plain shuffled batches (default: length buckets, see the source)\n"
                        "  --bucket           length buckets (to undo --no-bucket or the torch recipe's)\n"
                        "  --vocab N          vocabulary words, plus pad and unk (default 20000)\n"
                        "  --embed N, --hidden N  embedding and LSTM sizes (default 128, 128)\n"
                        "  --clip X           gradient clipping, global norm (default 0: off)\n"
                        "  --test-limit N     evaluate on a seeded random N test reviews (default: all)\n"
                        "  --eval-batch N     evaluation batch size (default 64)\n"
                        "--limit N trains on a seeded random N of the training reviews.\n";
    int pr = ex_parse(argc, argv, &a, "imdb_sentiment", "IMDB review sentiment with a bidirectional LSTM.", extra,
                      parse_extra, &o);
    if (pr < 0 || ex_dist_check_batch(&g_dx, "imdb_sentiment", a.batch)) {
        ex_dist_stop(&g_dx);
        return pr == -1 ? 0 : 2;
    }
    if (o.vocab < 1 || o.embed < 1 || o.hidden < 1 || o.max_len < 1 || o.eval_batch < 1 || o.test_limit < 0 ||
        !(o.emb_dropout >= 0 && o.emb_dropout < 1) || !(o.dropout >= 0 && o.dropout < 1) || o.clip < 0) {
        fprintf(stderr, "imdb_sentiment: bad option value (see --help)\n");
        return 2;
    }
    double t_start = ex_now();
    sg_vocab *v = NULL;
    split_t tr = {0}, te = {0};
    if (load_split(a.data, "train", a.limit, a.seed, &o, &v, &tr) || load_split(a.data, "test", o.test_limit, a.seed, &o, &v, &te)) {
        fprintf(stderr, "imdb_sentiment: cannot load --data %s: %s\n(expected the unpacked aclImdb directory with "
                        "train/{pos,neg} and test/{pos,neg}: tar xzf ../shared/data/aclImdb-labeled.tar.gz -C build/data)\n",
                a.data, sg_last_error());
        ex_dist_fail(&g_dx, "imdb_sentiment", "cannot load --data");
        sg_vocab_free(v), sg_encoded_free(&tr.enc), sg_encoded_free(&te.enc), free(tr.labels), free(te.labels);
        ex_dist_stop(&g_dx);
        return 1;
    }
    if (tr.enc.n < 1 || te.enc.n < 1) {
        fprintf(stderr, "imdb_sentiment: --data %s has %lld training and %lld test reviews; need at least one of each\n",
                a.data, (long long)tr.enc.n, (long long)te.enc.n);
        ex_dist_fail(&g_dx, "imdb_sentiment", "no reviews");
        sg_vocab_free(v), sg_encoded_free(&tr.enc), sg_encoded_free(&te.enc), free(tr.labels), free(te.labels);
        ex_dist_stop(&g_dx);
        return 1;
    }
    char recipe[RECIPE_BUF]; /* what a resumed run must share with the checkpoint's run */
    snprintf(recipe, sizeof recipe, "pool=%s max_len=%lld keep=%s emb_dropout=%g dropout=%g buckets=%s vocab=%lld clip=%g",
             o.pool == POOL_MAX ? "max" : "final", (long long)o.max_len, o.keep_start ? "start" : "end", o.emb_dropout,
             o.dropout, o.no_bucket ? "off" : "on", (long long)o.vocab, o.clip);
    net_t n = {.m = sg_model_new(SG_F32), .o = &o};
    int64_t V = sg_vocab_size(v);
    n.emb = sg_embedding_layer_new(n.m, "embedding", V, o.embed, SG_VOCAB_PAD);
    n.lstm = sg_rnn_new(n.m, "lstm", &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = o.embed, .hidden_size = o.hidden,
                                                      .bidirectional = true});
    n.head = sg_linear_layer_new(n.m, "fc", 2 * o.hidden, 1, true);
    sg_optim *opt = NULL;
    int rc = 1, start = 0, best_epoch = 0;
    double best = -1, final_acc = NAN, train_time = 0, eval_time = 0;
    ex_log log = {0};
    if (!n.emb || !n.lstm || !n.head || sg_model_finalize(n.m, a.seed) ||
        !(opt = sg_optim_new(n.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = a.lr}))) {
        fprintf(stderr, "imdb_sentiment: %s\n", sg_last_error());
        goto done;
    }
    char ckpt[PATH_BUF], best_ckpt[PATH_BUF];
    ex_path(ckpt, sizeof ckpt, a.out_dir, "imdb_sentiment.ckpt");
    ex_path(best_ckpt, sizeof best_ckpt, a.out_dir, "imdb_sentiment.best.ckpt");
    if (a.resume) {
        const char *p = "imdb_sentiment";
        int64_t ep = 0, be = 0;
        if (ex_meta_same(p, a.resume, "recipe", recipe, "(use the same --recipe and model/data flags)") ||
            ex_meta_int(p, a.resume, "epoch", 0, EX_EPOCHS_MAX, &ep) ||
            ex_meta_real(p, a.resume, "best_test_acc", -1, 1, &best) ||
            ex_meta_int(p, a.resume, "best_epoch", 0, ep, &be))
            goto done;
        if (sg_checkpoint_load(a.resume, n.m, opt)) {
            fprintf(stderr, "imdb_sentiment: cannot resume from %s: %s\n", a.resume, sg_last_error());
            goto done;
        }
        start = (int)ep, best_epoch = (int)be;
        printf("resumed from %s after epoch %d\n", a.resume, start);
    }
    if (ex_dist_setup(&g_dx, n.m, opt)) {
        fprintf(stderr, "imdb_sentiment: %s\n", sg_last_error());
        goto done;
    }
    if (ex_dist_root(&g_dx) && ex_log_open(&log, a.out_dir, "imdb_sentiment", "epoch,train_loss,train_acc,test_loss,test_acc,eval_seconds,seconds",
                    start > 0)) {
        fprintf(stderr, "imdb_sentiment: %s\n", sg_last_error());
        goto done;
    }
    printf("imdb_sentiment: %lld train / %lld test reviews, vocabulary %lld, Embedding(%lld, %lld) -> BiLSTM(%lld) -> %s "
           "-> Linear(%lld, 1), %lld parameters\n  %s %lld words, dropout %g/%g, Adam lr %g, batch %d, %d epochs, %s, "
           "%d thread(s), backend %s (loaded in %.1f s)\n",
           (long long)tr.enc.n, (long long)te.enc.n, (long long)V, (long long)V, (long long)o.embed, (long long)o.hidden,
           o.pool == POOL_MAX ? "max over time" : "final states", (long long)(2 * o.hidden), (long long)sg_model_numel(n.m),
           o.keep_start ? "first" : "last", (long long)o.max_len, o.emb_dropout, o.dropout, a.lr, a.batch, a.epochs,
           o.no_bucket ? "no buckets" : "length buckets", a.threads, sg_backend_name(sg_rnn_default_backend()),
           ex_now() - t_start);
    int trained = 0;
    for (int ep = start + 1; ep <= a.epochs; ep++) {
        sg_rng rng = sg_rng_new(a.seed ^ RNG_STREAM_DATA ^ ((uint64_t)ep << 32)); /* per-epoch streams: resumable */
        sg_model_seed_dropout(n.m, a.seed + (uint64_t)ep + ((uint64_t)g_dx.rank << 40)); /* own masks per process */
        char label[NUM_BUF];
        snprintf(label, sizeof label, "[epoch %d/%d]", ep, a.epochs);
        double tr_acc, te_acc, t0 = ex_now();
        sg_model_train(n.m, true);
        double tr_loss = run(&n, opt, &tr, tr.enc.n, a.batch, &rng, &tr_acc, label, a.quiet);
        double dt = ex_now() - t0, t1 = ex_now();
        sg_model_train(n.m, false);
        bool prev = sg_set_grad_enabled(false);
        double te_loss = isnan(tr_loss) ? NAN : run(&n, NULL, &te, te.enc.n, o.eval_batch, NULL, &te_acc, "[test]", a.quiet);
        sg_set_grad_enabled(prev);
        double et = ex_now() - t1;
        if (isnan(tr_loss) || isnan(te_loss)) {
            fprintf(stderr, "imdb_sentiment: %s failed: %s\n", isnan(tr_loss) ? "training" : "evaluation", sg_last_error());
            goto done;
        }
        trained++, train_time += dt, eval_time += et, final_acc = te_acc;
        bool improved = te_acc > best;
        if (improved) best = te_acc, best_epoch = ep;
        printf("epoch %2d  train loss %.4f acc %.2f %%  test loss %.4f acc %.2f %%%s  %.1f s train (%.0f reviews/s) + %.1f s eval\n",
               ep, tr_loss, 100 * tr_acc, te_loss, 100 * te_acc, improved ? " *" : "", dt, (double)tr.enc.n / dt, et);
        ex_log_row(&log, "%d,%.6f,%.6f,%.6f,%.6f,%.3f,%.3f", ep, tr_loss, tr_acc, te_loss, te_acc, et, dt);
        if (ex_dist_root(&g_dx) && (save(ckpt, &n, opt, ep, best, best_epoch, recipe) ||
                                    (improved && save(best_ckpt, &n, opt, ep, best, best_epoch, recipe))))
            goto done;
    }
    ex_dist_report(&g_dx, "imdb_sentiment");
    ex_dist_report_phases(&g_dx, "imdb_sentiment");
    if (a.plot) ex_plot(&log, a.out_dir, "imdb_sentiment", 1, (const int[]){3, 5}, 2, (const char *const[]){"train acc", "test acc"});
    if (trained)
        printf("imdb_sentiment done: test accuracy %.2f %% after epoch %d (best %.2f %% at epoch %d); %.1f s/epoch train "
               "+ %.1f s eval; wall %.1f s\n", 100 * final_acc, a.epochs, 100 * best, best_epoch, train_time / trained,
               eval_time / trained, ex_now() - t_start);
    else
        printf("imdb_sentiment done: nothing to train (checkpoint at epoch %d), wall %.1f s\n", start, ex_now() - t_start);
    rc = 0;
done:
    if (rc) ex_dist_fail(&g_dx, "imdb_sentiment", sg_last_error());
    ex_log_close(&log);
    sg_optim_free(opt);
    sg_model_free(n.m);
    sg_vocab_free(v), sg_encoded_free(&tr.enc), sg_encoded_free(&te.enc), free(tr.labels), free(te.labels);
    ex_dist_stop(&g_dx);
    return rc;
}
