// The forward pass's element-wise kernels: a portable version the compiler vectorises, and an
// AVX2 + FMA version of the same arithmetic, chosen once at run time.
#include "CKernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define ATTN_X86 1
#endif

// Cephes' e^x: range reduction by ln 2, a degree-5 polynomial, and 2^n from the exponent bits.
static const float EXP_LOW = -87.3f, EXP_HIGH = 88.7f, LOG2E = 1.44269504f, MAGIC = 12582912.0f;
static const float LN2_HIGH = 0.693359375f, LN2_LOW = -2.12194440e-4f;
static const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
                   P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

static inline float exp_scalar(float input) {
    float x = input < EXP_LOW ? EXP_LOW : (input > EXP_HIGH ? EXP_HIGH : input);
    float shifted = x * LOG2E + MAGIC;
    float n = shifted - MAGIC;
    float r = x - n * LN2_HIGH - n * LN2_LOW;
    float poly = P0;
    poly = poly * r + P1; poly = poly * r + P2; poly = poly * r + P3; poly = poly * r + P4; poly = poly * r + P5;
    float e = poly * r * r + r + 1.0f;
    union { float f; int i; } bits = { shifted }, magic = { MAGIC }, scale;
    scale.i = (bits.i - magic.i + 127) << 23;
    return input <= EXP_LOW ? 0.0f : e * scale.f;
}

// erf by a rational approximation on [-4, 4] (Eigen's fast float erf coefficients).
static inline float erf_scalar(float value) {
    float x = value < -4.0f ? -4.0f : (value > 4.0f ? 4.0f : value);
    float x2 = x * x;
    float a = -2.72614225801306e-10f;
    a = a * x2 + 2.77068142495902e-08f; a = a * x2 - 2.10102402082508e-06f; a = a * x2 - 5.69250639462346e-05f;
    a = a * x2 - 7.34990630326855e-04f; a = a * x2 - 2.95459980854025e-03f; a = a * x2 - 1.60960333262415e-02f;
    float b = -1.45660718464996e-05f;
    b = b * x2 - 2.13374055278905e-04f; b = b * x2 - 1.68282697438203e-03f; b = b * x2 - 7.37332916720468e-03f;
    b = b * x2 - 1.42647390514189e-02f;
    return x * a / b;
}

float attn_erf(float x) { return erf_scalar(x); }

static void softmax_portable(float *values, long rows, long cols) {
    for (long r = 0; r < rows; r++) {
        float *row = values + r * cols;
        float maximum = -INFINITY;
        for (long j = 0; j < cols; j++) maximum = row[j] > maximum ? row[j] : maximum;
        if (maximum == -INFINITY) maximum = 0;
        float sums[8] = {0};
        for (long j = 0; j < cols; j++) { row[j] = exp_scalar(row[j] - maximum); sums[j & 7] += row[j]; }
        float total = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
        float scale = 1.0f / total;
        for (long j = 0; j < cols; j++) row[j] *= scale;
    }
}

static void gelu_erf_portable(float *values, long count) {
    for (long i = 0; i < count; i++) values[i] = 0.5f * values[i] * (1.0f + erf_scalar(values[i] * 0.70710678118654752f));
}

static inline float tanh_scalar(float y) {
    float t = 2.0f * y;
    t = t < -87.0f ? -87.0f : (t > 87.0f ? 87.0f : t);
    return 1.0f - 2.0f / (exp_scalar(t) + 1.0f);
}

static void gelu_tanh_portable(float *values, long count) {
    for (long i = 0; i < count; i++) {
        float x = values[i];
        values[i] = 0.5f * x * (1.0f + tanh_scalar(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    }
}

static void exp_portable(float *values, long count) {
    for (long i = 0; i < count; i++) values[i] = exp_scalar(values[i]);
}

// log2 of a positive normal double: the exponent, plus 2·atanh(s)/ln 2 with s = (m − 1)/(m + 1)
// for the mantissa m in [√½, √2), a series in s² up to s¹⁷ (|s| ≤ 0.172: relative error < 1e-15).
// Only multiplications and additions, never fused, so that the AVX2 version gives the same bits.
static const double LOG2_SERIES[9] = {1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11, 1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3, 1.0};
static const double SQRT2 = 1.4142135623730951, TWO_OVER_LN2 = 2.8853900817779268;
static const double EXPONENT_MAGIC = 4503599627370496.0 + 1023.0;   // 2^52 + the exponent bias

static inline double log2_series(double x) {
#pragma clang fp contract(off)
    uint64_t bits, shifted_bits, mantissa_bits;
    memcpy(&bits, &x, sizeof bits);
    shifted_bits = ((bits >> 52) & 0x7ff) | 0x4330000000000000ULL;   // 2^52 + the biased exponent
    mantissa_bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double shifted, m;
    memcpy(&shifted, &shifted_bits, sizeof shifted);
    memcpy(&m, &mantissa_bits, sizeof m);
    double e = shifted - EXPONENT_MAGIC;
    if (m > SQRT2) { m = m * 0.5; e = e + 1.0; }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double poly = LOG2_SERIES[0];
    for (int i = 1; i < 9; i++) poly = poly * s2 + LOG2_SERIES[i];
    return e + (s * poly) * TWO_OVER_LN2;
}

// One outcome's share of the divergence: ½·x·log2(x/m) (0 without mass).
static inline double divergence_term(double x, double m) {
#pragma clang fp contract(off)
    return x > 0 ? (0.5 * x) * log2_series(x / m) : 0.0;
}

// Outcome i is summed into lane i mod 4, the lanes then as (0 + 1) + (2 + 3): the AVX2 order.
static double jensen_shannon_portable(const double *p, const double *q, long count) {
#pragma clang fp contract(off)
    double lanes[4] = {0, 0, 0, 0};
    for (long i = 0; i < count; i++) {
        double m = (p[i] + q[i]) * 0.5;
        lanes[i & 3] = lanes[i & 3] + divergence_term(p[i], m);
        lanes[i & 3] = lanes[i & 3] + divergence_term(q[i], m);
    }
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

#if ATTN_X86
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp8(__m256 input) {
    const __m256 low = _mm256_set1_ps(EXP_LOW), magic = _mm256_set1_ps(MAGIC);
    __m256 x = _mm256_min_ps(_mm256_max_ps(input, low), _mm256_set1_ps(EXP_HIGH));
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(LOG2E), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HIGH), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LOW), r);
    __m256 poly = _mm256_set1_ps(P0);
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(P1)); poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(P2));
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(P3)); poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(P4));
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(P5));
    __m256 e = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(poly, r), r, r), _mm256_set1_ps(1.0f));
    __m256i exponent = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic));
    __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(exponent, _mm256_set1_epi32(127)), 23));
    __m256 result = _mm256_mul_ps(e, scale);
    return _mm256_andnot_ps(_mm256_cmp_ps(input, low, _CMP_LE_OQ), result);
}

AVX2 static inline float horizontal_max(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

AVX2 static inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

AVX2 static void softmax_avx2(float *values, long rows, long cols) {
    for (long r = 0; r < rows; r++) {
        float *row = values + r * cols;
        long j = 0;
        __m256 lanes = _mm256_set1_ps(-INFINITY);
        for (; j + 8 <= cols; j += 8) lanes = _mm256_max_ps(lanes, _mm256_loadu_ps(row + j));
        float maximum = horizontal_max(lanes);
        for (; j < cols; j++) maximum = row[j] > maximum ? row[j] : maximum;
        if (maximum == -INFINITY) maximum = 0;
        const __m256 shift = _mm256_set1_ps(maximum);
        __m256 sums = _mm256_setzero_ps();
        for (j = 0; j + 8 <= cols; j += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), shift));
            _mm256_storeu_ps(row + j, e);
            sums = _mm256_add_ps(sums, e);
        }
        float total = horizontal_sum(sums);
        for (; j < cols; j++) { row[j] = exp_scalar(row[j] - maximum); total += row[j]; }
        const __m256 scale = _mm256_set1_ps(1.0f / total);
        for (j = 0; j + 8 <= cols; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), scale));
        for (; j < cols; j++) row[j] *= 1.0f / total;
    }
}

AVX2 static inline __m256 erf8(__m256 value) {
    __m256 x = _mm256_min_ps(_mm256_max_ps(value, _mm256_set1_ps(-4.0f)), _mm256_set1_ps(4.0f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 a = _mm256_set1_ps(-2.72614225801306e-10f);
    a = _mm256_fmadd_ps(a, x2, _mm256_set1_ps(2.77068142495902e-08f));
    a = _mm256_fmadd_ps(a, x2, _mm256_set1_ps(-2.10102402082508e-06f));
    a = _mm256_fmadd_ps(a, x2, _mm256_set1_ps(-5.69250639462346e-05f));
    a = _mm256_fmadd_ps(a, x2, _mm256_set1_ps(-7.34990630326855e-04f));
    a = _mm256_fmadd_ps(a, x2, _mm256_set1_ps(-2.95459980854025e-03f));
    a = _mm256_fmadd_ps(a, x2, _mm256_set1_ps(-1.60960333262415e-02f));
    __m256 b = _mm256_set1_ps(-1.45660718464996e-05f);
    b = _mm256_fmadd_ps(b, x2, _mm256_set1_ps(-2.13374055278905e-04f));
    b = _mm256_fmadd_ps(b, x2, _mm256_set1_ps(-1.68282697438203e-03f));
    b = _mm256_fmadd_ps(b, x2, _mm256_set1_ps(-7.37332916720468e-03f));
    b = _mm256_fmadd_ps(b, x2, _mm256_set1_ps(-1.42647390514189e-02f));
    return _mm256_div_ps(_mm256_mul_ps(x, a), b);
}

AVX2 static void gelu_erf_avx2(float *values, long count) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), rsqrt2 = _mm256_set1_ps(0.70710678118654752f);
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 x = _mm256_loadu_ps(values + i);
        __m256 phi = _mm256_add_ps(one, erf8(_mm256_mul_ps(x, rsqrt2)));
        _mm256_storeu_ps(values + i, _mm256_mul_ps(_mm256_mul_ps(half, x), phi));
    }
    gelu_erf_portable(values + i, count - i);
}

AVX2 static void exp_avx2(float *values, long count) {
    long i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(values + i, exp8(_mm256_loadu_ps(values + i)));
    exp_portable(values + i, count - i);
}
#endif

#if ATTN_X86
AVX2 static inline __m256d log2_series4(__m256d x) {
#pragma clang fp contract(off)
    const __m256i bits = _mm256_castpd_si256(x);
    __m256d shifted = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(0x7ff)),
                                                          _mm256_set1_epi64x(0x4330000000000000LL)));
    __m256d m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffffLL)),
                                                    _mm256_set1_epi64x(0x3ff0000000000000LL)));
    __m256d e = _mm256_sub_pd(shifted, _mm256_set1_pd(EXPONENT_MAGIC));
    __m256d big = _mm256_cmp_pd(m, _mm256_set1_pd(SQRT2), _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
    e = _mm256_blendv_pd(e, _mm256_add_pd(e, _mm256_set1_pd(1.0)), big);
    const __m256d one = _mm256_set1_pd(1.0);
    __m256d s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one)), s2 = _mm256_mul_pd(s, s);
    __m256d poly = _mm256_set1_pd(LOG2_SERIES[0]);
    for (int i = 1; i < 9; i++) poly = _mm256_add_pd(_mm256_mul_pd(poly, s2), _mm256_set1_pd(LOG2_SERIES[i]));
    return _mm256_add_pd(e, _mm256_mul_pd(_mm256_mul_pd(s, poly), _mm256_set1_pd(TWO_OVER_LN2)));
}

AVX2 static inline __m256d divergence_term4(__m256d x, __m256d m) {
#pragma clang fp contract(off)
    __m256d mass = _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_GT_OQ);
    __m256d ratio = _mm256_blendv_pd(_mm256_set1_pd(1.0), _mm256_div_pd(x, m), mass);
    return _mm256_and_pd(mass, _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(0.5), x), log2_series4(ratio)));
}

AVX2 static double jensen_shannon_avx2(const double *p, const double *q, long count) {
#pragma clang fp contract(off)
    __m256d sums = _mm256_setzero_pd();
    long i = 0;
    for (; i + 4 <= count; i += 4) {
        __m256d x = _mm256_loadu_pd(p + i), y = _mm256_loadu_pd(q + i);
        __m256d m = _mm256_mul_pd(_mm256_add_pd(x, y), _mm256_set1_pd(0.5));
        sums = _mm256_add_pd(sums, divergence_term4(x, m));
        sums = _mm256_add_pd(sums, divergence_term4(y, m));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, sums);
    for (; i < count; i++) {
        double m = (p[i] + q[i]) * 0.5;
        lanes[i & 3] = lanes[i & 3] + divergence_term(p[i], m);
        lanes[i & 3] = lanes[i & 3] + divergence_term(q[i], m);
    }
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}
#endif

static int use_avx2 = -1;

int attn_kernels_use_avx2(void) {
#if ATTN_X86
    if (use_avx2 < 0) use_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return use_avx2;
#else
    return 0;
#endif
}

void attn_softmax_rows(float *values, long rows, long cols) {
#if ATTN_X86
    if (attn_kernels_use_avx2()) { softmax_avx2(values, rows, cols); return; }
#endif
    softmax_portable(values, rows, cols);
}

void attn_gelu_erf(float *values, long count) {
#if ATTN_X86
    if (attn_kernels_use_avx2()) { gelu_erf_avx2(values, count); return; }
#endif
    gelu_erf_portable(values, count);
}

void attn_gelu_tanh(float *values, long count) { gelu_tanh_portable(values, count); }

void attn_exp(float *values, long count) {
#if ATTN_X86
    if (attn_kernels_use_avx2()) { exp_avx2(values, count); return; }
#endif
    exp_portable(values, count);
}

double attn_jensen_shannon(const double *p, const double *q, long count) {
#if ATTN_X86
    if (attn_kernels_use_avx2()) return jensen_shannon_avx2(p, q, count);
#endif
    return jensen_shannon_portable(p, q, count);
}

double attn_jensen_shannon_portable(const double *p, const double *q, long count) { return jensen_shannon_portable(p, q, count); }

void attn_spin_pause(void) {
#if ATTN_X86
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
