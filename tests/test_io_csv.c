/* CSV column loader: the real airline-passengers series, synthetic files exercising quoting, CRLF,
 * a byte-order mark and blank lines, and the exact "file:line" messages for malformed input. */
#include <stdlib.h>
#include <string.h>

#include "util/datatest.h"
#include "util/testutil.h"

enum { AIRLINE_ROWS = 144, AIRLINE_FIRST = 112, AIRLINE_LAST = 432 };

START_TEST(real_airline) {
    char *p = tu_data_path(tu_data_dir(), "airline-passengers.csv");
    int64_t n = -1;
    double *v = sg_csv_column(p, "Passengers", 0, &n);
    ck_assert_msg(v != NULL, "%s", sg_last_error());
    ck_assert_int_eq(n, AIRLINE_ROWS);
    ck_assert_double_eq(v[0], AIRLINE_FIRST);
    ck_assert_double_eq(v[1], 118);
    ck_assert_double_eq(v[n - 1], AIRLINE_LAST);
    sg_csv_free(v);
    v = sg_csv_column(p, NULL, 1, &n); /* same column by index */
    ck_assert_msg(v != NULL, "%s", sg_last_error());
    ck_assert_int_eq(n, AIRLINE_ROWS);
    ck_assert_double_eq(v[n - 1], AIRLINE_LAST);
    sg_csv_free(v);
    /* the Month column is text: the first data line is reported */
    ck_assert_ptr_null(sg_csv_column(p, "Month", 0, &n));
    tu_assert_error(SG_ERR_FORMAT, "airline-passengers.csv:2: field 1 (\"Month\"): '1949-01' is not a finite number");
    ck_assert_int_eq(n, 0);
    free(p);
    tu_teardown();
}
END_TEST

START_TEST(synthetic_ok) {
    char *dir = tu_data_tmpdir();
    static const char text[] = "\xEF\xBB\xBF"
                               "id, \"the \"\"value\"\"\" ,note\r\n"
                               "1, 1.5 ,\"a, b\"\r\n"
                               "\r\n"
                               "2,-2e3,\"\"\r\n"
                               "  \t \n"
                               "3,\" 7 \",x";
    char *p = tu_data_write(dir, "ok.csv", text, sizeof text - 1);
    int64_t n;
    double *v = sg_csv_column(p, "the \"value\"", 0, &n);
    ck_assert_msg(v != NULL, "%s", sg_last_error());
    ck_assert_int_eq(n, 3);
    ck_assert_double_eq(v[0], 1.5);
    ck_assert_double_eq(v[1], -2000);
    ck_assert_double_eq(v[2], 7); /* blanks inside the quotes are ignored around a number */
    sg_csv_free(v);
    v = sg_csv_column(p, "id", 0, &n);
    ck_assert_msg(v != NULL, "%s", sg_last_error());
    ck_assert_double_eq(v[2], 3);
    sg_csv_free(v);
    free(p);
    /* header only: zero rows, non-NULL */
    p = tu_data_write(dir, "hdr.csv", "a,b\n", 4);
    v = sg_csv_column(p, "b", 0, &n);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(n, 0);
    sg_csv_free(v);
    free(p);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

/* each bad file: content, column, expected status and message fragment */
typedef struct {
    const char *name, *text, *col;
    int col_index;
    sg_status status;
    const char *msg;
} bad_csv;

static const bad_csv BAD[] = {
    {"bad7.csv", "t,value\n1,10\n2,20\n3,30\n4,40\n5,50\n6,12x\n7,70\n", "value", 0, SG_ERR_FORMAT,
     "bad7.csv:7: field 2 (\"value\"): '12x' is not a finite number"},
    {"fields.csv", "a,b\n1,2\n3\n", "b", 0, SG_ERR_FORMAT, "fields.csv:3: expected 2 fields as in the header, found 1"},
    {"extra.csv", "a,b\n1,2,3\n", "a", 0, SG_ERR_FORMAT, "extra.csv:2: expected 2 fields as in the header, found 3"},
    {"empty_field.csv", "a,b\n1,\n", "b", 0, SG_ERR_FORMAT, "empty_field.csv:2: field 2 (\"b\"): '' is not"},
    {"nan.csv", "a\n1\nnan\n", "a", 0, SG_ERR_FORMAT, "nan.csv:3: field 1 (\"a\"): 'nan' is not a finite number"},
    {"inf.csv", "a\n1e999\n", "a", 0, SG_ERR_FORMAT, "inf.csv:2: field 1 (\"a\"): '1e999'"},
    {"quote.csv", "a,b\n1,\"2\n", "a", 0, SG_ERR_FORMAT, "quote.csv:2: unterminated quote starting at column 3"},
    {"after.csv", "a,b\n1,\"2\"x\n", "a", 0, SG_ERR_FORMAT, "after.csv:2: unexpected 'x' after a closing quote"},
    {"empty.csv", "\n \n", "a", 0, SG_ERR_FORMAT, "empty.csv': empty file (no header row)"},
    {"nocol.csv", "x,\"y\"\n1,2\n", "z", 0, SG_ERR_ARG, "has no column named \"z\" (header: \"x\", \"y\")"},
    {"index.csv", "x,y\n1,2\n", NULL, 2, SG_ERR_ARG, "column index 2 out of range: '"},
    {"neg.csv", "x,y\n1,2\n", NULL, -1, SG_ERR_ARG, "column index -1 out of range"},
};
enum { N_BAD = sizeof BAD / sizeof BAD[0] };

START_TEST(bad_files) {
    const bad_csv *b = &BAD[_i];
    char *dir = tu_data_tmpdir();
    char *p = tu_data_write(dir, b->name, b->text, strlen(b->text));
    int64_t n = 99;
    ck_assert_ptr_null(sg_csv_column(p, b->col, b->col_index, &n));
    tu_assert_error(b->status, b->msg);
    ck_assert_int_eq(n, 0);
    free(p);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

/* Issue 9 defect 6: a NUL byte inside a number ("1\0" "2" read as 1 before), inside quotes, or in
 * the header is an error naming the line and the column. */
START_TEST(nul_byte) {
    static const struct {
        const char *text;
        size_t len;
        const char *msg;
    } cases[] = {
        {"a,b\n7,1\0" "2\n", 10, "nul.csv:2: NUL byte at column 4"},
        {"a,b\n7,\"1\0\"\n", 11, "nul.csv:2: NUL byte at column 5"},
        {"a\0,b\n7,1\n", 9, "nul.csv:1: NUL byte at column 2"},
        {"a,b\n7,1\n\0", 9, "nul.csv:3: NUL byte at column 1"},
    };
    char *dir = tu_data_tmpdir();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *p = tu_data_write(dir, "nul.csv", cases[k].text, cases[k].len);
        int64_t n = 99;
        ck_assert_ptr_null(sg_csv_column(p, "b", 0, &n));
        tu_assert_error(SG_ERR_FORMAT, cases[k].msg);
        ck_assert_int_eq(n, 0);
        free(p);
    }
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

START_TEST(io_errors) {
    char *dir = tu_data_tmpdir();
    char *p = tu_data_path(dir, "missing.csv");
    int64_t n;
    ck_assert_ptr_null(sg_csv_column(p, "a", 0, &n));
    tu_assert_error(SG_ERR_IO, "missing.csv': No such file or directory");
    ck_assert_ptr_null(sg_csv_column(dir, "a", 0, &n));
    tu_assert_error(SG_ERR_IO, "Is a directory");
    ck_assert_ptr_null(sg_csv_column(NULL, "a", 0, &n));
    tu_assert_error(SG_ERR_NULL, "'path' is NULL");
    ck_assert_ptr_null(sg_csv_column(p, "a", 0, NULL));
    tu_assert_error(SG_ERR_NULL, "'n_rows' is NULL");
    free(p);
    tu_data_tmpdir_free(dir);
    tu_teardown();
}
END_TEST

int main(void) {
    Suite *s = suite_create("io_csv");
    TCase *t = tcase_create("csv");
    tcase_add_test(t, synthetic_ok);
    tcase_add_loop_test(t, bad_files, 0, N_BAD);
    tcase_add_test(t, nul_byte);
    tcase_add_test(t, io_errors);
    suite_add_tcase(s, t);
    tcase_add_test(tu_data_tcase(s, "csv_data"), real_airline);
    return tu_run(s);
}
