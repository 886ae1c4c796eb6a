/* Fused per-element dropout for CPU tensors: draw, compare and apply in one pass; backward in one more.
 *
 * Built on first use by snnlab/dropout/kernels.py (cc -O3 -fopenmp; loaded after torch, so its OpenMP
 * calls run on torch's own thread pool) and checked bit for bit against the plain-PyTorch twin there.
 *
 * Random numbers: element i reads 16-bit lane (i % 4) of splitmix64(seed + (i / 4 + 1) * GAMMA), the
 * SplitMix64 finaliser on a counter, so a mask depends only on the seed and the element index (not on
 * the thread count). Element i is kept when its lane >= thr (drop probability thr / 65536).
 *   forward:  out[i] = ((x[i] + shift) * a) * keep[i] + bias,  mask[i] = keep[i]
 *   backward: gin[i] = (grad[i] * a) * mask[i]
 * Floating-point contraction is off (-ffp-contract=off) so the arithmetic matches PyTorch's op by op.
 */
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define GAMMA 0x9E3779B97F4A7C15ULL
#define MIX1 0xBF58476D1CE4E5B9ULL
#define MIX2 0x94D049BB133111EBULL
#define CHUNK 8192 /* elements per work item; a multiple of 4 so that no draw straddles two items */

static inline uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * MIX1;
  z = (z ^ (z >> 27)) * MIX2;
  return z ^ (z >> 31);
}

/* The draws of one chunk: words w0+1 .. w0+words, four 16-bit lanes each, widened to int32. */
static void fill_lanes(int32_t* lanes, uint64_t w0, int64_t words, uint64_t seed) {
  for (int64_t j = 0; j < words; ++j) {
    uint64_t z = splitmix64(seed + (w0 + (uint64_t)j + 1) * GAMMA);
    lanes[4 * j] = (int32_t)(z & 0xFFFF);
    lanes[4 * j + 1] = (int32_t)((z >> 16) & 0xFFFF);
    lanes[4 * j + 2] = (int32_t)((z >> 32) & 0xFFFF);
    lanes[4 * j + 3] = (int32_t)(z >> 48);
  }
}

/* The forward's float loop over one chunk: out[j] = ((x[j] + shift) * a) * keep[j] + bias.
 * On x86 the results go out with streaming (non-temporal) stores: the output is a fresh buffer of
 * megabytes that will not stay in cache anyway, and ordinary stores would first read every line of it. */
static void affine_f32(const float* x, const int32_t* lanes, int32_t t, float a, float shift, float bias, float* out,
                       int64_t m) {
  int64_t j = 0;
#if defined(__SSE2__)
  if (((uintptr_t)out & 15) == 0) {
    const __m128 va = _mm_set1_ps(a), vs = _mm_set1_ps(shift), vb = _mm_set1_ps(bias), one = _mm_set1_ps(1.0f);
    const __m128i vt = _mm_set1_epi32(t - 1);
    for (; j + 4 <= m; j += 4) {
      __m128i l = _mm_loadu_si128((const __m128i*)(lanes + j));
      __m128 k = _mm_and_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(l, vt)), one);
      __m128 v = _mm_mul_ps(_mm_add_ps(_mm_loadu_ps(x + j), vs), va);
      _mm_stream_ps(out + j, _mm_add_ps(_mm_mul_ps(v, k), vb));
    }
  }
#endif
  for (; j < m; ++j) {
    float k = (float)(lanes[j] >= t);
    out[j] = ((x[j] + shift) * a) * k + bias;
  }
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

static void affine_f64(const double* x, const int32_t* lanes, int32_t t, double a, double shift, double bias,
                       double* out, int64_t m) {
  for (int64_t j = 0; j < m; ++j) {
    double k = (double)(lanes[j] >= t);
    out[j] = ((x[j] + shift) * a) * k + bias;
  }
}

/* Lanes are widened to int32 in a per-chunk buffer (in L1) so that the compare and the float loop
 * have one element width and vectorise without branches. The 0/1 factor goes through a local
 * variable on purpose: written inline as `x * (T)(cond)`, GCC 12 turns the product into a branch,
 * which mispredicts about min(p, 1-p) of the time and made the kernel three times slower. */
#define DEFINE_KERNELS(SUFFIX, T)                                                                  \
  void keep_affine_forward_##SUFFIX(const T* x, T* out, uint8_t* mask, int64_t n, uint64_t seed,   \
                                    uint32_t thr, T a, T shift, T bias) {                          \
    const int32_t t = (int32_t)thr;                                                                \
    int64_t chunks = (n + CHUNK - 1) / CHUNK;                                                      \
    _Pragma("omp parallel for schedule(static)") for (int64_t c = 0; c < chunks; ++c) {            \
      int32_t lanes[CHUNK];                                                                        \
      int64_t i0 = c * CHUNK;                                                                      \
      int64_t m = n - i0 < CHUNK ? n - i0 : CHUNK;                                                 \
      fill_lanes(lanes, (uint64_t)(i0 / 4), (m + 3) / 4, seed);                                   \
      uint8_t* ms = mask + i0;                                                                     \
      for (int64_t j = 0; j < m; ++j) ms[j] = (uint8_t)(lanes[j] >= t);                            \
      const T* xs = x + i0;                                                                        \
      T* os = out + i0;                                                                            \
      affine_##SUFFIX(xs, lanes, t, a, shift, bias, os, m);                                        \
    }                                                                                              \
  }                                                                                                \
  void keep_affine_backward_##SUFFIX(const T* grad, const uint8_t* mask, T a, T* out, int64_t n) { \
    _Pragma("omp parallel for schedule(static)") for (int64_t i = 0; i < n; ++i) {                 \
      T k = (T)mask[i];                                                                            \
      out[i] = (grad[i] * a) * k;                                                                  \
    }                                                                                              \
  }

DEFINE_KERNELS(f32, float)
DEFINE_KERNELS(f64, double)
