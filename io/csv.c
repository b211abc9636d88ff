/* CSV column reader (see csv.h): one pass over the file held in memory, a small field splitter
 * with RFC 4180 quoting on a single line, locale-independent number parsing.
 * Deliberately not a general CSV library (no multi-line fields, no type inference). */
#include "csv.h"

#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_impl.h"

static const char *const FN = "sg_csv_column";
#define CSV_BOM "\xEF\xBB\xBF"
enum { CSV_BOM_LEN = 3, CSV_SHOW_MAX = 40 /* field chars quoted in messages */ };

/* A field: [off, off+len) in the scratch buffer (unquoted, trimmed, NUL-terminated). */
typedef struct {
    size_t off, len;
} csv_field;

typedef struct {
    const char *path;
    sg__vec fields;  /* csv_field */
    sg__vec scratch; /* char */
    long line;
} csv_parser;

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static int scratch_put(csv_parser *p, char c) {
    char *d = sg__vec_push(&p->scratch, FN);
    if (!d) return SG_ERR_MEM;
    *d = c;
    return SG_OK;
}

/* Splits line [s, e) into p->fields. */
static int split_line(csv_parser *p, const char *s, const char *e) {
    const char *line_start = s;
    /* fields become C strings, so a NUL inside one ("1\0" "2") would silently cut it short */
    const char *nul = memchr(s, '\0', (size_t)(e - s));
    if (nul)
        return sg_set_error(SG_ERR_FORMAT, "%s: %s:%ld: NUL byte at column %ld (binary or corrupt file)", FN,
                            p->path, p->line, (long)(nul - line_start) + 1);
    p->fields.n = 0;
    p->scratch.n = 0;
    for (;;) {
        while (s < e && is_blank(*s)) s++;
        csv_field f = {p->scratch.n, 0};
        if (s < e && *s == '"') {
            const char *open = s++;
            for (;;) {
                if (s >= e)
                    return sg_set_error(SG_ERR_FORMAT,
                                        "%s: %s:%ld: unterminated quote starting at column %ld", FN,
                                        p->path, p->line, (long)(open - line_start) + 1);
                if (*s == '"') {
                    if (s + 1 < e && s[1] == '"') {
                        if (scratch_put(p, '"')) return SG_ERR_MEM;
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                if (scratch_put(p, *s++)) return SG_ERR_MEM;
            }
            while (s < e && is_blank(*s)) s++;
            if (s < e && *s != ',')
                return sg_set_error(SG_ERR_FORMAT, "%s: %s:%ld: unexpected '%c' after a closing quote", FN,
                                    p->path, p->line, *s);
        } else {
            const char *b = s;
            while (s < e && *s != ',') s++;
            const char *t = s;
            while (t > b && is_blank(t[-1])) t--;
            for (const char *q = b; q < t; q++)
                if (scratch_put(p, *q)) return SG_ERR_MEM;
        }
        f.len = p->scratch.n - f.off;
        if (scratch_put(p, '\0')) return SG_ERR_MEM;
        csv_field *slot = sg__vec_push(&p->fields, FN);
        if (!slot) return SG_ERR_MEM;
        *slot = f;
        if (s >= e) return SG_OK;
        s++; /* the ',' */
    }
}

static const char *field_str(const csv_parser *p, size_t i) {
    const csv_field *f = (const csv_field *)p->fields.data + i;
    return (const char *)p->scratch.data + f->off;
}

/* Header as "a, b, c" for messages. */
static void header_list(const csv_parser *p, char *buf, size_t n) {
    buf[0] = '\0';
    for (size_t i = 0; i < p->fields.n; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s\"%s\"", i ? ", " : "", field_str(p, i));
    }
}

double *sg_csv_column(const char *path, const char *col_name, int col_index, int64_t *n_rows) {
    if (!sg__data_nonnull(n_rows, FN, "n_rows")) return NULL;
    *n_rows = 0;
    if (!sg__data_nonnull(path, FN, "path")) return NULL;
    char *text;
    size_t len;
    if (sg__read_file(FN, path, &text, &len) != SG_OK) return NULL;

    csv_parser p = {.path = path};
    sg__vec_init(&p.fields, sizeof(csv_field));
    sg__vec_init(&p.scratch, 1);
    sg__vec values;
    sg__vec_init(&values, sizeof(double));
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    bool ok = false, have_header = false;
    size_t n_fields = 0, col = 0;
    enum { HEADER_LIST = 256 };
    char hlist[HEADER_LIST], colname[CSV_SHOW_MAX + 1];
    if (!c_locale) {
        sg_set_error(SG_ERR_MEM, "%s: cannot create the C locale", FN);
        goto done;
    }

    const char *s = text, *end = text + len;
    if (len >= CSV_BOM_LEN && memcmp(s, CSV_BOM, CSV_BOM_LEN) == 0) s += CSV_BOM_LEN;
    for (p.line = 1; s < end; p.line++) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        const char *next = e ? e + 1 : end;
        if (!e) e = end;
        if (e > s && e[-1] == '\r') e--;
        const char *q = s;
        while (q < e && is_blank(*q)) q++;
        if (q == e) { /* blank line */
            s = next;
            continue;
        }
        if (split_line(&p, s, e) != SG_OK) goto done;
        s = next;
        if (!have_header) {
            have_header = true;
            n_fields = p.fields.n;
            header_list(&p, hlist, sizeof hlist);
            if (col_name) {
                for (col = 0; col < n_fields && strcmp(field_str(&p, col), col_name) != 0; col++) {}
                if (col == n_fields) {
                    sg_set_error(SG_ERR_ARG, "%s: '%s' has no column named \"%s\" (header: %s)", FN, path,
                                 col_name, hlist);
                    goto done;
                }
            } else if (col_index < 0 || (size_t)col_index >= n_fields) {
                sg_set_error(SG_ERR_ARG,
                             "%s: column index %d out of range: '%s' has %zu columns (header: %s)", FN,
                             col_index, path, n_fields, hlist);
                goto done;
            } else {
                col = (size_t)col_index;
            }
            snprintf(colname, sizeof colname, "%s", field_str(&p, col));
            continue;
        }
        if (p.fields.n != n_fields) {
            sg_set_error(SG_ERR_FORMAT, "%s: %s:%ld: expected %zu fields as in the header, found %zu", FN,
                         path, p.line, n_fields, p.fields.n);
            goto done;
        }
        const char *f = field_str(&p, col);
        char *stop = NULL;
        double v = strtod_l(f, &stop, c_locale);
        bool parsed = stop != f;
        while (is_blank(*stop)) stop++; /* blanks kept inside quotes: " 7 " */
        if (!parsed || *stop != '\0' || !isfinite(v)) {
            sg_set_error(SG_ERR_FORMAT, "%s: %s:%ld: field %zu (\"%s\"): '%.*s' is not a finite number", FN,
                         path, p.line, col + 1, colname, CSV_SHOW_MAX, f);
            goto done;
        }
        double *slot = sg__vec_push(&values, FN);
        if (!slot) goto done;
        *slot = v;
    }
    if (!have_header) {
        sg_set_error(SG_ERR_FORMAT, "%s: '%s': empty file (no header row)", FN, path);
        goto done;
    }
    ok = true;
done:
    if (c_locale) freelocale(c_locale);
    free(text);
    sg__vec_free(&p.fields);
    sg__vec_free(&p.scratch);
    if (!ok) {
        sg__vec_free(&values);
        return NULL;
    }
    double *out = values.data ? values.data : malloc(sizeof(double));
    if (!out) sg_set_error(SG_ERR_MEM, "%s: out of memory", FN);
    else *n_rows = (int64_t)values.n;
    return out;
}

void sg_csv_free(double *values) { free(values); }
