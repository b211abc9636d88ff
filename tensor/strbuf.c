/* Internal text buffers for the printing entry points (tensor/strbuf.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "strbuf.h"

int sg__strbuf_open(sg__strbuf *b, const char *fn) {
    *b = (sg__strbuf){0};
    b->f = open_memstream(&b->s, &b->len);
    return b->f ? SG_OK : sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
}

int sg__strbuf_finish(sg__strbuf *b, const char *fn) {
    bool ok = !ferror(b->f);
    ok = fclose(b->f) == 0 && ok;
    b->f = NULL;
    if (ok) return SG_OK;
    sg__strbuf_drop(b);
    return sg_set_error(SG_ERR_MEM, "%s: out of memory", fn);
}

void sg__strbuf_drop(sg__strbuf *b) {
    if (b->f) fclose(b->f);
    free(b->s);
    *b = (sg__strbuf){0};
}

int sg__strbuf_give(sg__strbuf *b, char *buf, size_t n, const char *fn) {
    size_t len = b->len;
    if (n > 0) {
        size_t k = len < n - 1 ? len : n - 1;
        memcpy(buf, b->s, k);
        buf[k] = 0;
    }
    sg__strbuf_drop(b);
    if (len > INT_MAX) return sg_set_error(SG_ERR_ARG, "%s: the text is %zu bytes, more than an int holds", fn, len);
    return (int)len;
}

int sg__strbuf_write(sg__strbuf *b, FILE *f, bool newline, const char *fn) {
    size_t len = b->len;
    bool ok = fwrite(b->s, 1, len, f) == len && (!newline || fputc('\n', f) != EOF);
    sg__strbuf_drop(b);
    if (!ok) return sg_set_error(SG_ERR_IO, "%s: write failed", fn);
    len += newline;
    if (len > INT_MAX) return sg_set_error(SG_ERR_ARG, "%s: the text is %zu bytes, more than an int holds", fn, len);
    return (int)len;
}
