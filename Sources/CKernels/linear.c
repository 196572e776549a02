// Dense layers y = x·Wᵀ + b on weights packed once, at load, into panels of 32 output columns.
//
// Why our own product and not OpenBLAS's: OpenBLAS packs the weight again on every call (7–10% of
// a 128-token pass), and its fastest kernels on AVX2 round a row differently depending on which
// rows share its tile. Here every output element is one chain of fused multiply-adds over k in
// order, from 0, then + bias: a row's bits do not depend on the other rows, on how the columns are
// split between threads, or on whether the AVX-512 or the AVX2 kernel ran (both fuse the same
// products in the same order). The portable kernel (CPUs without FMA) multiplies and adds apart.
//
// Packed layout: panel p holds output columns [32p, 32p + 32) as [in][32]; columns past `out`
// hold zeros. A K block's partial sums are stored in y and read back exactly, so blocking k for
// the caches does not change a bit.

#include <string.h>

#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define ATTN_X86 1
#endif

#define PANEL 32
#define K_BLOCK 768   // a panel's block of k, 96 KB, stays in L2 while every row tile passes over it

long attn_linear_packed_count(long out, long in) { return (out + PANEL - 1) / PANEL * in * PANEL; }

void attn_linear_pack_rows(const float *weight, long count, long in, long first, float *packed) {
    long column = first, row = 0;
    while (row < count) {
        long panel = column / PANEL, offset = column % PANEL;
        long take = PANEL - offset < count - row ? PANEL - offset : count - row;
        float *destination = packed + panel * in * PANEL + offset;
        for (long k = 0; k < in; k++)
            for (long j = 0; j < take; j++) destination[k * PANEL + j] = weight[(row + j) * in + k];
        row += take;
        column += take;
    }
}

void attn_linear_pack_columns(const float *kernel, long in, long count, long ld, long first, float *packed) {
    for (long k = 0; k < in; k++)
        for (long c = 0; c < count; c++) {
            long column = first + c;
            packed[(column / PANEL) * in * PANEL + k * PANEL + column % PANEL] = kernel[k * ld + c];
        }
}

void attn_linear_clear_padding(float *packed, long out, long in) {
    long used = out % PANEL;
    if (used == 0) return;
    float *last = packed + (out / PANEL) * in * PANEL;
    for (long k = 0; k < in; k++) memset(last + k * PANEL + used, 0, sizeof(float) * (PANEL - used));
}

void attn_linear_unpack(const float *packed, long out, long in, float *weight) {
    for (long o = 0; o < out; o++)
        for (long k = 0; k < in; k++) weight[o * in + k] = packed[(o / PANEL) * in * PANEL + k * PANEL + o % PANEL];
}

// A tile kernel: rows [0, MR) of `a` (row stride lda) times the panel block `b` ([kc][32]) into
// `c` (row stride ldc): c = (first ? 0 : c) + Σ a·b, then + bias when `bias` is given (last block).
typedef void (*tile_kernel)(const float *a, long lda, const float *b, long kc, float *c, long ldc, int first,
                            const float *bias);

#if ATTN_X86
#define AVX512 __attribute__((target("avx512f,fma")))
#define AVX2 __attribute__((target("avx2,fma")))

// AVX-512: MR rows × 32 columns, 2·MR accumulators (16 at MR = 8), the widest tile whose
// accumulators, panel row and broadcast fit the 32 registers with room to spare.
#define TILE_AVX512(MR)                                                                                    \
    AVX512 static void tile_avx512_##MR(const float *a, long lda, const float *b, long kc, float *c,        \
                                        long ldc, int first, const float *bias) {                          \
        __m512 acc[MR][2];                                                                                 \
        for (int i = 0; i < MR; i++)                                                                       \
            for (int j = 0; j < 2; j++) acc[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16 * j); \
        for (long k = 0; k < kc; k++) {                                                                    \
            __m512 b0 = _mm512_loadu_ps(b + k * PANEL), b1 = _mm512_loadu_ps(b + k * PANEL + 16);          \
            for (int i = 0; i < MR; i++) {                                                                 \
                __m512 x = _mm512_set1_ps(a[i * lda + k]);                                                 \
                acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);                                             \
                acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);                                             \
            }                                                                                              \
        }                                                                                                  \
        for (int i = 0; i < MR; i++)                                                                       \
            for (int j = 0; j < 2; j++) {                                                                  \
                __m512 v = bias ? _mm512_add_ps(acc[i][j], _mm512_loadu_ps(bias + 16 * j)) : acc[i][j];    \
                _mm512_storeu_ps(c + i * ldc + 16 * j, v);                                                 \
            }                                                                                              \
    }
TILE_AVX512(1) TILE_AVX512(2) TILE_AVX512(3) TILE_AVX512(4) TILE_AVX512(5) TILE_AVX512(6) TILE_AVX512(7) TILE_AVX512(8)
static const tile_kernel tiles_avx512[9] = {0, tile_avx512_1, tile_avx512_2, tile_avx512_3, tile_avx512_4,
                                            tile_avx512_5, tile_avx512_6, tile_avx512_7, tile_avx512_8};

// AVX2: MR rows × 16 columns (half a panel) at a time, 12 accumulators at MR = 6 (16 registers).
#define TILE_AVX2(MR)                                                                                      \
    AVX2 static void half_avx2_##MR(const float *a, long lda, const float *b, long kc, float *c, long ldc,  \
                                    int first, const float *bias) {                                        \
        __m256 acc[MR][2];                                                                                 \
        for (int i = 0; i < MR; i++)                                                                       \
            for (int j = 0; j < 2; j++) acc[i][j] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + i * ldc + 8 * j); \
        for (long k = 0; k < kc; k++) {                                                                    \
            __m256 b0 = _mm256_loadu_ps(b + k * PANEL), b1 = _mm256_loadu_ps(b + k * PANEL + 8);           \
            for (int i = 0; i < MR; i++) {                                                                 \
                __m256 x = _mm256_broadcast_ss(a + i * lda + k);                                           \
                acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);                                             \
                acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);                                             \
            }                                                                                              \
        }                                                                                                  \
        for (int i = 0; i < MR; i++)                                                                       \
            for (int j = 0; j < 2; j++) {                                                                  \
                __m256 v = bias ? _mm256_add_ps(acc[i][j], _mm256_loadu_ps(bias + 8 * j)) : acc[i][j];     \
                _mm256_storeu_ps(c + i * ldc + 8 * j, v);                                                  \
            }                                                                                              \
    }                                                                                                      \
    static void tile_avx2_##MR(const float *a, long lda, const float *b, long kc, float *c, long ldc,       \
                               int first, const float *bias) {                                             \
        half_avx2_##MR(a, lda, b, kc, c, ldc, first, bias);                                                \
        half_avx2_##MR(a, lda, b + 16, kc, c + 16, ldc, first, bias ? bias + 16 : 0);                      \
    }
TILE_AVX2(1) TILE_AVX2(2) TILE_AVX2(3) TILE_AVX2(4) TILE_AVX2(5) TILE_AVX2(6)
static const tile_kernel tiles_avx2[7] = {0, tile_avx2_1, tile_avx2_2, tile_avx2_3, tile_avx2_4, tile_avx2_5,
                                          tile_avx2_6};
#endif

// Portable: one row × 32 columns, multiplied and added apart (no FMA to rely on).
static void tile_portable_1(const float *a, long lda, const float *b, long kc, float *c, long ldc, int first,
                            const float *bias) {
#pragma clang fp contract(off)
    (void)lda;
    (void)ldc;
    float acc[PANEL];
    for (int j = 0; j < PANEL; j++) acc[j] = first ? 0 : c[j];
    for (long k = 0; k < kc; k++) {
        float x = a[k];
        for (int j = 0; j < PANEL; j++) acc[j] += x * b[k * PANEL + j];
    }
    for (int j = 0; j < PANEL; j++) c[j] = bias ? acc[j] + bias[j] : acc[j];
}
static const tile_kernel tiles_portable[2] = {0, tile_portable_1};

static int best_level = -1;

int attn_linear_best_level(void) {
    if (best_level < 0) {
#if ATTN_X86
        __builtin_cpu_init();
        best_level = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma") ? 2
                     : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")  ? 1
                                                                                        : 0;
#else
        best_level = 0;
#endif
    }
    return best_level;
}

// Columns [column + from, column + to) of y from one panel's weights ([in][32]).
static void panel_product(const tile_kernel *tiles, long tile_rows, const float *x, long rows, long in,
                          const float *panel_weights, long column, long from, long to, const float *bias, float *y,
                          long ldy) {
    float scratch[8 * PANEL], padded_bias[PANEL];
    const int whole = from == 0 && to == PANEL;
    const float *panel_bias = bias ? bias + column : 0;
    if (bias && !whole) {   // never read the bias past `out`
        memset(padded_bias, 0, sizeof padded_bias);
        memcpy(padded_bias + from, bias + column + from, sizeof(float) * (to - from));
        panel_bias = padded_bias;
    }
    for (long k0 = 0; k0 < in; k0 += K_BLOCK) {
        const long kc = in - k0 < K_BLOCK ? in - k0 : K_BLOCK;
        const int first = k0 == 0, last = k0 + kc == in;
        const float *b = panel_weights + k0 * PANEL;
        for (long r = 0; r < rows; r += tile_rows) {
            const long mr = rows - r < tile_rows ? rows - r : tile_rows;
            const float *a = x + r * in + k0;
            float *c = y + r * ldy + column;
            if (whole) {
                tiles[mr](a, in, b, kc, c, ldy, first, last ? panel_bias : 0);
            } else {   // part of a panel (the last, narrower one): through a full-width scratch tile
                const size_t bytes = sizeof(float) * (to - from);
                for (long i = 0; i < mr; i++)
                    if (!first) memcpy(scratch + i * PANEL + from, c + i * ldy + from, bytes);
                tiles[mr](a, in, b, kc, scratch, PANEL, first, last ? panel_bias : 0);
                for (long i = 0; i < mr; i++) memcpy(c + i * ldy + from, scratch + i * PANEL + from, bytes);
            }
        }
    }
}

// Every panel that [column_begin, column_end) touches, from `packed` or else from `weight` ([out, in]).
static void product(int level, const float *x, long rows, long in, long out, const float *bias, long column_begin,
                    long column_end, float *y, long ldy, const float *packed, const float *weight, float *scratch) {
#if ATTN_X86
    const tile_kernel *tiles = level >= 2 ? tiles_avx512 : level == 1 ? tiles_avx2 : tiles_portable;
    const long tile_rows = level >= 2 ? 8 : level == 1 ? 6 : 1;
#else
    (void)level;
    const tile_kernel *tiles = tiles_portable;
    const long tile_rows = 1;
#endif
    if (column_end > out) column_end = out;
    if (in == 0) {   // no inputs: the bias alone
        for (long r = 0; r < rows; r++)
            for (long c = column_begin; c < column_end; c++) y[r * ldy + c] = bias ? bias[c] : 0;
        return;
    }
    for (long panel = column_begin / PANEL; panel * PANEL < column_end; panel++) {
        const long column = panel * PANEL;   // the panel's first column; [from, to) of it are written
        const long from = column_begin > column ? column_begin - column : 0;
        const long to = column_end - column < PANEL ? column_end - column : PANEL;
        const float *panel_weights = packed + panel * in * PANEL;
        if (!packed) {   // an unpacked weight: this panel's rows packed into the scratch first
            const long count = out - column < PANEL ? out - column : PANEL;
            attn_linear_clear_padding(scratch, count, in);
            attn_linear_pack_rows(weight + column * in, count, in, 0, scratch);
            panel_weights = scratch;
        }
        panel_product(tiles, tile_rows, x, rows, in, panel_weights, column, from, to, bias, y, ldy);
    }
}

void attn_linear_at_level(int level, const float *x, long rows, long in, const float *packed, long out,
                          const float *bias, long column_begin, long column_end, float *y, long ldy) {
    product(level, x, rows, in, out, bias, column_begin, column_end, y, ldy, packed, 0, 0);
}

void attn_linear_unpacked(const float *x, long rows, long in, const float *weight, long out, const float *bias,
                          long column_begin, long column_end, float *y, long ldy, float *scratch) {
    product(attn_linear_best_level(), x, rows, in, out, bias, column_begin, column_end, y, ldy, 0, weight, scratch);
}

void attn_linear(const float *x, long rows, long in, const float *packed, long out, const float *bias,
                 long column_begin, long column_end, float *y, long ldy) {
    attn_linear_at_level(attn_linear_best_level(), x, rows, in, packed, out, bias, column_begin, column_end, y, ldy);
}
