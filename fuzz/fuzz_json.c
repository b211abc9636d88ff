/* libFuzzer harness: the JSON parser of safetensors headers (io/json.c) on arbitrary bytes.
 * Checks: no crash, leak or hang; a parsed tree is walkable and its strings are valid UTF-8 of
 * the stated length; the UTF-8 validator agrees with itself on the raw input. */
#include "io/json_impl.h"
#include "fuzz_util.h"

static void walk(const sg_json *v, int depth) {
    FUZZ_CHECK(depth <= SG_JSON_MAX_DEPTH + 1, "depth %d", depth);
    FUZZ_CHECK(v->type >= 0 && v->type < SG_JSON_TYPE_COUNT, "type %d", (int)v->type);
    (void)sg__json_type_name(v->type);
    if (v->type == SG_JSON_STRING) {
        FUZZ_CHECK(strlen(v->str) == v->len, "string length %zu vs %zu", strlen(v->str), v->len);
        FUZZ_CHECK(sg__json_utf8_valid(v->str, v->len), "invalid UTF-8 in a parsed string");
    }
    if (v->type == SG_JSON_ARRAY || v->type == SG_JSON_OBJECT)
        for (int i = 0; i < v->n; i++) {
            if (v->type == SG_JSON_OBJECT) {
                FUZZ_CHECK(sg__json_utf8_valid(v->keys[i], strlen(v->keys[i])), "invalid UTF-8 key");
                FUZZ_CHECK(sg__json_get(v, v->keys[i]) == &v->items[i], "key %d not found by name", i);
            }
            walk(&v->items[i], depth + 1);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sg_json_error err;
    sg_json *root = sg__json_parse((const char *)data, size, &err);
    if (root) {
        walk(root, 0);
        sg__json_free(root);
    } else {
        FUZZ_CHECK(err.pos <= size, "error position %zu beyond %zu", err.pos, size);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "unterminated message");
    }
    (void)sg__json_utf8_valid((const char *)data, size);
    fuzz_done();
    return 0;
}
