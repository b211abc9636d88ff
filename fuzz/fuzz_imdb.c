/* libFuzzer harness: the aclImdb tree reader plus the word vocabulary and encoder (io/text.c).
 * The input is cut at 0xFF bytes into up to FUZZ_FILES chunks; chunk k becomes one review file:
 * its first byte picks the label directory (bit 0: neg/pos) and the name (bits 1-7: rating
 * "<k>_<r>.txt" for r <= 10, else an odd name), the rest is the text. The first byte of the whole
 * input also picks max_words and max_len. Then: sg_imdb_read("train"), sg_vocab_build,
 * sg_encode_texts, and every id checked. Files are removed after each run.
 * Checks: no crash, leak or hang; ids within the vocabulary; lengths within [1, max_len]. */
#include <sys/stat.h>

#include "fuzz_util.h"

enum { FUZZ_FILES = 8, FUZZ_RATING_NAMES = 11, FUZZ_MAX_WORDS = 16, FUZZ_MAX_LEN = 12, FUZZ_SEP = 0xFF };

static char root[FUZZ_PATH];
static char files[FUZZ_FILES][FUZZ_PATH];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = fuzz_dir("imdb");
    fuzz_path(root, dir, "aclImdb");
    static const char *const sub[] = {"", "/train", "/train/neg", "/train/pos"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        char p[FUZZ_PATH + 16];
        snprintf(p, sizeof p, "%s%s", root, sub[i]);
        FUZZ_CHECK(mkdir(p, 0700) == 0 || access(p, F_OK) == 0, "mkdir %s", p);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int nfiles = 0;
    size_t at = 0;
    while (at < size && nfiles < FUZZ_FILES) {
        const uint8_t *end = memchr(data + at, FUZZ_SEP, size - at);
        size_t len = end ? (size_t)(end - (data + at)) : size - at;
        if (len > 0) {
            uint8_t b = data[at];
            int r = (b >> 1) % (FUZZ_RATING_NAMES + 2);
            char name[64];
            if (r < FUZZ_RATING_NAMES) snprintf(name, sizeof name, "%d_%d.txt", nfiles, r);
            else if (r == FUZZ_RATING_NAMES) snprintf(name, sizeof name, "review%d.txt", nfiles);
            else snprintf(name, sizeof name, "%d_1.text", nfiles); /* not a .txt: ignored */
            snprintf(files[nfiles], FUZZ_PATH, "%s/train/%s/%s", root, b & 1 ? "pos" : "neg", name);
            fuzz_write(files[nfiles], data + at + 1, len - 1);
            nfiles++;
        }
        at += len + 1;
    }
    sg_text_set ts;
    int st = sg_imdb_read(root, "train", &ts);
    if (st == SG_OK) {
        int64_t max_words = size ? data[0] % FUZZ_MAX_WORDS : 0;
        int64_t max_len = size ? 1 + data[0] % FUZZ_MAX_LEN : 1;
        for (int64_t i = 0; i < ts.n; i++) FUZZ_CHECK(ts.labels[i] == 0 || ts.labels[i] == 1, "label");
        sg_vocab *v = sg_vocab_build(ts.texts, ts.n, max_words);
        FUZZ_CHECK(v != NULL, "vocab: %s", sg_last_error());
        int64_t vs = sg_vocab_size(v);
        FUZZ_CHECK(vs >= 2 && (max_words == SG_VOCAB_ALL || vs <= max_words + 2), "vocab size %lld for max %lld", (long long)vs, (long long)max_words);
        for (int64_t id = 0; id < vs; id++) {
            const char *w = sg_vocab_word(v, id);
            FUZZ_CHECK(w != NULL, "word %lld", (long long)id);
            FUZZ_CHECK(id < 2 || sg_vocab_id(v, w) == id, "id of word %lld", (long long)id);
        }
        sg_encoded e;
        st = sg_encode_texts(v, ts.texts, ts.n, max_len, size > 1 && (data[1] & 1), &e);
        FUZZ_CHECK(st == SG_OK, "encode: %s", sg_last_error());
        for (int64_t i = 0; i < e.n; i++) {
            FUZZ_CHECK(e.lengths[i] >= 1 && e.lengths[i] <= max_len, "length %lld", (long long)e.lengths[i]);
            for (int64_t j = 0; j < max_len; j++) {
                int64_t id = e.ids[i * max_len + j];
                FUZZ_CHECK(id >= 0 && id < vs, "id %lld", (long long)id);
                FUZZ_CHECK(j < e.lengths[i] || id == SG_VOCAB_PAD, "padding");
            }
        }
        sg_encoded_free(&e);
        sg_vocab_free(v);
        sg_text_set_free(&ts);
    } else {
        FUZZ_CHECK(sg_last_status() == st, "status %d, last error %d", st, (int)sg_last_status());
    }
    for (int k = 0; k < nfiles; k++) unlink(files[k]);
    fuzz_done();
    return 0;
}
