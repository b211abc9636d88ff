/* Internal: a string written with stdio into a growing buffer (open_memstream), then handed to the
 * caller either copied into their fixed buffer (the snprintf convention) or written to a FILE.
 * Serves the printing entry points that build a whole text before giving it out (tensor/print.c,
 * nn/summary.c). The buffer belongs to the sg__strbuf from open until give/write/drop frees it;
 * libc allocates it, so the allocation-failure hook of tensor/alloc.h does not see it. */
#ifndef SG_STRBUF_H
#define SG_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;   /* write the text here between open and finish */
    char *s;   /* the text after finish (NUL-terminated) */
    size_t len;
} sg__strbuf;

/* Opens an empty text; SG_ERR_MEM naming fn on failure. */
int sg__strbuf_open(sg__strbuf *b, const char *fn);
/* Ends writing. On a write error the text is dropped and SG_ERR_MEM naming fn is returned. */
int sg__strbuf_finish(sg__strbuf *b, const char *fn);
/* Frees the text (after a failure between open and finish, too). */
void sg__strbuf_drop(sg__strbuf *b);
/* Copies at most n-1 bytes and a NUL into buf (nothing if n is 0), frees the text and returns its
 * full length, as snprintf does; SG_ERR_ARG naming fn if that length does not fit an int. */
int sg__strbuf_give(sg__strbuf *b, char *buf, size_t n, const char *fn);
/* Writes the text (and a newline if asked) to f, frees it and returns the bytes written;
 * SG_ERR_IO naming fn if the write fails. */
int sg__strbuf_write(sg__strbuf *b, FILE *f, bool newline, const char *fn);

#endif
