/* Fused multi-step LIF for CPU tensors: the whole recurrence over T in one pass forward, one pass backward.
 *
 * Built on first use by snnlab/neurons/lif_kernels.py (cc -O3 -ffp-contract=off -fno-trapping-math -fopenmp,
 * via snnlab/native.py) and checked against a loop of snnlab.functional.lif_step in
 * tests/test_neurons_lif_kernels.py. Tensors are time-major [T, M] with M the
 * neurons (B * N flattened); the work is split into chunks of neurons (lif_chunk), each run over all T
 * with its state in a small local array (L1), so memory is touched once per step and threads never share
 * a cache line. The thread count is passed in (torch's) and the chunking does not depend on it, so every
 * result, the scalar gradients included, is the same for any thread count.
 *
 *   forward:  h_t = beta * v_{t-1} + x_t;  s_t = (h_t > thr);  v_t = h_t - s_t * thr  (subtract)
 *                                                              v_t = h_t * (1 - s_t)   (zero)
 *   The same operations in the same order as the PyTorch loop (contraction off): bit-identical values.
 *   Forward writes s (the output) and h (the trace, and all that backward needs: s is recomputed from it),
 *   each only when asked, and on request z = sum_t w_t * s_t (a linear readout's time mean needs only that:
 *   then no [T, M] tensor is written at all) and the counts sum_t s_t.
 *
 *   backward, with d_t = surrogate'(h_t - thr), g_v_t = beta * dL/dh_{t+1} (0 at the last step), and g_s_t
 *   read as given or, with a per-step scale a[T], as a_t * g_s_t (the gradient of z above: g_s_t = w_t * dL/dz):
 *     dL/dh_t = g_h_t + g_s_t * d_t + g_v_t * dv_t/dh_t
 *     dv_t/dh_t = 1 - thr * d_t (subtract) | (1 - s_t) - h_t * d_t (zero); without the d term if detach_reset
 *     dL/dbeta  = sum_t dL/dh_{t+1} * v_t
 *     dL/dthr   = sum_t -g_s_t * d_t + g_v_t * dv_t/dthr,
 *     dv_t/dthr = -s_t + thr * d_t (subtract) | h_t * d_t (zero); without the d term if detach_reset
 *   The scalar sums are accumulated per neuron over time (in T), then in double over each chunk and over
 *   the chunks in order. Built with -fno-trapping-math (no change to any value: it only lets GCC turn the
 *   spike's `h > thr ? 1 : 0` into a vector select instead of a branch).
 */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <omp.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Neurons per work item: about M / 64 (work for up to 64 threads), a multiple of 64, at most MAX_CHUNK.
 * Long runs matter: each step of a chunk is a contiguous run in memory, and runs of 4-8 KB stream
 * about twice as fast as runs of 1 KB (measured: 256 -> 2048 neurons took the float32 forward at
 * T=25, M=102400 from 2.8 to 1.8 ms on one core). The chunking depends on M only, not on the thread
 * count, so neither does any result. */
#define MAX_CHUNK 2048
#define SPLIT 64

int64_t lif_chunk(int64_t m) {
  int64_t c = (m + SPLIT - 1) / SPLIT;
  c = (c + 63) / 64 * 64;
  return c < 64 ? 64 : (c > MAX_CHUNK ? MAX_CHUNK : c);
}

/* Threads for a call: at most one per chunk and one per GRAIN elements of work (torch's grain size).
 * Small layers run on the calling thread: waking a second one costs more than they take (and on a
 * busy machine a parallel region can wait milliseconds for a core). Results do not depend on it. */
#define GRAIN 32768

static int threads_for(int64_t chunks, int64_t work, int32_t nthreads) {
  int64_t n = nthreads;
  if (n > chunks) n = chunks;
  if (n > work / GRAIN) n = work / GRAIN;
  return n < 1 ? 1 : (int)n;
}

/* On x86-64 Linux each exported function is also built for AVX2 and picked at load time (GCC's
 * target_clones, an ifunc): twice the vector width on most CPUs of the last decade, with the same
 * values (contraction stays off, and vector operations round as the scalar ones do). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(SNNLAB_NO_CLONES)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* Surrogate kinds and resets, as numbered in lif_kernels.py. */
#define SURR_FAST_SIGMOID 0
#define SURR_ARCTAN 1
#define RESET_SUBTRACT 0
#define RESET_ZERO 1

/* The recurrence over one chunk of n neurons, for one (reset, keep h, write s, weighted sum) variant: the
 * dispatcher below calls it with constant flags, so each variant is its own branch-free loop the compiler
 * vectorises (checked with -fopt-info-vec; without -fno-trapping-math GCC 12 keeps the spike's compare as
 * a branch and vectorises none of them). With sum, z[j] = sum_t w[t] * s_t[j] is accumulated in time order
 * (the readout's time-weighted spike sum: the spikes themselves need not be written at all). */
#define DEFINE_FORWARD_CHUNK(SUFFIX, T)                                                                        \
  static inline __attribute__((always_inline)) void lif_forward_chunk_##SUFFIX(                                \
      const T* x, int64_t sx, T* s, T* h, const T* w, T* z, T* cnt, int64_t steps, int64_t m, int64_t i0,      \
      int64_t n, T beta, T thr, const int zero, const int keep_h, const int write_s, const int sum) {          \
    T v[MAX_CHUNK], acc[MAX_CHUNK], count[MAX_CHUNK];                                                          \
    for (int64_t j = 0; j < n; ++j) {                                                                          \
      v[j] = (T)0;                                                                                             \
      acc[j] = (T)0;                                                                                           \
      count[j] = (T)0;                                                                                         \
    }                                                                                                          \
    for (int64_t t = 0; t < steps; ++t) {                                                                      \
      const T* xt = x + t * sx + i0;                                                                           \
      T* st = write_s ? s + t * m + i0 : NULL;                                                                 \
      T* ht = keep_h ? h + t * m + i0 : NULL;                                                                  \
      const T wt = sum ? w[t] : (T)0;                                                                          \
      for (int64_t j = 0; j < n; ++j) {                                                                        \
        T hv = beta * v[j] + xt[j];                                                                            \
        T sp = hv > thr ? (T)1 : (T)0;                                                                         \
        if (keep_h) ht[j] = hv;                                                                                \
        if (write_s) st[j] = sp;                                                                               \
        if (sum) {                                                                                             \
          acc[j] += wt * sp;                                                                                   \
          count[j] += sp;                                                                                      \
        }                                                                                                      \
        v[j] = zero ? hv * ((T)1 - sp) : hv - sp * thr;                                                        \
      }                                                                                                        \
    }                                                                                                          \
    if (sum)                                                                                                   \
      for (int64_t j = 0; j < n; ++j) z[i0 + j] = acc[j];                                                      \
    if (sum && cnt != NULL)                                                                                    \
      for (int64_t j = 0; j < n; ++j) cnt[i0 + j] = count[j];                                                  \
  }

#define FWD_ARGS x, sx, s, h, w, z, cnt, steps, m, i0, n, beta, thr
/* variant bits: 8 zero reset, 4 keep h, 2 write s, 1 weighted sum */
#define FWD_CASE(SUFFIX, V)                                                                                    \
  case V:                                                                                                      \
    lif_forward_chunk_##SUFFIX(FWD_ARGS, ((V) >> 3) & 1, ((V) >> 2) & 1, ((V) >> 1) & 1, (V) & 1);             \
    break;
#define FWD_CASES4(SUFFIX, V) FWD_CASE(SUFFIX, V) FWD_CASE(SUFFIX, V + 1) FWD_CASE(SUFFIX, V + 2) FWD_CASE(SUFFIX, V + 3)

/* The forward over all chunks: writes s (unless NULL), h (unless NULL) and, when w is given, z[M], the
 * spikes summed over time with the weights w[T], and (unless cnt is NULL) cnt[M], the spike counts (what a
 * dropout mask held over the window needs of the spikes it does not see: its statistics and its scores). */
#define DEFINE_FORWARD(SUFFIX, T)                                                                              \
  VECTOR_CLONES void lif_forward_##SUFFIX(const T* x, int64_t sx, T* s, T* h, int64_t steps, int64_t m, T beta, \
                                          T thr, int32_t reset, int32_t nthreads, const T* w, T* z, T* cnt) {  \
    const int64_t chunk = lif_chunk(m), chunks = (m + chunk - 1) / chunk;                                      \
    const int nt = threads_for(chunks, steps * m, nthreads);                                                   \
    const int variant = (reset == RESET_ZERO) * 8 + (h != NULL) * 4 + (s != NULL) * 2 + (w != NULL && z != NULL); \
    _Pragma("omp parallel for schedule(static) num_threads(nt)") for (int64_t c = 0; c < chunks; ++c) {        \
      int64_t i0 = c * chunk;                                                                                  \
      int64_t n = m - i0 < chunk ? m - i0 : chunk;                                                             \
      switch (variant) { FWD_CASES4(SUFFIX, 0) FWD_CASES4(SUFFIX, 4) FWD_CASES4(SUFFIX, 8) FWD_CASES4(SUFFIX, 12) } \
    }                                                                                                          \
  }

/* The reverse recurrence over one chunk of n neurons, for one (reset, detach, surrogate) variant: the
 * dispatcher below calls it with constant flags, so each variant is its own branch-free loop (with the
 * flags at run time GCC keeps the branches in the loop and does not vectorise it). g_s and g_h are always
 * read: an absent one is passed as a zero row with step stride 0 (it stays in L1). The scalar gradients
 * are summed per neuron over time in T, then over the chunk in double. */
#define DEFINE_BACKWARD_CHUNK(SUFFIX, T, FABS)                                                                 \
  static inline __attribute__((always_inline)) void lif_backward_chunk_##SUFFIX(                               \
      const T* h, const T* g_s, int64_t sgs, const T* g_h, int64_t sgh, T* g_x, int64_t steps, int64_t m,      \
      int64_t i0, int64_t n, T beta, T thr, T k1, T k2, const T* gscale, double* sums, T* scratch, const int zero, \
      const int detach, const int arctan, const int acc, const int stat) {                                     \
    T carry[MAX_CHUNK], accb[MAX_CHUNK], acct[MAX_CHUNK];                                                      \
    for (int64_t j = 0; j < n; ++j) {                                                                          \
      carry[j] = (T)0;                                                                                         \
      accb[j] = (T)0;                                                                                          \
      acct[j] = (T)0;                                                                                          \
    }                                                                                                          \
    if (stat) { /* h is the static input x[m]: recompute the chunk's h_t into scratch[t * n + j] (forward ops) */ \
      const T* x0 = h + i0;                                                                                    \
      for (int64_t t = 0; t < steps; ++t) {                                                                    \
        T* st = scratch + t * n;                                                                               \
        for (int64_t j = 0; j < n; ++j) {                                                                      \
          T hv = beta * carry[j] + x0[j];                                                                      \
          T sp = hv > thr ? (T)1 : (T)0;                                                                       \
          st[j] = hv;                                                                                          \
          carry[j] = zero ? hv * ((T)1 - sp) : hv - sp * thr;                                                  \
        }                                                                                                      \
      }                                                                                                        \
      for (int64_t j = 0; j < n; ++j) {                                                                        \
        carry[j] = (T)0;                                                                                       \
        g_x[i0 + j] = (T)0;                                                                                    \
      }                                                                                                        \
    }                                                                                                          \
    for (int64_t t = steps - 1; t >= 0; --t) {                                                                 \
      const T* ht = stat ? scratch + t * n : h + t * m + i0;                                                   \
      const T* gst = g_s + t * sgs + i0;                                                                       \
      const T* ght = g_h + t * sgh + i0;                                                                       \
      T* gxt = stat ? g_x + i0 : g_x + t * m + i0;                                                             \
      const T sc = gscale != NULL ? gscale[t] : (T)1; /* x * 1 is exact: unscaled values are unchanged */      \
      for (int64_t j = 0; j < n; ++j) {                                                                        \
        T hv = ht[j];                                                                                          \
        T u = hv - thr;                                                                                        \
        T y = arctan ? k1 * u : k1 * FABS(u) + (T)1;                                                           \
        T d = arctan ? k2 / ((T)1 + y * y) : (T)1 / (y * y);                                                   \
        T sp = hv > thr ? (T)1 : (T)0;                                                                         \
        T gnext = carry[j];                                                                                    \
        T gv = beta * gnext;                                                                                   \
        T gs = gst[j] * sc;                                                                                    \
        T dv_dh = zero ? (detach ? (T)1 - sp : ((T)1 - sp) - hv * d) : (detach ? (T)1 : (T)1 - thr * d);       \
        T dv_dthr = zero ? (detach ? (T)0 : hv * d) : (detach ? -sp : thr * d - sp);                           \
        T vt = zero ? hv * ((T)1 - sp) : hv - sp * thr;                                                        \
        T g = (gs * d + gv * dv_dh) + ght[j];                                                                  \
        gxt[j] = stat ? gxt[j] + g : g;                                                                        \
        carry[j] = g;                                                                                          \
        if (acc) accb[j] += gnext * vt;                                                                        \
        if (acc) acct[j] += gv * dv_dthr - gs * d;                                                             \
      }                                                                                                        \
    }                                                                                                          \
    double sb = 0.0, st = 0.0;                                                                                 \
    for (int64_t j = 0; j < n; ++j) {                                                                          \
      sb += (double)accb[j];                                                                                   \
      st += (double)acct[j];                                                                                   \
    }                                                                                                          \
    sums[0] = sb;                                                                                              \
    sums[1] = st;                                                                                              \
  }

#define BWD_ARGS h, g_s, sgs, g_h, sgh, g_x, steps, m, i0, n, beta, thr, k1, k2, gscale, sums, scratch
/* variant bits: 16 static input, 8 zero reset, 4 detach_reset, 2 arctan surrogate, 1 scalar gradients */
#define BWD_CASE(SUFFIX, V)                                                                                    \
  case V:                                                                                                      \
    lif_backward_chunk_##SUFFIX(BWD_ARGS, ((V) >> 3) & 1, ((V) >> 2) & 1, ((V) >> 1) & 1, (V) & 1, ((V) >> 4) & 1); \
    break;
#define BWD_CASES4(SUFFIX, V) BWD_CASE(SUFFIX, V) BWD_CASE(SUFFIX, V + 1) BWD_CASE(SUFFIX, V + 2) BWD_CASE(SUFFIX, V + 3)
#define BWD_CASES16(SUFFIX, V) \
  BWD_CASES4(SUFFIX, V) BWD_CASES4(SUFFIX, V + 4) BWD_CASES4(SUFFIX, V + 8) BWD_CASES4(SUFFIX, V + 12)

/* The backward over all chunks. With stat = 0, h is the saved trace [T, M] and g_x gets dL/dx_t [T, M].
 * With stat != 0 the input was static (the same current x[M] at every step, direct encoding): h is that
 * x[M], each chunk recomputes its h_t in a scratch buffer (the forward's operations, bit-identical values:
 * nothing [T, M] is saved), and g_x[M] gets the gradient summed over time, sum_t dL/dh_t, summed in
 * reverse time order per neuron. Returns 0, or 1 when that scratch cannot be allocated. */
#define DEFINE_BACKWARD(SUFFIX, T)                                                                             \
  VECTOR_CLONES int32_t lif_backward_##SUFFIX(const T* h, const T* g_s, int64_t sgs, const T* g_h, int64_t sgh,   \
                                              T* g_x, int64_t steps, int64_t m, T beta, T thr, int32_t reset,  \
                                              int32_t detach, int32_t surr, T scale, int32_t need,             \
                                              double* partial, double* out, int32_t nthreads, int32_t stat,    \
                                              const T* gscale) {                                               \
    const T k1 = surr == SURR_FAST_SIGMOID ? scale : (T)(1.5707963267948966 * (double)scale);                  \
    const T k2 = surr == SURR_FAST_SIGMOID ? (T)0 : scale / (T)2;                                              \
    const int variant = (stat != 0) * 16 + (reset == RESET_ZERO) * 8 + (detach != 0) * 4 +                     \
                        (surr == SURR_ARCTAN) * 2 + (need != 0);                                               \
    const int64_t chunk = lif_chunk(m), chunks = (m + chunk - 1) / chunk;                                      \
    const int nt = threads_for(chunks, steps * m, nthreads);                                                   \
    T* pool = NULL; /* static input: one scratch [T, chunk] per thread */                                      \
    if (stat) {                                                                                                \
      pool = (T*)malloc((size_t)nt * (size_t)steps * (size_t)chunk * sizeof(T));                               \
      if (pool == NULL) return 1;                                                                              \
    }                                                                                                          \
    _Pragma("omp parallel for schedule(static) num_threads(nt)") for (int64_t c = 0; c < chunks; ++c) {        \
      int64_t i0 = c * chunk;                                                                                  \
      int64_t n = m - i0 < chunk ? m - i0 : chunk;                                                             \
      double* sums = partial + 2 * c;                                                                          \
      T* scratch = stat ? pool + (int64_t)omp_get_thread_num() * steps * chunk : NULL;                         \
      switch (variant) { BWD_CASES16(SUFFIX, 0) BWD_CASES16(SUFFIX, 16) }                                      \
    }                                                                                                          \
    free(pool);                                                                                                \
    double sb = 0.0, st = 0.0;                                                                                 \
    for (int64_t c = 0; c < chunks; ++c) { /* in chunk order: the same sum for any thread count */             \
      sb += partial[2 * c];                                                                                    \
      st += partial[2 * c + 1];                                                                                \
    }                                                                                                          \
    out[0] = sb;                                                                                               \
    out[1] = st;                                                                                               \
    return 0;                                                                                                  \
  }

/* z[M] = sum_t w[t] * x_t[M] over x [T, M] (step stride sx), accumulated per element in time order with
 * the forward's own expression (acc += w_t * x_t, contraction off): on binary spikes the same value, bit for
 * bit, as the forward's weighted sum, so a readout that sums written spikes and one fused into the layer
 * give the same logits. */
#define DEFINE_TIME_SUM(SUFFIX, T)                                                                             \
  VECTOR_CLONES void time_sum_##SUFFIX(const T* x, int64_t sx, const T* w, T* z, int64_t steps, int64_t m,     \
                                       int32_t nthreads) {                                                     \
    const int64_t chunk = lif_chunk(m), chunks = (m + chunk - 1) / chunk;                                      \
    const int nt = threads_for(chunks, steps * m, nthreads);                                                   \
    _Pragma("omp parallel for schedule(static) num_threads(nt)") for (int64_t c = 0; c < chunks; ++c) {        \
      T acc[MAX_CHUNK];                                                                                        \
      int64_t i0 = c * chunk;                                                                                  \
      int64_t n = m - i0 < chunk ? m - i0 : chunk;                                                             \
      for (int64_t j = 0; j < n; ++j) acc[j] = (T)0;                                                           \
      for (int64_t t = 0; t < steps; ++t) {                                                                    \
        const T* xt = x + t * sx + i0;                                                                         \
        const T wt = w[t];                                                                                     \
        for (int64_t j = 0; j < n; ++j) acc[j] += wt * xt[j];                                                  \
      }                                                                                                        \
      for (int64_t j = 0; j < n; ++j) z[i0 + j] = acc[j];                                                      \
    }                                                                                                          \
  }

DEFINE_FORWARD_CHUNK(f32, float)
DEFINE_FORWARD_CHUNK(f64, double)
DEFINE_FORWARD(f32, float)
DEFINE_FORWARD(f64, double)
DEFINE_BACKWARD_CHUNK(f32, float, fabsf)
DEFINE_BACKWARD_CHUNK(f64, double, fabs)
DEFINE_BACKWARD(f32, float)
DEFINE_BACKWARD(f64, double)
DEFINE_TIME_SUM(f32, float)
DEFINE_TIME_SUM(f64, double)

/* Ask for transparent huge pages on a fresh output buffer (Linux with THP in "madvise" mode, the usual
 * default; elsewhere nothing). Buffers above glibc's mmap threshold (32 MB) are new pages at every call,
 * and faulting them in 4 KB at a time costs more than the kernel itself: measured 23 ms to fill a fresh
 * 51 MB tensor (T=100, B=128, N=1000) against 6 ms with huge pages. Only the 2 MB-aligned interior is
 * advised; values are unaffected. */
void lif_advise_huge(void* p, int64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t huge = (uintptr_t)1 << 21;
  uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
  uintptr_t e = ((uintptr_t)p + (uintptr_t)bytes) & ~(huge - 1);
  if (e > a) (void)madvise((void*)a, e - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}
