/** @file
 * Text data for sequence models: a word tokenizer, the IMDB review tree (aclImdb), a word
 * vocabulary, fixed-length id encoding for classification batches, and the character corpus of
 * the d2l.ai Time Machine chapter. Not an NLP toolkit: ASCII-only rules, no stemming, no BPE.
 *
 * Word tokenizer (used by sg_tokenize, sg_vocab_build and sg_encode_texts), exactly:
 *   1. every "<br />" (ASCII case-insensitive) is replaced by a space;
 *   2. ASCII letters are lower-cased;
 *   3. words are the maximal runs of ASCII letters and digits [a-z0-9]; every other byte is a
 *      separator, INCLUDING bytes >= 0x80: UTF-8 letters split words ("café" -> "caf") and
 *      apostrophes split contractions ("it's" -> "it", "s").
 *   Example: "Hello<br />World!! it's" -> hello world it s.
 *
 * Word ids: SG_VOCAB_PAD (0) pads, SG_VOCAB_UNK (1) stands for any word outside the vocabulary,
 * ids from SG_VOCAB_FIRST (2) are vocabulary words, most frequent first.
 *
 * Errors: functions return NULL or a negative sg_status with a message in sg_last_error():
 * SG_ERR_NULL (NULL argument), SG_ERR_ARG (bad option), SG_ERR_IO (missing/unreadable file or
 * directory, with the path and strerror), SG_ERR_FORMAT (malformed content), SG_ERR_MEM.
 * On failure nothing is left for the caller to free and output structs are zeroed. */
#ifndef SG_TEXT_H
#define SG_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SG_VOCAB_PAD = 0,   /**< padding id */
    SG_VOCAB_UNK = 1,   /**< unknown-word id */
    SG_VOCAB_FIRST = 2, /**< first id of a real word */
    SG_VOCAB_ALL = 0,   /**< max_words value: keep every word seen */
};

/* ---- tokenizer ---- */
/** Words of a NUL-terminated text per the rules above: a malloc'd array of *n malloc'd strings
 * (non-NULL even when *n is 0). Free with sg_tokens_free(words, n). */
char **sg_tokenize(const char *text, int64_t *n);
/** Frees the n words and the array from sg_tokenize() (NULL is a no-op). */
void sg_tokens_free(char **words, int64_t n);

/* ---- labelled texts (IMDB) ---- */
/** Labelled texts read by sg_imdb_read(); every array is owned by the struct (sg_text_set_free()). */
typedef struct {
    int64_t n;          /**< number of texts */
    const char **texts; /**< n NUL-terminated texts (a NUL byte inside a file ends its text) */
    const char **names; /**< n file names, e.g. "123_4.txt" */
    int64_t *labels;    /**< n labels: 0 = negative (neg/), 1 = positive (pos/) */
    int *ratings;       /**< n star ratings parsed from "ID_RATING.txt", -1 when the name differs */
} sg_text_set;

/** Reads the files \<root>/\<split>/neg/NAME.txt (label 0) then \<root>/\<split>/pos/NAME.txt
 * (label 1), split "train" or "test", root being the unpacked "aclImdb" directory. Within each
 * directory files are in strcmp order of their names (deterministic, independent of the file
 * system; "10_10.txt" sorts before "1_7.txt"); no shuffling. Other entries (names not ending in
 * ".txt", directories) are ignored. Fills *out (owned by it: release with sg_text_set_free) and
 * returns 0. A missing directory or unreadable file is SG_ERR_IO. The full IMDB train split is
 * about 33 MB of text in memory. */
int sg_imdb_read(const char *root, const char *split, sg_text_set *out);
/** Frees everything sg_imdb_read() filled and zeroes *s (a zeroed s is a no-op). */
void sg_text_set_free(sg_text_set *s);

/* ---- word vocabulary ---- */
/** A word vocabulary (ids for words, counts), opaque; from sg_vocab_build(), freed by
 * sg_vocab_free(). */
typedef struct sg_vocab sg_vocab;

/** The max_words most frequent words of the n texts (SG_VOCAB_ALL: every word), ties broken by
 * strcmp order of the words, so the result depends only on the multiset of words. Ids: pad 0,
 * unk 1, then words by decreasing count. Build it from TRAINING texts only. Free with
 * sg_vocab_free. max_words >= 0. */
sg_vocab *sg_vocab_build(const char *const *texts, int64_t n, int64_t max_words);
/** Number of ids, including pad and unk. -1 on a NULL vocab. */
int64_t sg_vocab_size(const sg_vocab *v);
/** Id of a word (exact match, already tokenized form), or SG_VOCAB_UNK. -1 on NULL arguments. */
int64_t sg_vocab_id(const sg_vocab *v, const char *word);
/** Word of an id: "<pad>", "<unk>", or the word; borrowed, valid until sg_vocab_free. NULL (with
 * SG_ERR_ARG) when id is out of range. */
const char *sg_vocab_word(const sg_vocab *v, int64_t id);
/** Number of times the word of id occurred in the build texts (0 for pad/unk); -1 on a bad call. */
int64_t sg_vocab_count(const sg_vocab *v, int64_t id);
/** Frees a vocabulary (NULL is a no-op). */
void sg_vocab_free(sg_vocab *v);

/* ---- fixed-length encoding ---- */
/** ids: (n, max_len) row-major; row i holds lengths[i] ids followed by SG_VOCAB_PAD.
 * 1 <= lengths[i] <= max_len. Owned by the struct: release with sg_encoded_free. */
typedef struct {
    int64_t n;        /**< number of rows (texts) */
    int64_t max_len;  /**< row length */
    int64_t *ids;     /**< n * max_len ids, row-major, padded with SG_VOCAB_PAD */
    int64_t *lengths; /**< n lengths, each in [1, max_len] */
} sg_encoded;

/** Tokenizes and maps each text to ids (unknown words -> SG_VOCAB_UNK). A text with more than
 * max_len tokens keeps its FIRST max_len tokens, or its LAST max_len when keep_end is true.
 * A text with no tokens becomes one SG_VOCAB_UNK (length 1), so every length is >= 1 (what packed
 * RNN sequences need). Padding is always at the end of a row. max_len >= 1. */
int sg_encode_texts(const sg_vocab *v, const char *const *texts, int64_t n, int64_t max_len, bool keep_end,
                    sg_encoded *out);
/** Frees what sg_encode_texts() filled and zeroes *e (a zeroed e is a no-op). */
void sg_encoded_free(sg_encoded *e);

/* ---- character corpus (d2l.ai "The Time Machine") ---- */
/** d2l's preprocessing, re.sub('[^A-Za-z]+', ' ', text).lower(): every maximal run of bytes other
 * than ASCII letters becomes ONE space (newlines included, no strip), letters are lower-cased.
 * Returns a malloc'd NUL-terminated string of *out_len bytes (free with free()). */
char *sg_char_preprocess(const char *text, size_t len, size_t *out_len);

/** The corpus as ids over a sorted character vocabulary, as d2l's Vocab builds it:
 * tokens = sorted(set(chars) | {"<unk>"}) in strcmp order, e.g. " ", "<unk>", "a", ..., "z".
 * The first n_train ids are the training part, the last n - n_train = floor(n * val_frac) the
 * validation part. Owned by the struct: release with sg_char_corpus_free. */
typedef struct {
    int64_t n;          /**< corpus length in characters */
    int64_t *ids;       /**< n ids in [0, vocab_size) */
    int64_t n_train;    /**< ids[0, n_train): training; ids[n_train, n): validation */
    int64_t vocab_size; /**< characters present + 1 for "<unk>" */
    char **tokens;      /**< vocab_size NUL-terminated tokens, sorted */
    int64_t unk_id;     /**< id of "<unk>" */
} sg_char_corpus;

/** Preprocesses len bytes of text (sg_char_preprocess) and builds the corpus. 0 <= val_frac < 1. */
int sg_char_corpus_build(const char *text, size_t len, double val_frac, sg_char_corpus *out);
/** Validation fraction sg_time_machine_load() uses (the last 10 % of the corpus). */
#define SG_TIME_MACHINE_VAL_FRAC 0.1
/** Reads the file at path and builds its corpus with the last 10 % as validation. */
int sg_time_machine_load(const char *path, sg_char_corpus *out);
/** Id of a character (after preprocessing, i.e. ' ' or 'a'..'z'), unk_id when absent; -1 on NULL. */
int64_t sg_char_corpus_id(const sg_char_corpus *c, int ch);
/** Frees what a corpus builder filled and zeroes *c (a zeroed c is a no-op). */
void sg_char_corpus_free(sg_char_corpus *c);

#ifdef __cplusplus
}
#endif

#endif
