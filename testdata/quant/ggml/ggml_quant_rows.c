// ggml_quant_rows: quantize float32 rows with ggml's own quantizer (ggml_quantize_chunk) and write
// the GGML blocks, and OUT.bin.f32, the blocks decoded by ggml's own dequantizer (to_float).
// Test-vector generator for gemmatool's k-quant / IQ4_NL / weighted Q4_0 encoders and decoders.
//   ggml_quant_rows TYPE ROWS COLS IN.f32 OUT.bin [IMATRIX.f32 (COLS floats)]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml.h"

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: %s TYPE ROWS COLS IN.f32 OUT.bin [IMATRIX.f32]\n", argv[0]); return 2; }
    int type = -1;
    for (int k = 0; k < GGML_TYPE_COUNT; k++) {
        const char *n = ggml_type_name((enum ggml_type)k);
        if (n && !strcmp(n, argv[1])) type = k;
    }
    if (type < 0) { fprintf(stderr, "unknown type %s\n", argv[1]); return 2; }
    long rows = atol(argv[2]), cols = atol(argv[3]);
    float *src = malloc(sizeof(float) * rows * cols), *imat = NULL;
    FILE *f = fopen(argv[4], "rb");
    if (!f || fread(src, sizeof(float), rows * cols, f) != (size_t)(rows * cols)) { fprintf(stderr, "read %s\n", argv[4]); return 1; }
    fclose(f);
    if (argc > 6) {
        imat = malloc(sizeof(float) * cols);
        f = fopen(argv[6], "rb");
        if (!f || fread(imat, sizeof(float), cols, f) != (size_t)cols) { fprintf(stderr, "read %s\n", argv[6]); return 1; }
        fclose(f);
    }
    ggml_quantize_init((enum ggml_type)type);
    size_t rs = ggml_row_size((enum ggml_type)type, cols);
    void *dst = malloc(rs * rows);
    size_t n = ggml_quantize_chunk((enum ggml_type)type, src, dst, 0, rows, cols, imat);
    f = fopen(argv[5], "wb");
    fwrite(dst, 1, n, f);
    fclose(f);
    float *back = malloc(sizeof(float) * rows * cols);
    ggml_get_type_traits((enum ggml_type)type)->to_float(dst, back, rows * cols);
    char name[4096];
    snprintf(name, sizeof name, "%s.f32", argv[5]);
    f = fopen(name, "wb");
    fwrite(back, sizeof(float), rows * cols, f);
    fclose(f);
    return 0;
}
