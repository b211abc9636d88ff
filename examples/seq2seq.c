/* seq2seq: an encoder-decoder with Luong attention (Luong et al. 2015, "general" score, input
 * feeding) on two synthetic tasks: reverse or sort a sequence of digits of variable length.
 * Not a translation system: a 13-symbol vocabulary, no tokenizer, data generated on the fly.
 *
 * Model: digits -> Embedding(E) -> LSTM encoder (sg_rnn, ragged lengths) -> outputs (T, B, H).
 * Decoder: an LSTM cell (sg_rnn_cell) started from the encoder's final state, input = [embedding
 * of the previous token; previous attentional vector]; scores h_t^T W_a h_s over the encoder
 * outputs with the padded positions masked to -inf, softmax, context c_t; attentional vector
 * tanh(W_c [c_t; h_t] + b_c) -> Linear(V). Training: teacher forcing (the decoder reads the gold
 * previous token), cross-entropy over the target tokens (padding ignored), Adam with cosine decay,
 * gradient clipping. Decoding: greedy (batched) and beam search (--beam K, one sequence at a time,
 * the K hypotheses batched); a prediction is right only if every token and the end-of-sequence
 * token are right.
 *
 * Tokens: digits 0-9, EOS 10 (ends every target), BOS 11 (first decoder input), PAD 12.
 * Data: a splitmix64 stream per epoch (and one each for the validation and test sets), so that
 * tools/seq2seq_torch.py trains PyTorch's version of the same model on exactly the same batches.
 *
 *   build/seq2seq --task reverse
 *   build/seq2seq --task sort --beam 4
 * Writes <out>/seq2seq_<task>.csv and .ckpt (every epoch); --resume FILE continues a run. The last
 * line is "sequence accuracy: <task> <percent>%" on the test set with the chosen decoder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "excommon.h"
#include "io/checkpoint.h"

enum {
    N_DIGITS = 10,
    EOS = 10,
    BOS = 11,
    PAD = 12,
    VOCAB = 13,
    IGNORE = -1,       /* target id after a sequence's EOS */
    MAX_LEN_CAP = 64,  /* longest source --max-len accepts */
    MAX_BEAM = 16,
    EVAL_BATCH = 500,
    NAME_BUF = 64,
    PATH_BUF = 1024,
};
#define MIN_LR_FRACTION 0.02 /* cosine decay ends at this fraction of --lr */
#define DATA_STREAM 0x5eedda7aULL /* seed offsets of the data streams (also in seq2seq_torch.py) */
#define VAL_STREAM 0x7a1ULL
#define TEST_STREAM 0x7e57ULL

typedef enum { TASK_REVERSE, TASK_SORT } task_kind;
static const char *const TASK_NAMES[] = {"reverse", "sort"};

typedef struct {
    task_kind task;
    int64_t embed, hidden, steps, min_len, max_len, n_val, n_test;
    int beam;
    double clip;
} s2s_opts;

static int parse_extra(const char *f, const char *v, void *ctx) {
    s2s_opts *o = ctx;
    if (!v) return -1;
    if (!strcmp(f, "--task")) {
        if (!strcmp(v, "reverse")) o->task = TASK_REVERSE;
        else if (!strcmp(v, "sort")) o->task = TASK_SORT;
        else return -1;
    } else if (!strcmp(f, "--embed")) o->embed = atoll(v);
    else if (!strcmp(f, "--hidden")) o->hidden = atoll(v);
    else if (!strcmp(f, "--steps")) o->steps = atoll(v);
    else if (!strcmp(f, "--min-len")) o->min_len = atoll(v);
    else if (!strcmp(f, "--max-len")) o->max_len = atoll(v);
    else if (!strcmp(f, "--val")) o->n_val = atoll(v);
    else if (!strcmp(f, "--test")) o->n_test = atoll(v);
    else if (!strcmp(f, "--beam")) o->beam = atoi(v);
    else if (!strcmp(f, "--clip")) o->clip = atof(v);
    else return -1;
    return 0;
}

/* ---- data: a splitmix64 stream (simple to reproduce in Python) ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static int64_t draw_below(uint64_t *s, int64_t n) { return (int64_t)(splitmix64(s) % (uint64_t)n); }

/* A batch, time-major: src[t*B + b] (PAD beyond len[b]), dec_in and tgt [t*B + b] for Td = Ts + 1
 * decoder steps (tgt: the answer, EOS, then IGNORE; dec_in: BOS then tgt shifted, PAD after EOS),
 * mask[b*Ts + t] = 1 at padded source positions. */
typedef struct {
    int64_t B, Ts, Td;
    int64_t *src, *len, *dec_in, *tgt;
    float *mask;
} batch_t;

static void batch_free(batch_t *b) {
    free(b->src);
    free(b->len);
    free(b->dec_in);
    free(b->tgt);
    free(b->mask);
    *b = (batch_t){0};
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* B examples from the stream s: for each, its length, then its digits. */
static int make_batch(batch_t *bt, uint64_t *s, int64_t B, const s2s_opts *o) {
    int64_t seq[MAX_LEN_CAP], ans[MAX_LEN_CAP];
    int64_t *lens = malloc((size_t)B * sizeof *lens), *digits = malloc((size_t)(B * o->max_len) * sizeof *digits);
    *bt = (batch_t){.B = B};
    if (!lens || !digits) goto oom;
    for (int64_t b = 0; b < B; b++) {
        lens[b] = o->min_len + draw_below(s, o->max_len - o->min_len + 1);
        bt->Ts = lens[b] > bt->Ts ? lens[b] : bt->Ts;
        for (int64_t t = 0; t < lens[b]; t++) digits[b * o->max_len + t] = draw_below(s, N_DIGITS);
    }
    int64_t Ts = bt->Ts, Td = bt->Td = Ts + 1;
    bt->len = lens;
    bt->src = malloc((size_t)(Ts * B) * sizeof *bt->src);
    bt->dec_in = malloc((size_t)(Td * B) * sizeof *bt->dec_in);
    bt->tgt = malloc((size_t)(Td * B) * sizeof *bt->tgt);
    bt->mask = malloc((size_t)(B * Ts) * sizeof *bt->mask);
    if (!bt->src || !bt->dec_in || !bt->tgt || !bt->mask) goto oom;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = lens[b];
        memcpy(seq, digits + b * o->max_len, (size_t)L * sizeof *seq);
        for (int64_t t = 0; t < L; t++) ans[t] = o->task == TASK_REVERSE ? seq[L - 1 - t] : seq[t];
        if (o->task == TASK_SORT) qsort(ans, (size_t)L, sizeof *ans, cmp_i64);
        for (int64_t t = 0; t < Ts; t++) {
            bt->src[t * B + b] = t < L ? seq[t] : PAD;
            bt->mask[b * Ts + t] = t < L ? 0.0f : 1.0f;
        }
        for (int64_t t = 0; t < Td; t++) {
            bt->tgt[t * B + b] = t < L ? ans[t] : t == L ? EOS : IGNORE;
            bt->dec_in[t * B + b] = t == 0 ? BOS : t <= L ? bt->tgt[(t - 1) * B + b] : PAD;
        }
    }
    free(digits);
    return 0;
oom:
    free(digits);
    if (!bt->len) free(lens);
    batch_free(bt);
    fprintf(stderr, "seq2seq: out of memory making a batch\n");
    return 1;
}

/* ---- model ---- */

typedef struct {
    sg_model *m;
    sg_embedding_layer *enc_emb, *dec_emb;
    sg_rnn *enc;
    sg_rnn_cell *dec;
    sg_linear_layer *attn, *combine, *out;
    int64_t H;
} net_t;

/* What every decoder step attends over, for B rows: encoder outputs (B, Ts, H), their projection
 * W_a h_s (B, Ts, H), the padding mask (B, Ts) (user-owned). */
typedef struct {
    sg_tensor *enc, *keys, *mask;
} memory_t;

/* The decoder's running state: h, c (B, H) and the attentional vector ht (B, H). */
typedef struct {
    sg_tensor *h, *c, *ht;
} dstate_t;

static int build(net_t *n, const s2s_opts *o, uint64_t seed) {
    int64_t E = o->embed, H = n->H = o->hidden;
    n->m = sg_model_new(SG_F32);
    n->enc_emb = sg_embedding_layer_new(n->m, "enc_emb", VOCAB, E, PAD);
    n->dec_emb = sg_embedding_layer_new(n->m, "dec_emb", VOCAB, E, PAD);
    n->enc = sg_rnn_new(n->m, "encoder", &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = E, .hidden_size = H});
    n->dec = sg_rnn_cell_new(n->m, "decoder", &(sg_rnn_config){.cell = SG_CELL_LSTM, .input_size = E + H, .hidden_size = H});
    n->attn = sg_linear_layer_new(n->m, "attn", H, H, false);
    n->combine = sg_linear_layer_new(n->m, "combine", 2 * H, H, true);
    n->out = sg_linear_layer_new(n->m, "out", H, VOCAB, true);
    return n->m && n->enc_emb && n->dec_emb && n->enc && n->dec && n->attn && n->combine && n->out
               ? sg_model_finalize(n->m, seed)
               : sg_last_status();
}

/* Runs the encoder on bt; fills mem and the decoder's initial state (ht zeros, user-owned in *zero). */
static int encode(net_t *n, const batch_t *bt, memory_t *mem, dstate_t *st, sg_tensor **zero) {
    int64_t B = bt->B, Ts = bt->Ts, H = n->H;
    sg_tensor *x = sg_embedding_layer_forward(n->enc_emb, 2, (int64_t[]){Ts, B}, bt->src);
    sg_rnn_out o;
    if (!x || sg_rnn_forward(n->enc, x, bt->len, NULL, NULL, &o)) return sg_last_status();
    mem->enc = sg_contiguous(sg_transpose(o.output, 0, 1));
    mem->keys = sg_linear_layer_forward(n->attn, mem->enc);
    mem->mask = sg_from_buffer(SG_F32, 2, (int64_t[]){B, Ts}, bt->mask, SG_F32);
    *zero = sg_zeros(SG_F32, 2, (int64_t[]){B, H});
    *st = (dstate_t){sg_select(o.h_n, 0, 0), sg_select(o.c_n, 0, 0), *zero};
    return mem->keys && mem->mask && *zero && st->h && st->c ? SG_OK : sg_last_status();
}

/* One decoder step from the embedded previous tokens e (B, E): updates st. */
static int decode_step(net_t *n, const memory_t *mem, sg_tensor *e, dstate_t *st) {
    sg_tensor *h, *c;
    if (sg_rnn_cell_forward(n->dec, sg_concat(2, (sg_tensor *[]){e, st->ht}, 1), st->h, st->c, &h, &c))
        return sg_last_status();
    sg_tensor *scores = sg_squeeze(sg_matmul(mem->keys, sg_unsqueeze(h, 2)), 2);          /* (B, Ts) */
    sg_tensor *a = sg_softmax(sg_masked_fill(scores, mem->mask, -INFINITY), 1);            /* (B, Ts) */
    sg_tensor *ctx = sg_squeeze(sg_matmul(sg_unsqueeze(a, 1), mem->enc), 1);               /* (B, H) */
    sg_tensor *ht = sg_tanh(sg_linear_layer_forward(n->combine, sg_concat(2, (sg_tensor *[]){ctx, h}, 1)));
    *st = (dstate_t){h, c, ht};
    return ht ? SG_OK : sg_last_status();
}

/* Teacher-forced loss of one batch: mean cross-entropy over the target tokens. */
static sg_tensor *train_loss(net_t *n, const batch_t *bt, sg_tensor **zero, sg_tensor **mask) {
    memory_t mem = {0};
    dstate_t st;
    int rc = encode(n, bt, &mem, &st, zero);
    *mask = mem.mask;
    if (rc) return NULL;
    int64_t B = bt->B, Td = bt->Td;
    sg_tensor *emb = sg_embedding_layer_forward(n->dec_emb, 2, (int64_t[]){Td, B}, bt->dec_in); /* (Td, B, E) */
    sg_tensor **hts = malloc((size_t)Td * sizeof *hts);
    if (!hts) return NULL;
    for (int64_t t = 0; t < Td && !rc; t++) {
        rc = decode_step(n, &mem, sg_select(emb, 0, t), &st);
        hts[t] = st.ht;
    }
    sg_tensor *logits = rc ? NULL : sg_linear_layer_forward(n->out, sg_stack((int)Td, hts, 0)); /* (Td, B, V) */
    free(hts);
    return sg_cross_entropy(sg_reshape(logits, 2, (int64_t[]){Td * B, VOCAB}), bt->tgt, IGNORE, SG_REDUCE_MEAN);
}

/* ---- decoding ---- */

static int64_t argmax_row(const float *p, int64_t n) {
    int64_t best = 0;
    for (int64_t v = 1; v < n; v++)
        if (p[v] > p[best]) best = v;
    return best;
}

/* Whether pred[0..npred) (ending with EOS when finished) is the answer of example b of bt. */
static bool exact(const batch_t *bt, int64_t b, const int64_t *pred, int64_t npred) {
    for (int64_t t = 0; t < bt->Td; t++) {
        int64_t want = bt->tgt[t * bt->B + b];
        if (want == IGNORE) return true;
        if (t >= npred || pred[t] != want) return false;
    }
    return true;
}

/* Greedy decoding of a whole batch; returns the number of exactly right sequences (-1 on error). */
static int64_t greedy_batch(net_t *n, const batch_t *bt) {
    memory_t mem = {0};
    dstate_t st;
    sg_tensor *zero = NULL;
    int64_t B = bt->B, steps = bt->Ts + 1, right = -1;
    int64_t *tok = malloc((size_t)B * sizeof *tok), *pred = malloc((size_t)(B * steps) * sizeof *pred);
    float *lg = malloc((size_t)(B * VOCAB) * sizeof *lg);
    bool *done = calloc((size_t)B, sizeof *done);
    int rc = tok && pred && lg && done ? encode(n, bt, &mem, &st, &zero) : SG_ERR_MEM;
    for (int64_t b = 0; b < B; b++) tok[b] = BOS;
    int64_t t = 0;
    for (bool all = false; t < steps && !rc && !all; t++) {
        sg_tensor *e = sg_embedding_layer_forward(n->dec_emb, 1, &B, tok);
        rc = decode_step(n, &mem, e, &st) || sg_to_buffer(sg_linear_layer_forward(n->out, st.ht), lg, SG_F32);
        all = true;
        for (int64_t b = 0; b < B && !rc; b++) {
            tok[b] = done[b] ? PAD : argmax_row(lg + b * VOCAB, VOCAB);
            pred[b * steps + t] = tok[b];
            done[b] = done[b] || tok[b] == EOS;
            all = all && done[b];
        }
    }
    if (!rc) {
        right = 0;
        for (int64_t b = 0; b < B; b++) right += exact(bt, b, pred + b * steps, t);
    }
    sg_tensor_free(mem.mask);
    sg_tensor_free(zero);
    free(tok);
    free(pred);
    free(lg);
    free(done);
    return right;
}

typedef struct {
    double score; /* sum of log-probabilities */
    int64_t len;
    int64_t tok[MAX_LEN_CAP + 1];
} hyp_t;

/* Beam search over example b of bt with K hypotheses (batched as K rows): the best finished
 * hypothesis, or the best unfinished one after the step limit. Writes it into *best. */
static int beam_one(net_t *n, const batch_t *bt, int64_t b, int K, hyp_t *best) {
    batch_t one = {.B = 1, .Ts = bt->len[b], .Td = bt->len[b] + 1};
    int64_t L = one.Ts, src[MAX_LEN_CAP], len1 = L, zeros_idx[MAX_BEAM] = {0};
    float mask[MAX_LEN_CAP] = {0};
    for (int64_t t = 0; t < L; t++) src[t] = bt->src[t * bt->B + b];
    one.src = src;
    one.len = &len1;
    one.mask = mask;
    memory_t m1 = {0}, mem;
    dstate_t st;
    sg_tensor *zero = NULL;
    int rc = encode(n, &one, &m1, &st, &zero);
    if (rc) goto out;
    /* the one sequence's memory and state repeated for the K rows */
    mem = (memory_t){sg_index_select(m1.enc, 0, K, zeros_idx), sg_index_select(m1.keys, 0, K, zeros_idx),
                     sg_from_buffer(SG_F32, 2, (int64_t[]){K, L}, (float[MAX_BEAM * MAX_LEN_CAP]){0}, SG_F32)};
    st = (dstate_t){sg_index_select(st.h, 0, K, zeros_idx), sg_index_select(st.c, 0, K, zeros_idx),
                    sg_index_select(st.ht, 0, K, zeros_idx)};
    hyp_t alive[MAX_BEAM], next[MAX_BEAM];
    for (int k = 0; k < K; k++) alive[k] = (hyp_t){.score = k ? -INFINITY : 0}; /* one start hypothesis */
    best->score = -INFINITY;
    best->len = 0;
    float lp[MAX_BEAM * VOCAB];
    int64_t tok[MAX_BEAM], parent[MAX_BEAM];
    for (int k = 0; k < K; k++) tok[k] = BOS;
    for (int64_t t = 0; t <= L && !rc; t++) {
        int64_t KK = K;
        sg_tensor *e = sg_embedding_layer_forward(n->dec_emb, 1, &KK, tok);
        rc = decode_step(n, &mem, e, &st) ||
             sg_to_buffer(sg_log_softmax(sg_linear_layer_forward(n->out, st.ht), 1), lp, SG_F32);
        if (rc) break;
        /* the K best continuations that do not end; those that end update the best finished */
        int nk = 0;
        bool taken[MAX_BEAM * VOCAB] = {0};
        while (nk < K) {
            int arg = -1;
            double top = -INFINITY;
            for (int i = 0; i < K * VOCAB; i++) {
                double s = alive[i / VOCAB].score + lp[i];
                if (!taken[i] && s > top) top = s, arg = i;
            }
            if (arg < 0) break;
            taken[arg] = true;
            int k = arg / VOCAB;
            int64_t v = arg % VOCAB;
            if (v == EOS || t == L) { /* ends here (at the step limit, unfinished) */
                if (top > best->score) {
                    *best = alive[k];
                    best->score = top;
                    best->tok[best->len++] = v;
                }
                continue;
            }
            next[nk] = alive[k];
            next[nk].score = top;
            next[nk].tok[next[nk].len++] = v;
            parent[nk] = k;
            tok[nk] = v;
            nk++;
        }
        for (int k = nk; k < K; k++) next[k] = (hyp_t){.score = -INFINITY}, parent[k] = 0, tok[k] = PAD;
        memcpy(alive, next, sizeof alive);
        /* scores only fall: once the best finished beats every live hypothesis, it is the answer */
        if (!(alive[0].score > best->score)) break;
        st = (dstate_t){sg_index_select(st.h, 0, K, parent), sg_index_select(st.c, 0, K, parent),
                        sg_index_select(st.ht, 0, K, parent)};
    }
    sg_tensor_free(mem.mask);
out:
    sg_tensor_free(m1.mask);
    sg_tensor_free(zero);
    return rc;
}

/* Exact-sequence accuracy in percent on n examples from stream seed, greedy (K == 1) or beam K. */
static double accuracy(net_t *n, const s2s_opts *o, uint64_t seed, int64_t count, int K) {
    bool prev = sg_set_grad_enabled(false);
    uint64_t s = seed;
    int64_t right = 0;
    for (int64_t done = 0; done < count && right >= 0;) {
        int64_t B = count - done < EVAL_BATCH ? count - done : EVAL_BATCH;
        batch_t bt;
        if (make_batch(&bt, &s, B, o)) right = -1;
        else if (K <= 1) {
            int64_t r = greedy_batch(n, &bt);
            right = r < 0 ? -1 : right + r;
        } else {
            for (int64_t b = 0; b < B && right >= 0; b++) {
                hyp_t h;
                if (beam_one(n, &bt, b, K, &h)) right = -1;
                else right += exact(&bt, b, h.tok, h.len);
                sg_tape_clear();
            }
        }
        sg_tape_clear();
        batch_free(&bt);
        done += B;
    }
    sg_set_grad_enabled(prev);
    return right < 0 ? NAN : 100.0 * (double)right / (double)count;
}

/* ---- training ---- */

/* One epoch of o->steps batches from the epoch's stream; returns the mean loss (NaN on error). */
static double train_epoch(net_t *n, sg_optim *opt, const sg_lr_schedule *sched, double lr, int ep, uint64_t seed,
                          int batch, const s2s_opts *o, ex_progress *bar) {
    uint64_t s = seed ^ DATA_STREAM ^ ((uint64_t)ep << 32);
    double total = 0;
    for (int64_t k = 0; k < o->steps; k++) {
        batch_t bt;
        if (make_batch(&bt, &s, batch, o)) return NAN;
        sg_tensor *zero = NULL, *mask = NULL;
        sg_optim_set_lr(opt, sg_lr_at(sched, lr, sg_optim_steps(opt)));
        sg_model_zero_grad(n->m);
        sg_tensor *loss = train_loss(n, &bt, &zero, &mask);
        bool ok = loss && !sg_backward(loss) && (o->clip <= 0 || sg_clip_grad_norm(n->m, o->clip) >= 0) &&
                  !sg_optim_step(opt);
        double l = ok ? sg_item(loss) : NAN;
        sg_tape_clear();
        sg_tensor_free(zero);
        sg_tensor_free(mask);
        batch_free(&bt);
        if (!ok) return NAN;
        total += l;
        ex_progress_update(bar, (k + 1) * batch, l);
    }
    return total / (double)o->steps;
}

static int save(const char *path, net_t *n, sg_optim *opt, int epoch, double best, int best_epoch, const char *recipe) {
    return ex_save_checkpoint("seq2seq", path, n->m, opt, epoch, "best_val_acc", best, best_epoch,
                              (const char *const[]){"recipe", recipe, NULL});
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    ex_args a = {.data = NULL, .epochs = 5, .batch = 64, .lr = 3e-3, .seed = 1, .threads = 2};
    s2s_opts o = {.task = TASK_REVERSE, .embed = 32, .hidden = 128, .steps = 100, .min_len = 1, .max_len = 10,
                  .n_val = 500, .n_test = 1000, .beam = 4, .clip = 1.0};
    const char *extra = "  --task T           reverse (default) or sort\n"
                        "  --embed N          token embedding size (default 32)\n"
                        "  --hidden N         LSTM hidden size, encoder and decoder (default 128)\n"
                        "  --steps N          batches per epoch (default 100)\n"
                        "  --min-len N        shortest source sequence (default 1)\n"
                        "  --max-len N        longest source sequence (default 10, at most 64)\n"
                        "  --val N            validation sequences, greedy, every epoch (default 500)\n"
                        "  --test N           test sequences at the end (default 1000)\n"
                        "  --beam K           beam width for the final test (default 4; 1: greedy only)\n"
                        "  --clip X           gradient clipping, global norm (default 1; 0: off)\n"
                        "The data are generated (no --data); --limit is not used.\n";
    int pr = ex_parse(argc, argv, &a, "seq2seq", "Encoder-decoder LSTM with Luong attention: reverse or sort digits.",
                      extra, parse_extra, &o);
    if (pr < 0) return pr == -1 ? 0 : 2;
    if (o.embed < 1 || o.hidden < 1 || o.steps < 1 || o.min_len < 1 || o.max_len < o.min_len ||
        o.max_len > MAX_LEN_CAP || o.n_val < 0 || o.n_test < 1 || o.beam < 1 || o.beam > MAX_BEAM || o.clip < 0) {
        fprintf(stderr, "seq2seq: need --embed, --hidden, --steps, --test >= 1, 1 <= --min-len <= --max-len <= %d, "
                        "--val >= 0, 1 <= --beam <= %d, --clip >= 0\n", MAX_LEN_CAP, MAX_BEAM);
        return 2;
    }
    const char *task = TASK_NAMES[o.task];
    net_t n = {0};
    sg_optim *opt = NULL;
    if (build(&n, &o, a.seed) || !(opt = sg_optim_new(n.m, &(sg_optim_config){.kind = SG_OPT_ADAM, .lr = a.lr}))) {
        fprintf(stderr, "seq2seq: %s\n", sg_last_error());
        sg_model_free(n.m);
        return 1;
    }
    sg_lr_schedule sched = {.kind = SG_SCHED_COSINE, .total_steps = a.epochs * o.steps, .min_lr = a.lr * MIN_LR_FRACTION};
    char name[NAME_BUF], file[NAME_BUF + 8], ckpt[PATH_BUF];
    snprintf(name, sizeof name, "seq2seq_%s", task);
    snprintf(file, sizeof file, "%s.ckpt", name);
    ex_path(ckpt, sizeof ckpt, a.out_dir, file);
    int start = 0, best_epoch = 0, rc = 1;
    double best = -1;
    char recipe[PATH_BUF]; /* what a resumed run must share with the checkpoint's */
    snprintf(recipe, sizeof recipe, "task %s, embed %lld, hidden %lld, lengths %lld-%lld, steps %lld, clip %g", task,
             (long long)o.embed, (long long)o.hidden, (long long)o.min_len, (long long)o.max_len, (long long)o.steps,
             o.clip);
    if (a.resume) {
        int64_t ep = 0, be = 0;
        if (ex_meta_same("seq2seq", a.resume, "recipe", recipe,
                         "(use the same --task, --embed, --hidden, --min-len, --max-len, --steps, --clip)") ||
            ex_meta_int("seq2seq", a.resume, "epoch", 0, EX_EPOCHS_MAX, &ep) ||
            ex_meta_real("seq2seq", a.resume, "best_val_acc", -1, 100, &best) ||
            ex_meta_int("seq2seq", a.resume, "best_epoch", 0, ep, &be))
            goto done;
        if (sg_checkpoint_load(a.resume, n.m, opt)) {
            fprintf(stderr, "seq2seq: cannot resume from %s: %s\n", a.resume, sg_last_error());
            goto done;
        }
        start = (int)ep, best_epoch = (int)be;
        printf("resumed from %s after epoch %d (best validation accuracy %.2f%%)\n", a.resume, start, best);
    }
    ex_log log;
    if (ex_log_open(&log, a.out_dir, name, "epoch,train_loss,val_acc,seconds", start > 0)) {
        fprintf(stderr, "seq2seq: %s\n", sg_last_error());
        goto done;
    }
    printf("seq2seq --task %s: lengths %lld-%lld, Embedding(%lld) -> LSTM(%lld) encoder, LSTM cell decoder with "
           "Luong attention, %lld parameters\n  Adam lr %g (cosine), clip %g, batch %d x %lld steps x %d epochs, "
           "%d thread(s)\n",
           task, (long long)o.min_len, (long long)o.max_len, (long long)o.embed, (long long)o.hidden,
           (long long)sg_model_numel(n.m), a.lr, o.clip, a.batch, (long long)o.steps, a.epochs, a.threads);
    double t_start = ex_now(), train_time = 0;
    for (int ep = start + 1; ep <= a.epochs; ep++) {
        char label[NAME_BUF];
        snprintf(label, sizeof label, "[epoch %d/%d]", ep, a.epochs);
        ex_progress bar;
        ex_progress_start(&bar, label, o.steps * a.batch, a.quiet);
        double t0 = ex_now();
        double loss = train_epoch(&n, opt, &sched, a.lr, ep, a.seed, a.batch, &o, &bar);
        double dt = ex_now() - t0;
        ex_progress_end(&bar);
        if (isnan(loss)) {
            fprintf(stderr, "seq2seq: training failed: %s\n", sg_last_error());
            goto close;
        }
        train_time += dt;
        double t1 = ex_now();
        double val = o.n_val ? accuracy(&n, &o, a.seed ^ VAL_STREAM, o.n_val, 1) : NAN;
        bool improved = val > best;
        if (improved) best = val, best_epoch = ep;
        printf("epoch %2d  train loss %.4f  val accuracy %.2f%% (greedy)%s  %.2f s train + %.2f s eval\n", ep, loss,
               val, improved ? " *" : "", dt, ex_now() - t1);
        ex_log_row(&log, "%d,%.6f,%.4f,%.3f", ep, loss, val, dt);
        if (save(ckpt, &n, opt, ep, best, best_epoch, recipe)) goto close;
    }
    double t2 = ex_now();
    double greedy = accuracy(&n, &o, a.seed ^ TEST_STREAM, o.n_test, 1);
    double t3 = ex_now();
    double beam = o.beam > 1 ? accuracy(&n, &o, a.seed ^ TEST_STREAM, o.n_test, o.beam) : greedy;
    double t4 = ex_now();
    if (isnan(greedy) || isnan(beam)) {
        fprintf(stderr, "seq2seq: decoding failed: %s\n", sg_last_error());
        goto close;
    }
    if (a.plot) ex_plot(&log, a.out_dir, name, 1, (const int[]){2, 3}, 2, (const char *const[]){"train loss", "val acc %"});
    printf("test (%lld sequences): greedy %.2f%% (%.2f s)", (long long)o.n_test, greedy, t3 - t2);
    if (o.beam > 1) printf(", beam %d %.2f%% (%.2f s)", o.beam, beam, t4 - t3);
    printf("; training %.1f s, wall %.1f s\n", train_time, ex_now() - t_start);
    printf("sequence accuracy: %s %.2f%%\n", task, beam);
    rc = 0;
close:
    ex_log_close(&log);
done:
    sg_optim_free(opt);
    sg_model_free(n.m);
    return rc;
}
