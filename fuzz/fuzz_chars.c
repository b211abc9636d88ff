/* libFuzzer harness: the character corpus loader (io/text.c, sg_time_machine_load) on a file
 * holding the input, then every id looked up again. Checks: no crash, leak or hang; ids are in
 * the vocabulary; the train/validation split adds up. */
#include "fuzz_util.h"

static char path[FUZZ_PATH];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_path(path, fuzz_dir("chars"), "input.txt");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(path, data, size);
    sg_char_corpus c;
    int st = sg_time_machine_load(path, &c);
    if (st != SG_OK) {
        FUZZ_CHECK(sg_last_status() == st, "status %d, last error %d", st, (int)sg_last_status());
        fuzz_done();
        return 0;
    }
    FUZZ_CHECK(c.n_train >= 0 && c.n_train <= c.n, "n_train %lld of %lld", (long long)c.n_train, (long long)c.n);
    for (int64_t i = 0; i < c.n; i++)
        FUZZ_CHECK(c.ids[i] >= 0 && c.ids[i] < c.vocab_size, "id %lld at %lld", (long long)c.ids[i], (long long)i);
    for (int ch = 0; ch < 256; ch++) {
        int64_t id = sg_char_corpus_id(&c, ch);
        FUZZ_CHECK(id == c.unk_id || (id >= 0 && id < c.vocab_size), "id of %d", ch);
    }
    sg_char_corpus_free(&c);
    fuzz_done();
    return 0;
}
