/* Test helper for the examples' CTests (examples/tests/run.sh): writes tiny data sets and edits
 * checkpoints, so that the error paths of the examples can be exercised on a machine without the
 * real data. Not installed; not part of the library.
 *   extool ckpt-edit IN OUT [key=value | -key | drop:TENSOR]...   copy IN with metadata changed
 *   extool mnist DIR N                 DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte, N images
 *   extool imdb ROOT NTRAIN NTEST      ROOT/{train,test}/{pos,neg}/K_7.txt, N reviews per class
 *   extool series FILE N KIND          airline-style CSV of N months: KIND seasonal | constant | zero
 *   extool binary FILE                 a file of bytes with NULs */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "seqgrad.h"

enum { PIX = 28, PATH_MAX_LEN = 1024, SEASON = 12, BINARY_BYTES = 4096 };

static int fail(const char *what) {
    fprintf(stderr, "extool: %s: %s\n", what, sg_has_error() ? sg_last_error() : "failed");
    return 1;
}

static int ckpt_edit(int argc, char **argv) {
    sg_st_file *f = sg_st_open(argv[0]);
    if (!f) return fail(argv[0]);
    sg_st_writer *w = sg_st_writer_new();
    for (int i = 0; i < sg_st_count(f); i++) {
        const char *name = sg_st_name(f, i);
        bool drop = false;
        for (int k = 2; k < argc; k++) drop |= !strncmp(argv[k], "drop:", 5) && !strcmp(argv[k] + 5, name);
        if (drop) continue;
        sg_tensor *t = sg_st_get(f, name, strcmp(sg_st_dtype(f, i), "F64") ? SG_F32 : SG_F64);
        if (!t || sg_st_writer_add(w, name, t)) return fail(name);
        sg_tensor_free(t);
    }
    for (int i = 0; i < sg_st_meta_count(f); i++) {
        const char *key = sg_st_meta_key(f, i), *val = sg_st_meta(f, key);
        size_t kl = strlen(key);
        bool keep = true;
        for (int k = 2; k < argc; k++)
            if ((argv[k][0] == '-' && !strcmp(argv[k] + 1, key)) || (!strncmp(argv[k], key, kl) && argv[k][kl] == '='))
                keep = false;
        if (keep && sg_st_writer_meta(w, key, val)) return fail(key);
    }
    for (int k = 2; k < argc; k++) {
        char *eq = strchr(argv[k], '=');
        if (!eq || argv[k][0] == '-' || !strncmp(argv[k], "drop:", 5)) continue;
        *eq = 0;
        if (sg_st_writer_meta(w, argv[k], eq + 1)) return fail(argv[k]);
    }
    int rc = sg_st_writer_save(w, argv[1]) ? fail(argv[1]) : 0;
    sg_st_writer_free(w);
    sg_st_close(f);
    return rc;
}

static void be32(FILE *f, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

static int mnist(const char *dir, long n) {
    static const char *const SPLIT[] = {"train", "t10k"};
    mkdir(dir, 0755);
    for (int s = 0; s < 2; s++) {
        char p[PATH_MAX_LEN];
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, SPLIT[s]);
        FILE *f = fopen(p, "wb");
        if (!f) return fail(p);
        be32(f, 0x803), be32(f, (uint32_t)n), be32(f, PIX), be32(f, PIX);
        for (long i = 0; i < n * PIX * PIX; i++) fputc((int)((i * 37 + i / PIX) % 256), f);
        fclose(f);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, SPLIT[s]);
        if (!(f = fopen(p, "wb"))) return fail(p);
        be32(f, 0x801), be32(f, (uint32_t)n);
        for (long i = 0; i < n; i++) fputc((int)(i % 10), f);
        fclose(f);
    }
    return 0;
}

static int imdb(const char *root, long ntrain, long ntest) {
    static const char *const SPLIT[] = {"train", "test"}, *const CLS[] = {"pos", "neg"};
    static const char *const WORDS[] = {"good", "bad", "film", "great", "awful", "plot", "actor", "boring"};
    char p[PATH_MAX_LEN];
    mkdir(root, 0755);
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s", root, SPLIT[s]);
        mkdir(p, 0755);
        for (int c = 0; c < 2; c++) {
            snprintf(p, sizeof p, "%s/%s/%s", root, SPLIT[s], CLS[c]);
            mkdir(p, 0755);
            for (long k = 0; k < (s ? ntest : ntrain); k++) {
                snprintf(p, sizeof p, "%s/%s/%s/%ld_7.txt", root, SPLIT[s], CLS[c], k);
                FILE *f = fopen(p, "w");
                if (!f) return fail(p);
                for (long j = 0; j < 12; j++) fprintf(f, "%s ", WORDS[(k + j * (c + 2)) % 8]);
                fclose(f);
            }
        }
    }
    return 0;
}

static int series(const char *path, long n, const char *kind) {
    FILE *f = fopen(path, "w");
    if (!f) return fail(path);
    fprintf(f, "\"Month\",\"Passengers\"\n");
    for (long t = 0; t < n; t++) {
        double y = !strcmp(kind, "zero") ? 0 : !strcmp(kind, "constant") ? 100
                 : 100 + t + 20 * sin(2 * M_PI * (double)(t % SEASON) / SEASON) + (double)((t * 7) % 5);
        fprintf(f, "\"%ld-%02ld\",%g\n", 1949 + t / SEASON, t % SEASON + 1, y);
    }
    fclose(f);
    return 0;
}

static int binary(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail(path);
    for (int i = 0; i < BINARY_BYTES; i++) fputc(i % 7 ? 'a' + i % 26 : 0, f);
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "ckpt-edit") && argc >= 4) return ckpt_edit(argc - 2, argv + 2);
    if (!strcmp(cmd, "mnist") && argc == 4) return mnist(argv[2], atol(argv[3]));
    if (!strcmp(cmd, "imdb") && argc == 5) return imdb(argv[2], atol(argv[3]), atol(argv[4]));
    if (!strcmp(cmd, "series") && argc == 5) return series(argv[2], atol(argv[3]), argv[4]);
    if (!strcmp(cmd, "binary") && argc == 3) return binary(argv[2]);
    fprintf(stderr, "usage: see examples/tests/extool.c\n");
    return 2;
}
