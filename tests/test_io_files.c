/* Every file loader of io/ against inputs that are not regular files (issue 9 defect 4): a FIFO
 * with no writer (which hung open() and fopen() forever) and a character device must give a clear
 * SG_ERR_IO at once. A watchdog alarm turns a hang into a failure instead of a stuck CI.
 * Not a test of the formats themselves (test_io_idx, test_io_csv, test_io_text, test_safetensors,
 * test_checkpoint). */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seqgrad.h"
#include "util/datatest.h"
#include "util/testutil.h"

enum { WATCHDOG_S = 20 }; /* the whole test takes milliseconds; a hang is killed by SIGALRM */

/* One loader called on path; returns its status (0 when it wrongly succeeded). */
typedef int (*load_fn)(const char *path);

static int ld_images(const char *p) {
    sg_tensor *t = sg_idx_images(p);
    sg_tensor_free(t);
    return t ? SG_OK : sg_last_status();
}
static int ld_labels(const char *p) {
    int64_t n;
    int64_t *l = sg_idx_labels(p, &n);
    sg_idx_labels_free(l);
    return l ? SG_OK : sg_last_status();
}
static int ld_csv(const char *p) {
    int64_t n;
    double *v = sg_csv_column(p, "a", 0, &n);
    sg_csv_free(v);
    return v ? SG_OK : sg_last_status();
}
static int ld_chars(const char *p) {
    sg_char_corpus c;
    int s = sg_time_machine_load(p, &c);
    if (s == SG_OK) sg_char_corpus_free(&c);
    return s;
}
static int ld_st(const char *p) {
    sg_st_file *f = sg_st_open(p);
    sg_st_close(f);
    return f ? SG_OK : sg_last_status();
}
static int ld_ckpt(const char *p) {
    sg_model *m = sg_model_new(SG_F32);
    sg_model_declare(m, "w", 1, (int64_t[]){2}, SG_INIT_CONST, 1.0);
    sg_model_finalize(m, 1);
    int s = sg_checkpoint_load(p, m, NULL);
    sg_model_free(m);
    return s;
}
static int ld_ckpt_meta(const char *p) {
    char buf[8];
    int s = sg_checkpoint_meta(p, "k", buf, sizeof buf);
    return s >= 0 ? SG_OK : s;
}

static const struct {
    const char *name;
    load_fn fn;
} LOADERS[] = {
    {"sg_idx_images", ld_images},  {"sg_idx_labels", ld_labels}, {"sg_csv_column", ld_csv},
    {"sg_time_machine_load", ld_chars}, {"sg_st_open", ld_st},   {"sg_checkpoint_load", ld_ckpt},
    {"sg_checkpoint_meta", ld_ckpt_meta},
};
enum { N_LOADERS = sizeof LOADERS / sizeof LOADERS[0] };

START_TEST(fifo_and_device) {
    alarm(WATCHDOG_S);
    char *dir = tu_data_tmpdir();
    char *fifo = tu_data_path(dir, "input.fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    const struct {
        const char *path, *why;
    } inputs[] = {{fifo, "not a regular file (a FIFO)"}, {"/dev/null", "not a regular file (a device)"}};
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        if (access(inputs[k].path, R_OK) != 0) continue;
        for (int i = 0; i < N_LOADERS; i++) {
            int s = LOADERS[i].fn(inputs[k].path);
            ck_assert_msg(s == SG_ERR_IO, "%s(%s) returned %d (%s)", LOADERS[i].name, inputs[k].path, s,
                          sg_last_error());
            ck_assert_msg(strstr(sg_last_error(), inputs[k].why) && strstr(sg_last_error(), inputs[k].path),
                          "%s: message '%s' lacks '%s'", LOADERS[i].name, sg_last_error(), inputs[k].why);
            sg_clear_error();
        }
    }

    /* directory loaders: a FIFO under a loader's expected name is passed over, not opened */
    char *mn = tu_data_path(dir, "t10k-images-idx3-ubyte");
    ck_assert_int_eq(mkfifo(mn, 0600), 0);
    sg_mnist m;
    ck_assert_int_eq(sg_mnist_load(dir, "t10k", &m), SG_ERR_IO);
    tu_assert_error(SG_ERR_IO, "no images file for split 't10k'");
    free(tu_data_write(dir, "train/pos/1_7.txt", "good film", 9));
    free(tu_data_write(dir, "train/neg/2_1.txt", "bad film", 8));
    char *pos_fifo = tu_data_path(dir, "train/pos/3_9.txt");
    ck_assert_int_eq(mkfifo(pos_fifo, 0600), 0);
    sg_text_set ts;
    ck_assert_msg(sg_imdb_read(dir, "train", &ts) == SG_OK, "%s", sg_last_error());
    ck_assert_int_eq(ts.n, 2);
    sg_text_set_free(&ts);
    alarm(0);
    free(pos_fifo);
    free(mn);
    free(fifo);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("io_files");
    TCase *t = tcase_create("files");
    tcase_add_test(t, fifo_and_device);
    suite_add_tcase(s, t);
    return tu_run(s);
}
