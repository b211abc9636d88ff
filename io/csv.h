/** @file
 * One numeric column of a CSV file with a header row, as a double array: the loader for univariate
 * time series such as airline-passengers.csv ("Month","Passengers"). Not a general CSV library:
 * no multi-line quoted fields, no type inference, one column per call.
 *
 * Format accepted:
 *   - lines end in "\n" or "\r\n"; an optional UTF-8 byte-order mark starts the file;
 *   - the first non-blank line is the header; blank lines (only spaces/tabs) are skipped anywhere;
 *   - fields are separated by ','; spaces and tabs around a field are trimmed; a field may be
 *     quoted "..." with "" standing for one quote (the quotes are removed);
 *   - every data line has as many fields as the header;
 *   - the selected field is a finite number as read by strtod in the C locale (whatever the
 *     program's locale), e.g. "112", "-3.5e2", " 7 " (blanks around it ignored, also inside
 *     quotes); empty, "nan", "inf", out-of-range values or trailing junk are errors.
 *   Other columns are not looked at beyond counting fields.
 *
 * Errors: NULL with a message in sg_last_error():
 *   SG_ERR_NULL   path or n_rows is NULL;
 *   SG_ERR_ARG    no header column named col_name / col_index out of range (message lists the header);
 *   SG_ERR_IO     the file cannot be opened or read ("cannot open 'path': <strerror>");
 *   SG_ERR_FORMAT empty file, wrong field count, unterminated quote or a bad number, reported as
 *                 "path:LINE: ..." with the 1-based physical line and the offending field text;
 *   SG_ERR_MEM    allocation failed. */
#ifndef SG_CSV_H
#define SG_CSV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The column named col_name (exact, case-sensitive match against the unquoted header field) or,
 * when col_name is NULL, the col_index-th column (0-based). Returns a malloc'd array of *n_rows
 * values in file order (non-NULL even for 0 rows); the caller frees it with sg_csv_free().
 * On failure returns NULL and sets *n_rows to 0. */
double *sg_csv_column(const char *path, const char *col_name, int col_index, int64_t *n_rows);
/** Frees an array from sg_csv_column() (NULL is a no-op). */
void sg_csv_free(double *values);

#ifdef __cplusplus
}
#endif

#endif
