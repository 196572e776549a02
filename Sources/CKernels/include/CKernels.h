#ifndef ATTNLAB_CKERNELS_H
#define ATTNLAB_CKERNELS_H

// Element-wise and row-wise kernels of the forward pass. Each has an AVX2 + FMA version, chosen at
// run time when the CPU has those instructions, and a portable one; on a given CPU the result is
// always the same.

/// Softmax of each row of a row-major [rows, cols] matrix, in place (maximum subtracted first;
/// inputs at or below -87.3 give exactly 0, as masked scores must).
void attn_softmax_rows(float *values, long rows, long cols);

/// GELU with the exact error function, x·Φ(x), in place.
void attn_gelu_erf(float *values, long count);

/// GELU with the tanh approximation, in place.
void attn_gelu_tanh(float *values, long count);

/// e^x in place (relative error about 1e-7; 0 at or below -87.3).
void attn_exp(float *values, long count);

/// Jensen–Shannon divergence in bits of two distributions over `count` outcomes:
/// Σ ½·p·log2(p/m) + ½·q·log2(q/m), m = (p + q)/2, terms with no mass left out. log2 is a series
/// (relative error below 1e-15) whose AVX2 version does the same operations in the same order,
/// so both give the same bits.
double attn_jensen_shannon(const double *p, const double *q, long count);

/// The portable version of `attn_jensen_shannon`, whichever the CPU (for tests).
double attn_jensen_shannon_portable(const double *p, const double *q, long count);

/// The error function of one value (absolute error below 1e-6).
float attn_erf(float x);

/// 1 when the AVX2 + FMA versions are in use.
int attn_kernels_use_avx2(void);

/// A hint to the CPU that this thread is spinning on a flag (x86 `pause`).
void attn_spin_pause(void);

// Dense layers on packed weights (linear.c): every output element is one chain of fused
// multiply-adds over k in order, then + bias, so a row's bits depend neither on the other rows nor
// on the column split nor on the AVX-512 / AVX2 choice.

/// Floats a packed [out, in] weight takes: panels of 32 output columns, each [in][32].
long attn_linear_packed_count(long out, long in);

/// Packs `count` weight rows ([count, in], PyTorch's layout) as output columns first… of `packed`.
void attn_linear_pack_rows(const float *weight, long count, long in, long first, float *packed);

/// Packs `count` columns of a [in, ·] kernel (row stride `ld`; GPT-2's Conv1D layout) as output
/// columns first… of `packed`.
void attn_linear_pack_columns(const float *kernel, long in, long count, long ld, long first, float *packed);

/// Zeros the columns of the last panel past `out`.
void attn_linear_clear_padding(float *packed, long out, long in);

/// The [out, in] weight back from its packed form.
void attn_linear_unpack(const float *packed, long out, long in, float *weight);

/// y[r, c] = Σ_k x[r, k]·W[c, k] (+ bias[c]) for rows [0, rows) and columns
/// [column_begin, column_end) (whole panels when column_begin is a multiple of 32); y's rows `ldy`
/// apart; no other element of y is written.
void attn_linear(const float *x, long rows, long in, const float *packed, long out, const float *bias,
                 long column_begin, long column_end, float *y, long ldy);

/// The same product from an unpacked weight [out, in] (an embedding matrix a language-model head
/// is tied to), each panel packed into `scratch` (32·in floats) on the way: the same bits as
/// `attn_linear` on the packed weight.
void attn_linear_unpacked(const float *x, long rows, long in, const float *weight, long out, const float *bias,
                          long column_begin, long column_end, float *y, long ldy, float *scratch);

/// The same with a chosen kernel (2: AVX-512, 1: AVX2, 0: portable), for tests; the caller checks
/// that the CPU has it.
void attn_linear_at_level(int level, const float *x, long rows, long in, const float *packed, long out,
                          const float *bias, long column_begin, long column_end, float *y, long ldy);

/// The kernel `attn_linear` uses on this CPU (2, 1 or 0).
int attn_linear_best_level(void);

#endif
