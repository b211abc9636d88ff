/* Text loaders: the word tokenizer on hand-made cases, vocabulary ranking and tie-breaking,
 * fixed-length encoding (truncation from the front or the end, padding, empty reviews), a synthetic
 * aclImdb tree, a smoke test on a subset of the real IMDB archive (expected values computed with
 * an independent Python tokenizer), and the d2l Time Machine character corpus. */
#include <stdlib.h>
#include <string.h>

#include "util/datatest.h"
#include "util/testutil.h"

/* ---- tokenizer ---- */
enum { MAX_WORDS = 8 };
typedef struct {
    const char *text;
    int n;
    const char *words[MAX_WORDS];
} tok_case;

static const tok_case TOK[] = {
    {"Hello<br />World!! it's", 4, {"hello", "world", "it", "s"}},
    {"", 0, {0}},
    {"<br /><br />", 0, {0}},
    {"A<BR />b", 2, {"a", "b"}},
    {"x<br/>y", 3, {"x", "br", "y"}}, /* not the exact tag: '<' '/' '>' separate, "br" stays */
    {"don't<br />STOP", 3, {"don", "t", "stop"}},
    {"caf\xc3\xa9 42abc", 2, {"caf", "42abc"}}, /* bytes >= 0x80 separate words */
    {"  MiXeD123\t\ncase-by_case ", 4, {"mixed123", "case", "by", "case"}},
    {"<br/ >br<br />", 2, {"br", "br"}},
};
enum { N_TOK = sizeof TOK / sizeof TOK[0] };

START_TEST(tokenizer) {
    const tok_case *c = &TOK[_i];
    int64_t n = -1;
    char **w = sg_tokenize(c->text, &n);
    ck_assert_msg(w != NULL, "%s", sg_last_error());
    ck_assert_int_eq(n, c->n);
    for (int i = 0; i < c->n; i++) ck_assert_str_eq(w[i], c->words[i]);
    sg_tokens_free(w, n);
    tu_teardown();
}
END_TEST

/* ---- vocabulary ---- */
START_TEST(vocab_ranking) {
    /* counts: b 3, c 3, a 2, e 2, d 1, zz 1 -> b c a e d zz (ties by strcmp) */
    const char *texts[] = {"c b a", "zz b c e", "b e c a", "d"};
    sg_vocab *v = sg_vocab_build(texts, 4, SG_VOCAB_ALL);
    ck_assert_msg(v != NULL, "%s", sg_last_error());
    static const char *const order[] = {"b", "c", "a", "e", "d", "zz"};
    static const int64_t counts[] = {3, 3, 2, 2, 1, 1};
    ck_assert_int_eq(sg_vocab_size(v), 8);
    ck_assert_str_eq(sg_vocab_word(v, SG_VOCAB_PAD), "<pad>");
    ck_assert_str_eq(sg_vocab_word(v, SG_VOCAB_UNK), "<unk>");
    for (int i = 0; i < 6; i++) {
        ck_assert_str_eq(sg_vocab_word(v, SG_VOCAB_FIRST + i), order[i]);
        ck_assert_int_eq(sg_vocab_id(v, order[i]), SG_VOCAB_FIRST + i);
        ck_assert_int_eq(sg_vocab_count(v, SG_VOCAB_FIRST + i), counts[i]);
    }
    ck_assert_int_eq(sg_vocab_count(v, SG_VOCAB_UNK), 0);
    ck_assert_int_eq(sg_vocab_id(v, "nope"), SG_VOCAB_UNK);
    ck_assert_int_eq(sg_vocab_id(v, "<pad>"), SG_VOCAB_UNK);
    ck_assert_ptr_null(sg_vocab_word(v, 8));
    tu_assert_error(SG_ERR_ARG, "id 8 out of range [0, 8)");
    sg_vocab_free(v);

    /* the same multiset in another order gives the same vocabulary; max_words cuts the tail */
    const char *shuffled[] = {"d", "a c e b", "b zz", "c b e c a"};
    v = sg_vocab_build(shuffled, 4, 3);
    ck_assert_msg(v != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_vocab_size(v), 5);
    for (int i = 0; i < 3; i++) ck_assert_str_eq(sg_vocab_word(v, SG_VOCAB_FIRST + i), order[i]);
    ck_assert_int_eq(sg_vocab_id(v, "e"), SG_VOCAB_UNK);
    sg_vocab_free(v);

    /* a vocabulary from no text at all: pad and unk only */
    v = sg_vocab_build(NULL, 0, 10);
    ck_assert_msg(v != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_vocab_size(v), 2);
    sg_vocab_free(v);

    ck_assert_ptr_null(sg_vocab_build(texts, 4, -1));
    tu_assert_error(SG_ERR_ARG, "max_words must be >= 0");
    const char *holes[] = {"a", NULL};
    ck_assert_ptr_null(sg_vocab_build(holes, 2, 0));
    tu_assert_error(SG_ERR_NULL, "texts[1] is NULL");
    tu_teardown();
}
END_TEST

/* many distinct words: exercises the hash table growth, checks every id round-trips */
START_TEST(vocab_many_words) {
    enum { N = 5000, WORD = 16 };
    char *buf = malloc(N * WORD);
    for (int i = 0; i < N; i++) snprintf(buf + i * WORD, WORD, "w%d ", i);
    size_t len = 0;
    char *text = malloc(N * WORD);
    for (int i = 0; i < N; i++) {
        size_t l = strlen(buf + i * WORD);
        memcpy(text + len, buf + i * WORD, l);
        len += l;
    }
    text[len] = '\0';
    const char *texts[] = {text, "w7 w7 w42"};
    sg_vocab *v = sg_vocab_build(texts, 2, SG_VOCAB_ALL);
    ck_assert_msg(v != NULL, "%s", sg_last_error());
    ck_assert_int_eq(sg_vocab_size(v), N + 2);
    ck_assert_str_eq(sg_vocab_word(v, 2), "w7");  /* count 3 */
    ck_assert_str_eq(sg_vocab_word(v, 3), "w42"); /* count 2 */
    ck_assert_str_eq(sg_vocab_word(v, 4), "w0");  /* then strcmp order: w0 w1 w10 w100 ... */
    ck_assert_str_eq(sg_vocab_word(v, 5), "w1");
    ck_assert_str_eq(sg_vocab_word(v, 6), "w10");
    for (int64_t id = 2; id < N + 2; id++) ck_assert_int_eq(sg_vocab_id(v, sg_vocab_word(v, id)), id);
    sg_vocab_free(v);
    free(buf);
    free(text);
    tu_teardown();
}
END_TEST

/* ---- encoding ---- */
START_TEST(encoding) {
    const char *train[] = {"a b c d e", "a b c d", "a b c", "a b", "a"}; /* a=2 b=3 c=4 d=5 e=6 */
    sg_vocab *v = sg_vocab_build(train, 5, 4);                             /* drops e */
    const char *texts[] = {"A b c d e f", "b", "", "!!! <br />", "d c"};
    sg_encoded e;
    ck_assert_int_eq(sg_encode_texts(v, texts, 5, 3, false, &e), 0);
    ck_assert_int_eq(e.n, 5);
    ck_assert_int_eq(e.max_len, 3);
    static const int64_t first[5][3] = {{2, 3, 4}, {3, 0, 0}, {1, 0, 0}, {1, 0, 0}, {5, 4, 0}};
    static const int64_t lens[5] = {3, 1, 1, 1, 2};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(e.lengths[i], lens[i]);
        for (int j = 0; j < 3; j++) ck_assert_int_eq(e.ids[i * 3 + j], first[i][j]);
    }
    sg_encoded_free(&e);
    ck_assert_ptr_null(e.ids);
    /* keep_end: the last 3 tokens "d e f" -> d, unk (e cut from the vocabulary), unk */
    ck_assert_int_eq(sg_encode_texts(v, texts, 2, 3, true, &e), 0);
    static const int64_t last[2][3] = {{5, 1, 1}, {3, 0, 0}};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) ck_assert_int_eq(e.ids[i * 3 + j], last[i][j]);
    ck_assert_int_eq(e.lengths[0], 3);
    sg_encoded_free(&e);

    ck_assert_int_eq(sg_encode_texts(v, texts, 5, 0, false, &e), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "max_len must be >= 1, got 0");
    ck_assert_int_eq(sg_encode_texts(NULL, texts, 5, 3, false, &e), SG_ERR_NULL);
    tu_assert_error(SG_ERR_NULL, "'v' is NULL");
    ck_assert_ptr_null(e.ids);
    sg_vocab_free(v);
    tu_teardown();
}
END_TEST

/* ---- IMDB tree ---- */
START_TEST(imdb_synthetic) {
    char *dir = tu_data_tmpdir();
    static const struct {
        const char *name, *text;
    } files[] = {
        {"aclImdb/train/pos/1_7.txt", "Good film.<br /><br />Loved it"},
        {"aclImdb/train/pos/0_9.txt", "Great!"},
        {"aclImdb/train/pos/10_10.txt", "Best film ever"},
        {"aclImdb/train/neg/5_3.txt", "Bad film"},
        {"aclImdb/train/neg/2_1.txt", ""},
        {"aclImdb/train/neg/notes", "not a review"},
        {"aclImdb/train/neg/x.txt/inner.txt", "a directory named like a review"},
        {"aclImdb/test/pos/0_10.txt", "Film good"},
        {"aclImdb/test/neg/0_2.txt", "Awful"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        free(tu_data_write(dir, files[i].name, files[i].text, strlen(files[i].text)));
    char *root = tu_data_path(dir, "aclImdb");
    sg_text_set tr, te;
    ck_assert_msg(sg_imdb_read(root, "train", &tr) == 0, "%s", sg_last_error());
    ck_assert_int_eq(tr.n, 5);
    static const char *const names[] = {"2_1.txt", "5_3.txt", "0_9.txt", "10_10.txt", "1_7.txt"};
    static const int64_t labels[] = {0, 0, 1, 1, 1};
    static const int ratings[] = {1, 3, 9, 10, 7};
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(tr.names[i], names[i]);
        ck_assert_int_eq(tr.labels[i], labels[i]);
        ck_assert_int_eq(tr.ratings[i], ratings[i]);
    }
    ck_assert_str_eq(tr.texts[4], "Good film.<br /><br />Loved it");
    ck_assert_msg(sg_imdb_read(root, "test", &te) == 0, "%s", sg_last_error());
    ck_assert_int_eq(te.n, 2);
    ck_assert_int_eq(te.labels[0], 0);

    /* vocabulary from train only; "film" (3) first, then 1-count words in strcmp order */
    sg_vocab *v = sg_vocab_build(tr.texts, tr.n, SG_VOCAB_ALL);
    ck_assert_str_eq(sg_vocab_word(v, 2), "film");
    ck_assert_str_eq(sg_vocab_word(v, 3), "bad");
    ck_assert_int_eq(sg_vocab_id(v, "awful"), SG_VOCAB_UNK); /* a test-only word */
    sg_encoded e;
    ck_assert_int_eq(sg_encode_texts(v, te.texts, te.n, 4, false, &e), 0);
    ck_assert_int_eq(e.ids[0], SG_VOCAB_UNK);
    ck_assert_int_eq(e.lengths[0], 1);
    ck_assert_int_eq(e.ids[4], sg_vocab_id(v, "film"));
    ck_assert_int_eq(e.ids[5], sg_vocab_id(v, "good"));
    ck_assert_int_eq(e.lengths[1], 2);
    sg_encoded_free(&e);
    sg_vocab_free(v);
    sg_text_set_free(&tr);
    sg_text_set_free(&te);
    ck_assert_ptr_null(tr.texts);

    ck_assert_int_eq(sg_imdb_read(root, "unsup", &tr), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "\"train\" or \"test\", got \"unsup\"");
    char *missing = tu_data_path(dir, "nothere");
    ck_assert_int_eq(sg_imdb_read(missing, "train", &tr), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "nothere/train/neg': No such file or directory");
    ck_assert_int_eq(tr.n, 0);
    free(missing);
    free(root);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

/* The real archive: unpack the 444 reviews whose names start with "123" (about 1 s). Expected
 * values from Python: re.findall(rb'[a-z0-9]+', re.sub(rb'(?i)<br />', b' ', text).lower()) per
 * file, files sorted by name, neg before pos, vocabulary ranked by (-count, word). */
START_TEST(imdb_real_subset) {
    char *dir = tu_data_tmpdir();
    char *archive = tu_data_path(tu_data_dir(), "aclImdb-labeled.tar.gz");
    enum { CMD = 2048 };
    char cmd[CMD];
    snprintf(cmd, sizeof cmd,
             "tar xzf '%s' -C '%s' --wildcards 'aclImdb/train/pos/123*' 'aclImdb/train/neg/123*' "
             "'aclImdb/test/pos/123*' 'aclImdb/test/neg/123*'",
             archive, dir);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
    char *root = tu_data_path(dir, "aclImdb");
    sg_text_set tr, te;
    ck_assert_msg(sg_imdb_read(root, "train", &tr) == 0, "%s", sg_last_error());
    ck_assert_msg(sg_imdb_read(root, "test", &te) == 0, "%s", sg_last_error());
    ck_assert_int_eq(tr.n, 222);
    ck_assert_int_eq(te.n, 222);
    ck_assert_str_eq(tr.names[0], "12300_4.txt");
    ck_assert_str_eq(tr.names[111], "12300_10.txt");
    ck_assert_int_eq(tr.labels[110], 0);
    ck_assert_int_eq(tr.labels[111], 1);
    ck_assert_int_eq(tr.ratings[111], 10);

    sg_vocab *all = sg_vocab_build(tr.texts, tr.n, SG_VOCAB_ALL);
    ck_assert_int_eq(sg_vocab_size(all), 6933 + 2);
    static const char *const top[] = {"the", "and", "a", "of", "to", "is"};
    static const int64_t top_counts[] = {2786, 1511, 1325, 1245, 1088, 893};
    for (int i = 0; i < 6; i++) {
        ck_assert_str_eq(sg_vocab_word(all, 2 + i), top[i]);
        ck_assert_int_eq(sg_vocab_count(all, 2 + i), top_counts[i]);
    }
    sg_vocab_free(all);

    sg_vocab *v = sg_vocab_build(tr.texts, tr.n, 1000);
    ck_assert_int_eq(sg_vocab_size(v), 1002);
    /* ranks 995..1004 all have count 6: the cut at 1000 falls inside this tie */
    ck_assert_str_eq(sg_vocab_word(v, 2 + 995), "dramatic");
    ck_assert_str_eq(sg_vocab_word(v, 2 + 999), "entertainment");
    ck_assert_int_eq(sg_vocab_id(v, "entirely"), SG_VOCAB_UNK); /* rank 1000, same count */

    enum { BIG = 2000, L = 20 };
    sg_encoded e;
    ck_assert_int_eq(sg_encode_texts(v, tr.texts, tr.n, BIG, false, &e), 0);
    int64_t total = 0;
    for (int64_t i = 0; i < e.n; i++) total += e.lengths[i];
    ck_assert_int_eq(total, 48791);
    ck_assert_int_eq(e.lengths[0], 643);
    sg_encoded_free(&e);
    static const int64_t tr_first[L] = {46, 22, 84, 370, 655, 5, 10, 28, 1, 238, 34, 91, 341, 31, 51, 1, 28, 5, 2, 1};
    static const int64_t tr_last[L] = {2, 636, 363, 2, 453, 32, 258, 757, 13, 753, 3, 2, 765, 22, 34, 104, 38, 181, 847, 1};
    static const int64_t te_first[L] = {2, 1, 674, 7, 4, 1, 1, 18, 1, 1, 1, 14, 4, 170, 1, 1, 16, 4, 1, 5};
    ck_assert_int_eq(sg_encode_texts(v, tr.texts, tr.n, L, false, &e), 0);
    for (int j = 0; j < L; j++) ck_assert_int_eq(e.ids[j], tr_first[j]);
    sg_encoded_free(&e);
    ck_assert_int_eq(sg_encode_texts(v, tr.texts, tr.n, L, true, &e), 0);
    for (int j = 0; j < L; j++) ck_assert_int_eq(e.ids[j], tr_last[j]);
    sg_encoded_free(&e);
    ck_assert_int_eq(sg_encode_texts(v, te.texts, te.n, L, false, &e), 0);
    for (int j = 0; j < L; j++) ck_assert_int_eq(e.ids[j], te_first[j]);
    sg_encoded_free(&e);

    sg_vocab_free(v);
    sg_text_set_free(&tr);
    sg_text_set_free(&te);
    free(root);
    free(archive);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

/* ---- character corpus ---- */
START_TEST(char_preprocess) {
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"Hello, World!\n\nIt's 1898.", "hello world it s "},
        {"  x", " x"},
        {"", ""},
        {"caf\xc3\xa9!", "caf "},
        {"ABC", "abc"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        char *p = sg_char_preprocess(cases[i].in, strlen(cases[i].in), &n);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(p, cases[i].out);
        ck_assert_uint_eq(n, strlen(cases[i].out));
        free(p);
    }
    sg_char_corpus c;
    const char *t = "Ba, ab";
    ck_assert_int_eq(sg_char_corpus_build(t, strlen(t), 0.5, &c), 0); /* "ba ab" */
    ck_assert_int_eq(c.n, 5);
    ck_assert_int_eq(c.vocab_size, 4);
    static const char *const tok[] = {" ", "<unk>", "a", "b"};
    for (int i = 0; i < 4; i++) ck_assert_str_eq(c.tokens[i], tok[i]);
    static const int64_t ids[] = {3, 2, 0, 2, 3};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(c.ids[i], ids[i]);
    ck_assert_int_eq(c.n_train, 3); /* floor(5 * 0.5) = 2 for validation */
    ck_assert_int_eq(c.unk_id, 1);
    ck_assert_int_eq(sg_char_corpus_id(&c, 'b'), 3);
    ck_assert_int_eq(sg_char_corpus_id(&c, 'q'), 1);
    sg_char_corpus_free(&c);
    ck_assert_int_eq(sg_char_corpus_build(t, strlen(t), 1.0, &c), SG_ERR_ARG);
    tu_assert_error(SG_ERR_ARG, "val_frac must be in [0, 1)");
    tu_teardown();
}
END_TEST

/* Expected values from d2l's recipe in Python:
 *   text = re.sub('[^A-Za-z]+', ' ', open(F).read()).lower()
 *   vocab = sorted(set(['<unk>'] + list(text))); ids = [vocab.index(ch) for ch in text] */
START_TEST(time_machine_real) {
    char *p = tu_data_path(tu_data_dir(), "timemachine.txt");
    sg_char_corpus c;
    ck_assert_msg(sg_time_machine_load(p, &c) == 0, "%s", sg_last_error());
    ck_assert_int_eq(c.n, 173428);
    ck_assert_int_eq(c.vocab_size, 28);
    ck_assert_str_eq(c.tokens[0], " ");
    ck_assert_str_eq(c.tokens[1], "<unk>");
    ck_assert_str_eq(c.tokens[2], "a");
    ck_assert_str_eq(c.tokens[27], "z");
    ck_assert_int_eq(c.unk_id, 1);
    static const int64_t first[] = {21, 9, 6, 0, 21, 10, 14, 6, 0, 14}; /* "the time m" */
    static const int64_t last[] = {0, 14, 2, 15, 0};                   /* " man " */
    for (int i = 0; i < 10; i++) ck_assert_int_eq(c.ids[i], first[i]);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(c.ids[c.n - 5 + i], last[i]);
    ck_assert_int_eq(c.n_train, 156086); /* 17342 = floor(0.1 n) validation */
    for (int64_t i = 0; i < c.n; i++) ck_assert(c.ids[i] >= 0 && c.ids[i] < c.vocab_size && c.ids[i] != c.unk_id);
    sg_char_corpus_free(&c);
    free(p);
    ck_assert_int_eq(sg_time_machine_load("/nonexistent/tm.txt", &c), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "cannot open '/nonexistent/tm.txt': No such file or directory");
    ck_assert_ptr_null(c.ids);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("io_text");
    TCase *t = tcase_create("text");
    tcase_add_loop_test(t, tokenizer, 0, N_TOK);
    tcase_add_test(t, vocab_ranking);
    tcase_add_test(t, vocab_many_words);
    tcase_add_test(t, encoding);
    tcase_add_test(t, imdb_synthetic);
    tcase_add_test(t, char_preprocess);
    suite_add_tcase(s, t);
    tcase_add_test(tu_data_tcase(s, "imdb_data"), imdb_real_subset);
    tcase_add_test(tu_data_tcase(s, "text_data"), time_machine_real);
    return tu_run(s);
}
