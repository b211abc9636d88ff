/** @file
 * IDX files (the MNIST format): unsigned-byte image stacks and label vectors, gzip-compressed or
 * raw (detected from the content, not the name), and the MNIST directory layout on top of them.
 * Not a general IDX reader: only the unsigned-byte type (0x08) in the MNIST shapes is accepted.
 *
 * Format: 4-byte big-endian magic 0x000008DD (DD = number of dimensions: 3 for images, 1 for
 * labels), DD big-endian uint32 sizes, then the bytes row-major. The file must hold exactly that
 * many bytes: shorter is "truncated", longer is "trailing data".
 *
 * Errors: NULL or a negative sg_status with a message in sg_last_error():
 *   SG_ERR_NULL   a required argument is NULL;
 *   SG_ERR_ARG    a bad option (split name);
 *   SG_ERR_IO     the file cannot be opened or read ("cannot open 'path': <strerror>");
 *   SG_ERR_FORMAT bad magic, zero sizes, truncated or trailing bytes (expected vs found byte
 *                 counts), corrupt gzip data, labels/images count mismatch; always names the file;
 *   SG_ERR_MEM    allocation failed.
 * Nothing is returned on failure (no partial results to free). */
#ifndef SG_IDX_H
#define SG_IDX_H

#include <stdint.h>

#include "../tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SG_IDX_TYPE_UBYTE = 0x08, /**< the only element type accepted */
    SG_IDX_IMAGE_DIMS = 3,    /**< (N, rows, cols) */
    SG_IDX_LABEL_DIMS = 1,    /**< (N) */
    SG_MNIST_CLASSES = 10,
};

/** Images of an idx3-ubyte file -> user-owned float32 tensor (N, rows, cols), each pixel byte / 255
 * (so in [0, 1]). The caller frees it with sg_tensor_free(). rows, cols >= 1; N may be 0. */
sg_tensor *sg_idx_images(const char *path);

/** Labels of an idx1-ubyte file -> malloc'd array of *n int64 values (0..255, not range-checked
 * here). The caller frees it with sg_idx_labels_free(). Returns NULL on failure (*n set to 0). */
int64_t *sg_idx_labels(const char *path, int64_t *n);
/** Frees an array from sg_idx_labels() (NULL is a no-op). */
void sg_idx_labels_free(int64_t *labels);

/** One MNIST split. images: user-owned float32 (n, rows, cols) in [0, 1]; labels: n values in 0..9.
 * Both are owned by the struct: release them together with sg_mnist_free(). */
typedef struct {
    sg_tensor *images; /**< float32 (n, rows, cols), pixel / 255 */
    int64_t *labels;   /**< n labels in 0..9 */
    int64_t n;         /**< number of images */
    int64_t rows;      /**< image height (28 for MNIST) */
    int64_t cols;      /**< image width (28 for MNIST) */
} sg_mnist;

/** Loads split "train" or "t10k" from dir, which holds the standard file names
 * \<split>-images-idx3-ubyte and \<split>-labels-idx1-ubyte, each optionally ending in ".gz"
 * (the raw name is tried first; the "\<split>-images.idx3-ubyte" spelling is accepted too).
 * Checks that images and labels agree in count and that labels are in 0..9. On success fills *out
 * and returns 0; on failure returns a negative status and leaves *out zeroed. */
int sg_mnist_load(const char *dir, const char *split, sg_mnist *out);
/** Frees what sg_mnist_load filled and zeroes *m (a zeroed or NULL m is a no-op). */
void sg_mnist_free(sg_mnist *m);

#ifdef __cplusplus
}
#endif

#endif
