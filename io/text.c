/* Text loaders (see text.h): the word tokenizer, a string-keyed hash table for counting and
 * looking up words, the IMDB directory reader, fixed-length encoding, and d2l's character corpus.
 * Deliberately ASCII-only and single-threaded: deterministic results matter more than speed. */
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_impl.h"

#define BR_TAG "<br />"
enum {
    BR_TAG_LEN = sizeof BR_TAG - 1,
    WT_MIN_CAP = 1024, /* hash slots; always a power of two, at most half full */
    BYTE_VALUES = 256,
    RATING_LIMIT = 1000, /* larger numbers in "ID_RATING.txt" are not taken as ratings */
};
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL
static const char *const PAD_WORD = "<pad>";
static const char *const UNK_WORD = "<unk>";

static bool is_alnum_ascii(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
static bool is_alpha_ascii(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static char lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* ---- tokenizer ---- */

typedef int (*word_fn)(void *ctx, const char *word, size_t len);

typedef struct {
    char *buf;
    size_t cap;
} scratch_buf;

/* Calls fn on each word of text (lower-cased, NUL-terminated in a scratch buffer). Stops at the
 * first nonzero return of fn and returns it. */
static int tokenize_each(const char *text, scratch_buf *sb, word_fn fn, void *ctx, const char *fname) {
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        if (!is_alnum_ascii(*s)) { /* "<br />" is a separator like its first byte '<' */
            s += (*s == '<' && strncasecmp((const char *)s, BR_TAG, BR_TAG_LEN) == 0) ? BR_TAG_LEN : 1;
            continue;
        }
        const unsigned char *b = s;
        while (is_alnum_ascii(*s)) s++;
        size_t n = (size_t)(s - b);
        if (n + 1 > sb->cap) {
            size_t cap = 2 * (n + 1);
            char *nb = realloc(sb->buf, cap);
            if (!nb) return sg_set_error(SG_ERR_MEM, "%s: out of memory", fname);
            sb->buf = nb;
            sb->cap = cap;
        }
        for (size_t i = 0; i < n; i++) sb->buf[i] = lower_ascii((char)b[i]);
        sb->buf[n] = '\0';
        int r = fn(ctx, sb->buf, n);
        if (r) return r;
    }
    return SG_OK;
}

static int push_word(void *ctx, const char *w, size_t n) {
    sg__vec *v = ctx;
    char *copy = malloc(n + 1);
    char **slot = copy ? sg__vec_push(v, "sg_tokenize") : NULL;
    if (!slot) {
        free(copy);
        return sg_set_error(SG_ERR_MEM, "sg_tokenize: out of memory");
    }
    memcpy(copy, w, n + 1);
    *slot = copy;
    return SG_OK;
}

char **sg_tokenize(const char *text, int64_t *n) {
    if (!sg__data_nonnull(n, "sg_tokenize", "n")) return NULL;
    *n = 0;
    if (!sg__data_nonnull(text, "sg_tokenize", "text")) return NULL;
    sg__vec v;
    sg__vec_init(&v, sizeof(char *));
    scratch_buf sb = {0};
    int r = tokenize_each(text, &sb, push_word, &v, "sg_tokenize");
    free(sb.buf);
    char **words = v.data ? v.data : malloc(sizeof(char *));
    if (r != SG_OK || !words) {
        if (!words) sg_set_error(SG_ERR_MEM, "sg_tokenize: out of memory");
        sg_tokens_free(words, (int64_t)v.n);
        return NULL;
    }
    *n = (int64_t)v.n;
    return words;
}

void sg_tokens_free(char **words, int64_t n) {
    if (!words) return;
    for (int64_t i = 0; i < n; i++) free(words[i]);
    free(words);
}

/* ---- string-keyed hash table: words in one arena, open addressing with linear probing ---- */

typedef struct {
    uint64_t hash;
    int64_t off; /* word offset in the arena; -1: empty slot */
    int64_t val; /* count while counting, id in a vocabulary */
} wt_slot;

typedef struct {
    wt_slot *slots;
    size_t cap, used;
    sg__vec arena; /* char: NUL-terminated words back to back */
} word_table;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

static int wt_alloc_slots(word_table *t, size_t cap, const char *fn) {
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots) return sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
    for (size_t i = 0; i < cap; i++) t->slots[i].off = -1;
    t->cap = cap;
    return SG_OK;
}

static int wt_init(word_table *t, const char *fn) {
    t->used = 0;
    sg__vec_init(&t->arena, 1);
    return wt_alloc_slots(t, WT_MIN_CAP, fn);
}

static void wt_free(word_table *t) {
    free(t->slots);
    t->slots = NULL;
    sg__vec_free(&t->arena);
}

static const char *wt_word(const word_table *t, const wt_slot *s) {
    return (const char *)t->arena.data + s->off;
}

/* The slot holding the word, or the empty slot where it would go. */
static wt_slot *wt_probe(const word_table *t, const char *w, size_t n, uint64_t h) {
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        wt_slot *s = &t->slots[i];
        if (s->off < 0) return s;
        if (s->hash == h) {
            const char *x = wt_word(t, s);
            if (memcmp(x, w, n) == 0 && x[n] == '\0') return s;
        }
    }
}

static const wt_slot *wt_find(const word_table *t, const char *w, size_t n) {
    const wt_slot *s = wt_probe(t, w, n, fnv1a(w, n));
    return s->off < 0 ? NULL : s;
}

/* The word's slot, added with val 0 when absent. NULL on allocation failure (error recorded). */
static wt_slot *wt_insert(word_table *t, const char *w, size_t n, const char *fn) {
    uint64_t h = fnv1a(w, n);
    wt_slot *s = wt_probe(t, w, n, h);
    if (s->off >= 0) return s;
    if (2 * (t->used + 1) > t->cap) { /* grow and rehash */
        wt_slot *old = t->slots;
        size_t old_cap = t->cap;
        if (wt_alloc_slots(t, 2 * old_cap, fn) != SG_OK) {
            t->slots = old;
            return NULL;
        }
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].off >= 0) {
                size_t mask = t->cap - 1, j = (size_t)old[i].hash & mask;
                while (t->slots[j].off >= 0) j = (j + 1) & mask;
                t->slots[j] = old[i];
            }
        free(old);
        s = wt_probe(t, w, n, h);
    }
    int64_t off = (int64_t)t->arena.n;
    for (size_t i = 0; i <= n; i++) {
        char *c = sg__vec_push(&t->arena, fn);
        if (!c) return NULL;
        *c = i < n ? w[i] : '\0';
    }
    s->hash = h;
    s->off = off;
    s->val = 0;
    t->used++;
    return s;
}

/* ---- vocabulary ---- */

struct sg_vocab {
    int64_t size;   /* ids including pad and unk */
    int64_t *off;   /* size offsets into table.arena (pad/unk: unused) */
    int64_t *count; /* size training counts */
    word_table table; /* val = id */
};

static int count_word(void *ctx, const char *w, size_t n) {
    wt_slot *s = wt_insert(ctx, w, n, "sg_vocab_build");
    if (!s) return SG_ERR_MEM;
    s->val++;
    return SG_OK;
}

typedef struct {
    const char *word;
    int64_t count;
} word_count;

/* count descending, then word ascending (strcmp) */
static int cmp_word_count(const void *pa, const void *pb) {
    const word_count *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return strcmp(a->word, b->word);
}

static bool check_texts(const char *const *texts, int64_t n, const char *fn) {
    if (n < 0) {
        sg_set_error(SG_ERR_ARG, "%s: n must be >= 0, got %lld", fn, (long long)n);
        return false;
    }
    if (n > 0 && !sg__data_nonnull(texts, fn, "texts")) return false;
    for (int64_t i = 0; i < n; i++)
        if (!texts[i]) {
            sg_set_error(SG_ERR_NULL, "%s: texts[%lld] is NULL", fn, (long long)i);
            return false;
        }
    return true;
}

sg_vocab *sg_vocab_build(const char *const *texts, int64_t n, int64_t max_words) {
    static const char *fn = "sg_vocab_build";
    if (!check_texts(texts, n, fn)) return NULL;
    if (max_words < 0) {
        sg_set_error(SG_ERR_ARG, "%s: max_words must be >= 0 (0: all words), got %lld", fn,
                     (long long)max_words);
        return NULL;
    }
    word_table counts;
    if (wt_init(&counts, fn) != SG_OK) return NULL;
    scratch_buf sb = {0};
    word_count *wc = NULL;
    sg_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        goto fail;
    }
    v->table.slots = NULL;
    for (int64_t i = 0; i < n; i++)
        if (tokenize_each(texts[i], &sb, count_word, &counts, fn) != SG_OK) goto fail;

    /* the arena no longer moves: take word pointers into it and rank them */
    wc = malloc((counts.used ? counts.used : 1) * sizeof *wc);
    if (!wc) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        goto fail;
    }
    size_t m = 0;
    for (size_t i = 0; i < counts.cap; i++)
        if (counts.slots[i].off >= 0)
            wc[m++] = (word_count){wt_word(&counts, &counts.slots[i]), counts.slots[i].val};
    qsort(wc, m, sizeof *wc, cmp_word_count);
    size_t keep = (max_words == SG_VOCAB_ALL || (uint64_t)max_words > m) ? m : (size_t)max_words;

    v->size = (int64_t)keep + SG_VOCAB_FIRST;
    v->off = calloc((size_t)v->size, sizeof *v->off);
    v->count = calloc((size_t)v->size, sizeof *v->count);
    if (!v->off || !v->count) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        goto fail;
    }
    if (wt_init(&v->table, fn) != SG_OK) goto fail;
    for (size_t k = 0; k < keep; k++) {
        int64_t id = (int64_t)k + SG_VOCAB_FIRST;
        wt_slot *s = wt_insert(&v->table, wc[k].word, strlen(wc[k].word), fn);
        if (!s) goto fail;
        s->val = id;
        v->off[id] = s->off;
        v->count[id] = wc[k].count;
    }
    free(wc);
    free(sb.buf);
    wt_free(&counts);
    return v;
fail:
    free(wc);
    free(sb.buf);
    wt_free(&counts);
    sg_vocab_free(v);
    return NULL;
}

int64_t sg_vocab_size(const sg_vocab *v) {
    if (!sg__data_nonnull(v, "sg_vocab_size", "v")) return -1;
    return v->size;
}

int64_t sg_vocab_id(const sg_vocab *v, const char *word) {
    if (!sg__data_nonnull(v, "sg_vocab_id", "v") || !sg__data_nonnull(word, "sg_vocab_id", "word")) return -1;
    const wt_slot *s = wt_find(&v->table, word, strlen(word));
    return s ? s->val : SG_VOCAB_UNK;
}

static bool vocab_id_ok(const sg_vocab *v, int64_t id, const char *fn) {
    if (!sg__data_nonnull(v, fn, "v")) return false;
    if (id >= 0 && id < v->size) return true;
    sg_set_error(SG_ERR_ARG, "%s: id %lld out of range [0, %lld)", fn, (long long)id, (long long)v->size);
    return false;
}

const char *sg_vocab_word(const sg_vocab *v, int64_t id) {
    if (!vocab_id_ok(v, id, "sg_vocab_word")) return NULL;
    if (id == SG_VOCAB_PAD) return PAD_WORD;
    if (id == SG_VOCAB_UNK) return UNK_WORD;
    return (const char *)v->table.arena.data + v->off[id];
}

int64_t sg_vocab_count(const sg_vocab *v, int64_t id) {
    if (!vocab_id_ok(v, id, "sg_vocab_count")) return -1;
    return v->count[id];
}

void sg_vocab_free(sg_vocab *v) {
    if (!v) return;
    free(v->off);
    free(v->count);
    wt_free(&v->table);
    free(v);
}

/* ---- encoding ---- */

typedef struct {
    const sg_vocab *v;
    sg__vec ids; /* int64_t */
} encode_ctx;

static int encode_word(void *ctx, const char *w, size_t n) {
    encode_ctx *e = ctx;
    int64_t *slot = sg__vec_push(&e->ids, "sg_encode_texts");
    if (!slot) return SG_ERR_MEM;
    const wt_slot *s = wt_find(&e->v->table, w, n);
    *slot = s ? s->val : SG_VOCAB_UNK;
    return SG_OK;
}

int sg_encode_texts(const sg_vocab *v, const char *const *texts, int64_t n, int64_t max_len, bool keep_end,
                    sg_encoded *out) {
    static const char *fn = "sg_encode_texts";
    if (!sg__data_nonnull(out, fn, "out")) return SG_ERR_NULL;
    memset(out, 0, sizeof *out);
    if (!sg__data_nonnull(v, fn, "v") || !check_texts(texts, n, fn)) return sg_last_status();
    if (max_len < 1)
        return sg_set_error(SG_ERR_ARG, "%s: max_len must be >= 1, got %lld", fn, (long long)max_len);
    if (n > 0 && (uint64_t)max_len > SIZE_MAX / sizeof(int64_t) / (uint64_t)n)
        return sg_set_error(SG_ERR_ARG, "%s: n * max_len = %lld * %lld is too large", fn, (long long)n,
                            (long long)max_len);
    sg_encoded e = {.n = n, .max_len = max_len};
    e.ids = calloc(n ? (size_t)(n * max_len) : 1, sizeof *e.ids); /* zero = SG_VOCAB_PAD */
    e.lengths = malloc((n ? (size_t)n : 1) * sizeof *e.lengths);
    encode_ctx ctx = {.v = v};
    sg__vec_init(&ctx.ids, sizeof(int64_t));
    scratch_buf sb = {0};
    int status = SG_OK;
    if (!e.ids || !e.lengths) {
        status = sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        ctx.ids.n = 0;
        status = tokenize_each(texts[i], &sb, encode_word, &ctx, fn);
        if (status != SG_OK) goto done;
        int64_t *row = e.ids + i * max_len;
        const int64_t *ids = ctx.ids.data;
        int64_t len = (int64_t)ctx.ids.n;
        if (len == 0) {
            row[0] = SG_VOCAB_UNK;
            e.lengths[i] = 1;
            continue;
        }
        int64_t take = len < max_len ? len : max_len;
        int64_t from = keep_end ? len - take : 0;
        memcpy(row, ids + from, (size_t)take * sizeof *row);
        e.lengths[i] = take;
    }
done:
    sg__vec_free(&ctx.ids);
    free(sb.buf);
    if (status != SG_OK) {
        sg_encoded_free(&e);
        return status;
    }
    *out = e;
    return SG_OK;
}

void sg_encoded_free(sg_encoded *e) {
    if (!e) return;
    free(e->ids);
    free(e->lengths);
    memset(e, 0, sizeof *e);
}

/* ---- IMDB tree ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* "ID_RATING.txt" -> RATING, else -1 */
static int rating_of(const char *name) {
    const char *p = name;
    if (*p < '0' || *p > '9') return -1;
    while (*p >= '0' && *p <= '9') p++;
    if (*p++ != '_' || *p < '0' || *p > '9') return -1;
    int r = 0;
    while (*p >= '0' && *p <= '9' && r < RATING_LIMIT) r = r * 10 + (*p++ - '0');
    return strcmp(p, ".txt") == 0 ? r : -1;
}

typedef struct {
    sg__vec texts, names, labels, ratings;
} imdb_acc;

/* Appends the regular *.txt files of dir, sorted by name, with the given label. */
static int read_label_dir(const char *fn, const char *dir, int64_t label, imdb_acc *acc) {
    DIR *d = opendir(dir);
    if (!d) return sg_set_error(SG_ERR_IO, "%s: cannot open directory '%s': %s", fn, dir, strerror(errno));
    sg__vec names;
    sg__vec_init(&names, sizeof(char *));
    int status = SG_OK;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".txt")) continue;
        char *copy = strdup(de->d_name);
        char **slot = copy ? sg__vec_push(&names, fn) : NULL;
        if (!slot) {
            free(copy);
            status = sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
            break;
        }
        *slot = copy;
    }
    if (status == SG_OK && errno)
        status = sg_set_error(SG_ERR_IO, "%s: cannot list directory '%s': %s", fn, dir, strerror(errno));
    closedir(d);
    char **list = names.data;
    if (status == SG_OK && names.n) qsort(list, names.n, sizeof *list, cmp_str);
    size_t i = 0;
    for (; status == SG_OK && i < names.n; i++) {
        char *path = sg__path_join(fn, dir, list[i]);
        struct stat st;
        if (!path) {
            status = SG_ERR_MEM;
            break;
        }
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* e.g. a directory named x.txt */
            free(path);
            free(list[i]);
            continue;
        }
        char *text;
        size_t len;
        status = sg__read_file(fn, path, &text, &len);
        free(path);
        if (status != SG_OK) break;
        const char **ts = sg__vec_push(&acc->texts, fn);
        if (ts) *ts = text;
        const char **ns = ts ? sg__vec_push(&acc->names, fn) : NULL;
        if (ns) *ns = list[i];
        int64_t *ls = ns ? sg__vec_push(&acc->labels, fn) : NULL;
        if (ls) *ls = label;
        int *rs = ls ? sg__vec_push(&acc->ratings, fn) : NULL;
        if (rs) *rs = rating_of(list[i]);
        if (!rs) {
            /* keep the parallel arrays the same length so the caller can free them uniformly */
            if (ts) acc->texts.n--;
            if (ns) acc->names.n--;
            if (ls) acc->labels.n--;
            free(text);
            status = SG_ERR_MEM;
            break;
        }
    }
    for (; i < names.n; i++) free(list[i]); /* names not handed over */
    sg__vec_free(&names);
    return status;
}

int sg_imdb_read(const char *root, const char *split, sg_text_set *out) {
    static const char *fn = "sg_imdb_read";
    static const char *const label_dirs[] = {"neg", "pos"}; /* index = label */
    enum { N_LABELS = sizeof label_dirs / sizeof label_dirs[0] };
    if (!sg__data_nonnull(out, fn, "out")) return SG_ERR_NULL;
    memset(out, 0, sizeof *out);
    if (!sg__data_nonnull(root, fn, "root") || !sg__data_nonnull(split, fn, "split")) return SG_ERR_NULL;
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return sg_set_error(SG_ERR_ARG, "%s: split must be \"train\" or \"test\", got \"%s\"", fn, split);
    imdb_acc acc;
    sg__vec_init(&acc.texts, sizeof(char *));
    sg__vec_init(&acc.names, sizeof(char *));
    sg__vec_init(&acc.labels, sizeof(int64_t));
    sg__vec_init(&acc.ratings, sizeof(int));
    int status = SG_OK;
    char *split_dir = sg__path_join(fn, root, split);
    if (!split_dir) status = SG_ERR_MEM;
    for (int64_t label = 0; status == SG_OK && label < N_LABELS; label++) {
        char *dir = sg__path_join(fn, split_dir, label_dirs[label]);
        status = dir ? read_label_dir(fn, dir, label, &acc) : SG_ERR_MEM;
        free(dir);
    }
    free(split_dir);
    sg_text_set s = {
        .n = (int64_t)acc.texts.n,
        .texts = acc.texts.data,
        .names = acc.names.data,
        .labels = acc.labels.data,
        .ratings = acc.ratings.data,
    };
    if (status != SG_OK) {
        sg_text_set_free(&s);
        return status;
    }
    *out = s;
    return SG_OK;
}

void sg_text_set_free(sg_text_set *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n; i++) {
        free((void *)s->texts[i]);
        free((void *)s->names[i]);
    }
    free(s->texts);
    free(s->names);
    free(s->labels);
    free(s->ratings);
    memset(s, 0, sizeof *s);
}

/* ---- character corpus ---- */

char *sg_char_preprocess(const char *text, size_t len, size_t *out_len) {
    static const char *fn = "sg_char_preprocess";
    if (!sg__data_nonnull(out_len, fn, "out_len")) return NULL;
    *out_len = 0;
    if (!sg__data_nonnull(text, fn, "text")) return NULL;
    char *out = malloc(len + 1);
    if (!out) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
        return NULL;
    }
    size_t n = 0;
    bool in_run = false; /* inside a run of non-letters, already written as one space */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (is_alpha_ascii(c)) {
            out[n++] = lower_ascii((char)c);
            in_run = false;
        } else if (!in_run) {
            out[n++] = ' ';
            in_run = true;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

int sg_char_corpus_build(const char *text, size_t len, double val_frac, sg_char_corpus *out) {
    static const char *fn = "sg_char_corpus_build";
    if (!sg__data_nonnull(out, fn, "out")) return SG_ERR_NULL;
    memset(out, 0, sizeof *out);
    if (!sg__data_nonnull(text, fn, "text")) return SG_ERR_NULL;
    if (!(val_frac >= 0 && val_frac < 1))
        return sg_set_error(SG_ERR_ARG, "%s: val_frac must be in [0, 1), got %g", fn, val_frac);
    size_t n;
    char *pre = sg_char_preprocess(text, len, &n);
    if (!pre) return sg_last_status();

    sg_char_corpus c = {.n = (int64_t)n, .unk_id = -1};
    bool present[BYTE_VALUES] = {false};
    int64_t id_of[BYTE_VALUES];
    for (size_t i = 0; i < n; i++) present[(unsigned char)pre[i]] = true;
    int64_t n_tok = 1; /* "<unk>" */
    for (int b = 0; b < BYTE_VALUES; b++) n_tok += present[b];
    c.tokens = calloc((size_t)n_tok, sizeof *c.tokens);
    c.ids = malloc((n ? n : 1) * sizeof *c.ids);
    int status = SG_OK;
    if (!c.tokens || !c.ids) goto oom;
    c.vocab_size = n_tok;
    int64_t k = 0;
    if (!(c.tokens[k++] = strdup(UNK_WORD))) goto oom;
    for (int b = 0; b < BYTE_VALUES; b++)
        if (present[b]) {
            if (!(c.tokens[k] = malloc(2))) goto oom;
            c.tokens[k][0] = (char)b;
            c.tokens[k++][1] = '\0';
        }
    qsort(c.tokens, (size_t)n_tok, sizeof *c.tokens, cmp_str);
    for (int b = 0; b < BYTE_VALUES; b++) id_of[b] = -1;
    for (int64_t t = 0; t < n_tok; t++) {
        if (strcmp(c.tokens[t], UNK_WORD) == 0) c.unk_id = t;
        else id_of[(unsigned char)c.tokens[t][0]] = t;
    }
    for (size_t i = 0; i < n; i++) c.ids[i] = id_of[(unsigned char)pre[i]];
    int64_t n_val = (int64_t)((double)c.n * val_frac); /* floor: both are non-negative */
    c.n_train = c.n - n_val;
    free(pre);
    *out = c;
    return SG_OK;
oom:
    status = sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
    free(pre);
    sg_char_corpus_free(&c);
    return status;
}

int sg_time_machine_load(const char *path, sg_char_corpus *out) {
    static const char *fn = "sg_time_machine_load";
    if (!sg__data_nonnull(out, fn, "out")) return SG_ERR_NULL;
    memset(out, 0, sizeof *out);
    if (!sg__data_nonnull(path, fn, "path")) return SG_ERR_NULL;
    char *text;
    size_t len;
    int status = sg__read_file(fn, path, &text, &len);
    if (status != SG_OK) return status;
    status = sg_char_corpus_build(text, len, SG_TIME_MACHINE_VAL_FRAC, out);
    free(text);
    return status;
}

int64_t sg_char_corpus_id(const sg_char_corpus *c, int ch) {
    if (!sg__data_nonnull(c, "sg_char_corpus_id", "c")) return -1;
    for (int64_t t = 0; t < c->vocab_size; t++)
        if (t != c->unk_id && (unsigned char)c->tokens[t][0] == (unsigned char)ch && c->tokens[t][1] == '\0')
            return t;
    return c->unk_id;
}

void sg_char_corpus_free(sg_char_corpus *c) {
    if (!c) return;
    if (c->tokens)
        for (int64_t t = 0; t < c->vocab_size; t++) free(c->tokens[t]);
    free(c->tokens);
    free(c->ids);
    memset(c, 0, sizeof *c);
}
