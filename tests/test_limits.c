/* Limits and contracts of issue 9: element counts and strides that overflow int64 are refused with
 * SG_ERR_SHAPE by every creation path (one check, tensor/tensor.c sg__shape_check), the model's
 * flat block is sg_model_flat_numel elements (padding included), and sg_set_num_threads is
 * process-wide (threads started before and after it use N). */
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

#define P40 ((int64_t)1 << 40)
#define P30 ((int64_t)1 << 30)

static void assert_too_large(sg_tensor *t, const char *fn) {
    ck_assert_ptr_null(t);
    ck_assert_int_eq(sg_last_status(), SG_ERR_SHAPE);
    ck_assert_msg(strstr(sg_last_error(), fn) && strstr(sg_last_error(), "too large"), "message: %s", sg_last_error());
    sg_clear_error();
}

START_TEST(creation_refuses_overflowing_shapes) {
    const int64_t big[2] = {P40, P40}, max1[1] = {INT64_MAX}, edge[2] = {P30, P30};
    const int64_t zero_big[3] = {0, P40, P40}, zero_u32[3] = {0, 0xFFFFFFFFLL, 0xFFFFFFFFLL};
    float buf[1] = {0};
    sg_rng rng = sg_rng_new(1);
    assert_too_large(sg_zeros(SG_F32, 2, big), "sg_zeros");
    assert_too_large(sg_empty(SG_F64, 2, big), "sg_empty");
    assert_too_large(sg_ones(SG_F32, 2, big), "sg_full");
    assert_too_large(sg_from_buffer(SG_F32, 2, big, buf, SG_F32), "sg_from_buffer");
    assert_too_large(sg_uniform(&rng, SG_F32, 2, big, 0, 1), "sg_empty");
    assert_too_large(sg_normal(&rng, SG_F32, 2, big, 0, 1), "sg_empty");
    assert_too_large(sg_zeros(SG_F32, 1, max1), "sg_zeros");
    /* 2^60 elements of 8 bytes do not fit int64 bytes: the first size refused */
    assert_too_large(sg_zeros(SG_F64, 2, edge), "sg_zeros");
    /* no elements, but strides that overflow (what the IDX and safetensors reproducers built) */
    assert_too_large(sg_zeros(SG_F32, 3, zero_big), "sg_zeros");
    assert_too_large(sg_from_buffer(SG_F32, 3, zero_u32, buf, SG_F32), "sg_from_buffer");
    /* what still works: empty tensors with sane strides */
    sg_tensor *e = sg_zeros(SG_F32, 3, (int64_t[]){0, 1 << 20, 1 << 20});
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(sg_numel(e), 0);
    sg_tensor_free(e);
    tu_teardown();
}
END_TEST

START_TEST(views_and_op_results_refuse_overflow) {
    sg_tensor *e = sg_zeros(SG_F32, 1, (int64_t[]){0});
    assert_too_large(sg_reshape(e, 3, (int64_t[]){0, P40, P40}), "sg_reshape");
    assert_too_large(sg_reshape(e, 3, (int64_t[]){-1, P40, P40}), "sg_reshape");
    /* known sizes whose product overflows int64 itself */
    assert_too_large(sg_reshape(e, 4, (int64_t[]){0, P40, P40, P40}), "sg_reshape");
    /* broadcasting two empty tensors into strides that overflow: the op's output is refused */
    sg_tensor *a = sg_zeros(SG_F32, 3, (int64_t[]){0, P30 * 2, 1}), *b = sg_zeros(SG_F32, 3, (int64_t[]){0, 1, P30 * 2});
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    sg_tensor *c = sg_add(a, b);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(sg_last_status(), SG_ERR_SHAPE);
    ck_assert_msg(strstr(sg_last_error(), "too large"), "message: %s", sg_last_error());
    sg_clear_error();
    sg_tensor_free(a);
    sg_tensor_free(b);
    sg_tensor_free(e);
    tu_teardown();
}
END_TEST

START_TEST(model_declare_refuses_overflow) {
    sg_model *m = sg_model_new(SG_F32);
    ck_assert_int_eq(sg_model_declare(m, "w", 2, (int64_t[]){P40, P40}, SG_INIT_ZEROS, 0), SG_ERR_SHAPE);
    ck_assert_msg(strstr(sg_last_error(), "sg_model_declare") && strstr(sg_last_error(), "too large"), "message: %s",
                  sg_last_error());
    sg_clear_error();
    ck_assert_int_eq(sg_model_declare(m, "w", 1, (int64_t[]){INT64_MAX}, SG_INIT_ZEROS, 0), SG_ERR_SHAPE);
    sg_clear_error();
    /* each fits alone, the sum does not */
    ck_assert_int_eq(sg_model_declare(m, "a", 2, (int64_t[]){P30, P30 / 2}, SG_INIT_ZEROS, 0), 0);
    ck_assert_int_eq(sg_model_declare(m, "b", 2, (int64_t[]){P30, P30 / 2}, SG_INIT_ZEROS, 0), SG_ERR_SHAPE);
    ck_assert_msg(strstr(sg_last_error(), "'b'") && strstr(sg_last_error(), "larger than"), "message: %s",
                  sg_last_error());
    sg_clear_error();
    ck_assert_int_eq(sg_model_num_params(m), 1);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* The flat view is sg_model_flat_numel elements, padding included; a buffer sized by it is enough
 * and the padding reads as zeros. */
START_TEST(flat_block_size_contract) {
    sg_model *m = sg_model_new(SG_F32);
    sg_rnn_config c = {.cell = SG_CELL_LSTM, .input_size = 3, .hidden_size = 5};
    ck_assert_ptr_nonnull(sg_rnn_new(m, NULL, &c));
    ck_assert_int_eq(sg_model_declare(m, "fc.bias", 1, (int64_t[]){7}, SG_INIT_CONST, 1.0), sg_model_num_params(m) - 1);
    ck_assert_int_eq(sg_model_finalize(m, 3), 0);
    /* 4*5*3 + 4*5*5 + 2*20 + 7 = 207 values; each parameter padded to 16 floats: 64+112+32+32+16 */
    ck_assert_int_eq(sg_model_numel(m), 207);
    ck_assert_int_eq(sg_model_flat_numel(m), 256);
    sg_tensor *flat = sg_model_flat_params(m);
    ck_assert_int_eq(sg_numel(flat), sg_model_flat_numel(m));
    ck_assert_int_eq(sg_numel(sg_model_flat_grads(m)), sg_model_flat_numel(m));
    int64_t n = sg_model_flat_numel(m);
    float *buf = malloc((size_t)(n + 1) * sizeof *buf);
    buf[n] = -42.0f; /* guard */
    ck_assert_int_eq(sg_to_buffer(flat, buf, SG_F32), SG_OK);
    ck_assert(buf[n] == -42.0f);
    int64_t nonzero = 0, off = 0;
    for (int i = 0; i < sg_model_num_params(m); i++) {
        int64_t k = sg_numel(sg_model_param(m, i));
        for (int64_t j = k; j < (k + 15) / 16 * 16; j++) ck_assert(buf[off + j] == 0.0f); /* padding */
        for (int64_t j = 0; j < k; j++) nonzero += buf[off + j] != 0.0f;
        off += (k + 15) / 16 * 16;
    }
    ck_assert_int_eq(off, n);
    ck_assert_int_gt(nonzero, 200);
    free(buf);
    ck_assert_int_eq(sg_model_flat_numel(NULL), 0);
    sg_model_free(m);
    tu_teardown();
}
END_TEST

/* ---- sg_set_num_threads is process-wide ---- */

typedef struct {
    pthread_barrier_t *set, *seen;
    int before, after;
} probe;

static void *early_thread(void *arg) {
    probe *p = arg;
    p->before = sg_get_num_threads();
    pthread_barrier_wait(p->set); /* the main thread now sets 3 */
    pthread_barrier_wait(p->seen);
    sg_tensor *x = sg_zeros(SG_F32, 1, (int64_t[]){4}); /* any call that takes a tensor adopts it */
    sg_numel(x);
    p->after = omp_get_max_threads();
    sg_tensor_free(x);
    return NULL;
}

static void *late_thread(void *arg) {
    int *n = arg;
    *n = sg_get_num_threads();
    return NULL;
}

START_TEST(set_num_threads_is_process_wide) {
    ck_assert_int_eq(sg_set_num_threads(1), SG_OK);
    pthread_barrier_t set, seen;
    pthread_barrier_init(&set, NULL, 2);
    pthread_barrier_init(&seen, NULL, 2);
    probe p = {&set, &seen, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, early_thread, &p), 0);
    pthread_barrier_wait(&set);
    ck_assert_int_eq(sg_set_num_threads(3), SG_OK);
    pthread_barrier_wait(&seen);
    pthread_join(th, NULL);
    ck_assert_int_eq(p.before, 1);
    ck_assert_int_eq(p.after, 3);
    int late = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, late_thread, &late), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(late, 3);
    ck_assert_int_eq(sg_get_num_threads(), 3);
    pthread_barrier_destroy(&set);
    pthread_barrier_destroy(&seen);
    sg_set_num_threads(1);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("limits");
    TCase *t = tcase_create("limits");
    tcase_add_test(t, creation_refuses_overflowing_shapes);
    tcase_add_test(t, views_and_op_results_refuse_overflow);
    tcase_add_test(t, model_declare_refuses_overflow);
    tcase_add_test(t, flat_block_size_contract);
    tcase_add_test(t, set_num_threads_is_process_wide);
    suite_add_tcase(s, t);
    return tu_run(s);
}
