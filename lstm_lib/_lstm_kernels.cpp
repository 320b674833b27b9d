// The two loops over time of the LSTM layer, compiled (CPU; float and double).
//
// They run exactly the equations of the Python reference loops in lstm_lib/_lstm_recurrence.py,
// for every configuration of the layer (paper Eqs. 196-214 forward, Eqs. 216-250 backward with
// errata E6 and E11 corrected): state-to-gate weights full, diagonal or absent; the control input
// gate g_cx or not; the recurrent projection v = W_qdr q or not. The input terms of all steps
// (the context windows included) are computed before the loop in one matrix product, and the
// weight gradients after it; here are only the parts that must go step by step.
//
// Layout. Every tensor passed here is contiguous, on the CPU, of one floating dtype. The stacked
// accumulations have G = 4 or 5 blocks of d = d_s columns in the order (cr, cs, cu, [cx,] du); the
// state weights have G - 1 blocks (cr, cs, cu, [cx]) -- block 0, W_scr, reads the new state s[n].
//
// Threads. The sequences of a batch are independent, so the batch rows are split between the
// threads and each thread runs the whole recurrence on its rows: no thread waits for another during
// the loop (no barrier per step, so a thread that the operating system deschedules delays nobody).
// The caller chooses the number of threads (lstm_lib/_lstm_kernels.py); one thread runs in the calling
// thread. The per-step products are this file's own (Packed below): the weights are packed once per
// call and every step streams through them; nothing inside a step calls a library or starts a thread.
//
// Gates. In float32 the logistic and tanh functions are evaluated by vectorisable formulas with a
// clamped argument (no -ffast-math: infinite arguments saturate to the same values torch gives, and
// NaN stays NaN); in float64 the C library's exp and tanh are used.

#include <ATen/Parallel.h>
#include <omp.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

namespace {

// ---- the matrix products of a step ------------------------------------------------------------------
//
// Each step multiplies a few rows (the thread's batch rows) by a weight matrix that stays the same for
// all N steps. The weight is packed once per call into panels of kW columns (one vector register
// wide), stored k-major, so the product streams through it with aligned vector loads; a tile of up to
// MR rows x NP panels is accumulated in registers (a "micro-kernel" in the manner of BLIS). No library
// call, no packing of the rows at every step, no threads inside.

#if defined(__AVX512F__)
constexpr int kVecBytes = 64, kNP = 4;  // 4 panels of 16 floats (8 doubles): 16 accumulators of 32 registers
#else
constexpr int kVecBytes = 32, kNP = 2;  // AVX2: 8 accumulators of 16 registers
#endif
constexpr int kMR = 4;  // rows per tile

// Runtime switches made template arguments: with_flags(f, a, b, ...) calls f(std::bool_constant<a>{},
// std::bool_constant<b>{}, ...), so each combination of the layer's switches is compiled as its own loop
// with no branch on them inside.
template <class F>
void with_flags(F&& f) {
  f();
}
template <class F, class... Rest>
void with_flags(F&& f, bool first, Rest... rest) {
  if (first) with_flags([&](auto... flags) { f(std::true_type{}, flags...); }, rest...);
  else with_flags([&](auto... flags) { f(std::false_type{}, flags...); }, rest...);
}

template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(kVecBytes)));
  static constexpr int W = kVecBytes / int(sizeof(T));
};

// The weight operand of the row-major product C (rows x n) [+]= X (rows x k) . op(W), where op(W) is
// W^T for a weight stored (n x k) (the forward products W v) or W for a weight stored (k x n) (the
// backward products W^T alpha, in row form).
template <typename T>
struct Packed {
  using V = typename Vec<T>::type;
  static constexpr int W = Vec<T>::W;
  int n = 0, k = 0, np = 0;
  T* data = nullptr;  // np panels, each k x W, 64-byte aligned; columns past n are zero

  Packed() = default;
  Packed(const T* src, int n_, int k_, int ld, bool trans) : n(n_), k(k_), np((n_ + W - 1) / W) {
    data = static_cast<T*>(std::aligned_alloc(64, ((size_t(np) * k * W * sizeof(T) + 63) / 64) * 64 + 64));
    for (int p = 0; p < np; ++p)
      for (int kk = 0; kk < k; ++kk)
        for (int j = 0; j < W; ++j) {
          const int c = p * W + j;
          data[(size_t(p) * k + kk) * W + j] = c < n ? (trans ? src[size_t(c) * ld + kk] : src[size_t(kk) * ld + c]) : T(0);
        }
  }
  Packed(const Packed&) = delete;
  Packed& operator=(Packed&& o) noexcept {
    std::swap(n, o.n), std::swap(k, o.k), std::swap(np, o.np), std::swap(data, o.data);
    return *this;
  }
  ~Packed() { std::free(data); }

  template <int MR, int NP>
  void tile(const T* X, int ldx, int p0, T* C, int ldc, bool accumulate) const {
    V acc[MR][NP];
    for (int r = 0; r < MR; ++r)
      for (int q = 0; q < NP; ++q) acc[r][q] = V{};
    const T* w0 = data + size_t(p0) * k * W;
    for (int kk = 0; kk < k; ++kk) {
      V w[NP];
      for (int q = 0; q < NP; ++q)
        w[q] = *reinterpret_cast<const V*>(__builtin_assume_aligned(w0 + (size_t(q) * k + kk) * W, 64));
      for (int r = 0; r < MR; ++r) {
        const T x = X[size_t(r) * ldx + kk];
        for (int q = 0; q < NP; ++q) acc[r][q] += w[q] * x;
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int q = 0; q < NP; ++q) {
        const int c0 = (p0 + q) * W;
        T* out = C + size_t(r) * ldc + c0;
        if (c0 + W <= n) {
          V cur;
          if (accumulate) {
            std::memcpy(&cur, out, sizeof(V));
            cur += acc[r][q];
          } else {
            cur = acc[r][q];
          }
          std::memcpy(out, &cur, sizeof(V));
        } else {
          for (int j = 0; c0 + j < n; ++j) out[j] = accumulate ? out[j] + acc[r][q][j] : acc[r][q][j];
        }
      }
  }

  // The rows of X against NP panels starting at p0, kMR rows at a time: the panels' k x NP W values stay
  // in cache (L1/L2) while every row block passes over them.
  template <int NP>
  void panel_rows(int rows, const T* X, int ldx, int p0, T* C, int ldc, bool accumulate) const {
    int i = 0;
    for (; i + kMR <= rows; i += kMR) tile<kMR, NP>(X + size_t(i) * ldx, ldx, p0, C + size_t(i) * ldc, ldc, accumulate);
    switch (rows - i) {
      case 3: tile<3, NP>(X + size_t(i) * ldx, ldx, p0, C + size_t(i) * ldc, ldc, accumulate); break;
      case 2: tile<2, NP>(X + size_t(i) * ldx, ldx, p0, C + size_t(i) * ldc, ldc, accumulate); break;
      case 1: tile<1, NP>(X + size_t(i) * ldx, ldx, p0, C + size_t(i) * ldc, ldc, accumulate); break;
      default: break;
    }
  }

  // C (rows x n, leading dimension ldc) = [C +] X (rows x k, ldx) . op(W). Panels outside, rows inside,
  // so the weights are read from memory once per call however many rows there are.
  void apply(int rows, const T* X, int ldx, T* C, int ldc, bool accumulate) const {
    if (rows <= 0 || n <= 0) return;
    int p = 0;
    for (; p + kNP <= np; p += kNP) panel_rows<kNP>(rows, X, ldx, p, C, ldc, accumulate);
    switch (np - p) {
      case 3: if constexpr (kNP > 3) panel_rows<3>(rows, X, ldx, p, C, ldc, accumulate); break;
      case 2: if constexpr (kNP > 2) panel_rows<2>(rows, X, ldx, p, C, ldc, accumulate); break;
      case 1: panel_rows<1>(rows, X, ldx, p, C, ldc, accumulate); break;
      default: break;
    }
  }
};

// ---- the warping functions ------------------------------------------------------------------------

inline double G_c(double a) { return 1.0 / (1.0 + std::exp(-a)); }
inline double G_d(double a) { return std::tanh(a); }

// e^x for float, vectorisable: x clamped to [-87, 88] (so the result is a normal number and never
// overflows; +-inf saturate), Cody-Waite reduction by ln 2 and a degree-6 polynomial (the
// coefficients of Cephes' expf). A NaN argument gives NaN (every comparison with it is false).
inline float exp_f(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln 2)
  const float r = (x - fn * 0.693359375f) + fn * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const uint32_t e = (static_cast<uint32_t>(static_cast<int32_t>(fn)) + 127u) << 23;  // 2^n
  const float scale = __builtin_bit_cast(float, e);
  return p * scale;
}

inline float G_c(float a) { return 1.0f / (1.0f + exp_f(-a)); }

// tanh for float: an odd polynomial near 0 (Cephes' tanhf coefficients, |a| < 0.625), else
// 1 - 2 / (e^{2|a|} + 1) with the sign of a.
inline float G_d(float a) {
  const float z = a * a;
  const float small = a + a * z * ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                                    1.33314422036e-1f) * z - 3.33332819422e-1f);
  const float m = a < 0.0f ? -a : a;
  const float big = 1.0f - 2.0f / (exp_f(2.0f * m) + 1.0f);
  const float large = a < 0.0f ? -big : big;
  return m < 0.625f ? small : large;
}

template <typename T>
inline T clip(T a, T c) {
  return a < -c ? -c : (a > c ? c : a);
}

// ---- one step of the cells, forward ----------------------------------------------------------------
//
// Rows i < M, cells j < n. Every pointer is at the first cell. The accumulations' blocks are d cells
// apart in A (input terms xi), g (gates out), bias and w (diagonal state weights, or null), whose
// rows are G d apart; Tm holds the recurrent terms, rows ldt apart and blocks bt apart; s, r and
// s_prev rows are d apart (lds_prev for s_prev), q rows ldq apart.

// Part a: the state. a_cs, a_cu (Eqs. 200, 197), a_cx (206), a_du (209), the gates, u (210), s (211).
// With READOUT (state weights diagonal or absent: a_cr needs no product with the new state), the same
// pass also forms the readout, as part b does: g_cr, r, q (Eqs. 203-204, 212-213).
template <typename T, bool DIAG, bool GATE, bool READOUT>
void cells_state(int M, int64_t n, int64_t d, const T* A, const T* Tm, int64_t ldt, int64_t bt, const T* bias,
                 const T* w, const T* s_prev, int64_t lds_prev, T* g, T* s, T* r, T* q, int64_t ldq) {
  const int64_t Gd = (GATE ? 5 : 4) * d, du = (GATE ? 4 : 3) * d, tu = (GATE ? 4 : 3) * bt;
  for (int i = 0; i < M; ++i) {
    const T* a = A + i * Gd;
    const T* t = Tm + i * ldt;
    const T* sp = s_prev + i * lds_prev;
    T* gi = g + i * Gd;
    T* si = s + i * d;
    T* ri = READOUT ? r + i * d : nullptr;
    T* qi = READOUT ? q + i * ldq : nullptr;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      T a_cs = a[d + j] + t[bt + j] + bias[d + j];
      T a_cu = a[2 * d + j] + t[2 * bt + j] + bias[2 * d + j];
      if constexpr (DIAG) {
        a_cs += w[d + j] * sp[j];
        a_cu += w[2 * d + j] * sp[j];
      }
      const T g_cs = G_c(a_cs), g_cu = G_c(a_cu);
      T xi_du = a[du + j];
      if constexpr (GATE) {
        T a_cx = a[3 * d + j] + t[3 * bt + j] + bias[3 * d + j];
        if constexpr (DIAG) a_cx += w[3 * d + j] * sp[j];
        const T g_cx = G_c(a_cx);
        gi[3 * d + j] = g_cx;
        xi_du *= g_cx;  // g_cx (.) xi_du  (Eq. 209)
      }
      const T u = G_d(xi_du + t[tu + j] + bias[du + j]);
      const T sn = g_cs * sp[j] + g_cu * u;
      gi[d + j] = g_cs;
      gi[2 * d + j] = g_cu;
      gi[du + j] = u;
      si[j] = sn;
      if constexpr (READOUT) {
        T a_cr = a[j] + t[j] + bias[j];
        if constexpr (DIAG) a_cr += w[j] * sn;
        const T g_cr = G_c(a_cr), rn = G_d(sn);
        gi[j] = g_cr;
        ri[j] = rn;
        qi[j] = g_cr * rn;
      }
    }
  }
}

// Part b (full state weights): the readout. a_cr (Eq. 203, st = W_scr s[n], rows ldst apart), g_cr
// (204), r (212), q (213).
template <typename T>
void cells_readout(int M, int64_t n, int64_t d, int64_t Gd, const T* A, const T* Tm, int64_t ldt, const T* st,
                   int64_t ldst, const T* bias, const T* s, T* g, T* r, T* q, int64_t ldq) {
  for (int i = 0; i < M; ++i) {
    const T* a = A + i * Gd;
    const T* t = Tm + i * ldt;
    const T* si = s + i * d;
    const T* sti = st + i * ldst;
    T* gi = g + i * Gd;
    T* ri = r + i * d;
    T* qi = q + i * ldq;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T g_cr = G_c(a[j] + t[j] + bias[j] + sti[j]), rn = G_d(si[j]);
      gi[j] = g_cr;
      ri[j] = rn;
      qi[j] = g_cr * rn;
    }
  }
}

// ---- one step of the cells, backward ---------------------------------------------------------------

// Part a: from beta = dE/dq (Eq. 218; = chi without projection; rows ldb apart): alpha_cr (Eq. 221,
// clipped per fn 25 when CLIP) and the local part of psi (Eq. 222: beta g_cr G_d'(s), plus w_scr
// alpha_cr when diagonal). g, alpha: rows Gd apart; r, psi_loc: d apart.
template <typename T, bool DIAG, bool CLIP>
void cells_readout_back(int M, int64_t n, int64_t d, int64_t Gd, const T* beta, int64_t ldb, const T* g, const T* r,
                        const T* w, T c, T* alpha, T* psi_loc) {
  for (int i = 0; i < M; ++i) {
    const T* be = beta + i * ldb;
    const T* gi = g + i * Gd;
    const T* ri = r + i * d;
    T* al = alpha + i * Gd;
    T* pl = psi_loc + i * d;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T g_cr = gi[j], rn = ri[j];
      T a_cr = be[j] * rn * (g_cr - g_cr * g_cr);  // gamma_cr G_c'(a_cr)
      if constexpr (CLIP) a_cr = clip(a_cr, c);
      T p = be[j] * g_cr * (T(1) - rn * rn);  // rho G_d'(s)
      if constexpr (DIAG) p += w[j] * a_cr;  // (W_scr^T alpha_cr, diagonal)
      al[j] = a_cr;
      pl[j] = p;
    }
  }
}

// Part b: psi[n] (Eq. 222) = carry + psi_loc, the alphas of the state's accumulations (Eqs. 223-227),
// alpha_xdu = g_cx alpha_du (what reaches the input terms of a_du, erratum E11), the carry into
// psi[n-1] (f_psi, Eq. 229, its element-wise part) and the sums of the bias and diagonal state-weight
// gradients (Eqs. 233, 237, 241, 245, 248; 239 with s[n], 235, 243 with s[n-1]) over the rows, into
// part (blocks d apart: the bias's G blocks, then the state weights' G-1).
template <typename T, bool DIAG, bool GATE, bool CLIP>
void cells_state_back(int M, int64_t n, int64_t d, const T* psi_loc, const T* carry_in, const T* g, const T* A,
                      const T* s, const T* s_prev, int64_t lds_prev, const T* w, T c, T* alpha, T* alpha_xdu,
                      T* carry_out, T* psi_out, T* part) {
  const int64_t G = GATE ? 5 : 4, Gd = G * d, du = (G - 1) * d;
  for (int i = 0; i < M; ++i) {
    const T* pl = psi_loc + i * d;
    const T* ci = carry_in + i * d;
    const T* gi = g + i * Gd;
    const T* a = A + i * Gd;
    const T* si = s + i * d;
    const T* sp = s_prev + i * lds_prev;
    T* al = alpha + i * Gd;
    T* ax = GATE ? alpha_xdu + i * d : nullptr;
    T* co = carry_out + i * d;
    T* po = psi_out ? psi_out + i * d : nullptr;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T psi = ci[j] + pl[j];
      const T g_cs = gi[d + j], g_cu = gi[2 * d + j], u = gi[du + j];
      T a_cs = psi * sp[j] * (g_cs - g_cs * g_cs);
      T a_cu = psi * u * (g_cu - g_cu * g_cu);
      T a_du = psi * g_cu * (T(1) - u * u);
      if constexpr (CLIP) {
        a_cs = clip(a_cs, c);
        a_cu = clip(a_cu, c);
        a_du = clip(a_du, c);
      }
      al[d + j] = a_cs;
      al[2 * d + j] = a_cu;
      al[du + j] = a_du;
      T f = g_cs * psi;
      T a_cx = T(0);
      if constexpr (GATE) {
        const T g_cx = gi[3 * d + j];
        a_cx = a_du * a[du + j] * (g_cx - g_cx * g_cx);  // gamma_cx G_c'(a_cx), gamma_cx = alpha_du xi_du
        if constexpr (CLIP) a_cx = clip(a_cx, c);
        al[3 * d + j] = a_cx;
        ax[j] = g_cx * a_du;
      }
      if constexpr (DIAG) {
        f += w[d + j] * a_cs + w[2 * d + j] * a_cu;
        if constexpr (GATE) f += w[3 * d + j] * a_cx;
      }
      co[j] = f;
      if (po) po[j] = psi;
      // the step's terms of the parameter gradients, summed over the rows in T
      T* pb = part;
      pb[j] += al[j];
      pb[d + j] += a_cs;
      pb[2 * d + j] += a_cu;
      pb[du + j] += a_du;
      if constexpr (GATE) pb[3 * d + j] += a_cx;
      if constexpr (DIAG) {
        T* pw = part + Gd;
        pw[j] += al[j] * si[j];
        pw[d + j] += a_cs * sp[j];
        pw[2 * d + j] += a_cu * sp[j];
        if constexpr (GATE) pw[3 * d + j] += a_cx * sp[j];
      }
    }
  }
}

// ---- the loops ---------------------------------------------------------------------------------------
//
// Two ways to share a call between threads (chosen by the caller, lstm_lib/_lstm_kernels.py):
//
// * split ROWS: the batch rows are divided into chunks; each thread runs the whole recurrence on a chunk
//   with the whole weights, then takes the next chunk, and no thread ever waits for another until the
//   call ends. Used when there are enough rows.
// * split CELLS: with one to a few rows, the cells are divided (each thread owns a slice of the d cells
//   in every accumulation block and its share of the weights, which stays in its own cache), and the
//   threads meet at a barrier whenever a step needs what all of them computed: once per step (v[n]
//   forward, alpha[n] backward), plus once for W_scr s[n] and once for W_scr^T alpha_cr and
//   W_s..^T alpha with full state weights, plus once with the projection. (The barriers are written
//   in the parallel blocks themselves: GCC 12 misplaced an orphaned omp barrier inside a lambda.)

enum StateWeights { kNone = 0, kDiagonal = 1, kFull = 2 };

template <typename T>
T* ptr(const std::optional<at::Tensor>& t) {
  return t && t->defined() ? t->data_ptr<T>() : nullptr;
}

// Rows [r0, r1) of chunk k among n, as even as possible.
inline void rows_of(int k, int n, int64_t B, int64_t& r0, int64_t& r1) {
  r0 = B * k / n;
  r1 = B * (k + 1) / n;
}

// Splitting rows, the batch is cut into more chunks than threads (of at least kChunkRows rows, up to
// four per thread) and the threads take the next chunk when they finish one: a thread that the
// operating system deschedules, because another process wants its core, leaves its remaining chunks
// to the others instead of holding up the end of the call.
constexpr int64_t kChunkRows = 8;

inline int chunks_for(int64_t B, int nt) {
  return int(std::max<int64_t>(nt, std::min<int64_t>(B / kChunkRows, 4 * nt)));
}

// The cells [c0, c1) of thread t among nt: whole multiples of 16 (a vector of floats, a cache line),
// the last slices taking what is left, possibly nothing.
struct Slice {
  int64_t c0, c1;
  int64_t size() const { return c1 - c0; }
};

inline Slice slice_of(int t, int nt, int64_t d) {
  const int64_t per = ((d + nt - 1) / nt + 15) / 16 * 16;
  const int64_t c0 = std::min<int64_t>(d, t * per);
  return {c0, std::min<int64_t>(d, c0 + per)};
}

// The rows of W (rows x k, row-major) of the cells [c0, c0 + n) in each of `blocks` blocks of d rows,
// stacked: (blocks n) x k.
template <typename T>
std::vector<T> gather_rows(const T* W, int64_t k, int64_t d, int64_t blocks, int64_t c0, int64_t n) {
  std::vector<T> out(size_t(blocks * n * k));
  for (int64_t b = 0; b < blocks; ++b)
    if (n > 0) std::memcpy(out.data() + b * n * k, W + (b * d + c0) * k, sizeof(T) * n * k);
  return out;
}

template <typename T>
struct Forward {
  int64_t N, B, d, dv, G;
  int sw;
  bool gate;
  const T *A, *bias, *W_v, *W_s, *W_qdr, *v0, *s0;
  T *v, *s_last;
  T *Gt, *S, *R, *Q;  // the record for the backward pass; all null for inference
  // Without A (inference, rows split): the input x (N, B, m) and W_x (G d, L m), whose input terms each
  // step then forms itself, tap by tap (Eq. 188), instead of reading them from A.
  const T *x, *W_x;
  int64_t m, L;

  template <bool DIAG, bool GATE>
  void rows(int64_t r0, int64_t r1, const Packed<T>& Wv, const Packed<T>& WsP, const Packed<T>& Wscr,
            const Packed<T>& Wq, const std::vector<Packed<T>>& Wx) const {
    const int M = int(r1 - r0);
    if (M <= 0) return;
    const int64_t Gd = G * d, BGd = B * Gd, Bd = B * d, Bdv = B * dv;
    const bool rec = Gt != nullptr, full = sw == kFull, proj = W_qdr != nullptr;
    const T* w = sw == kDiagonal ? W_s : nullptr;
    std::vector<T> terms(M * Gd), st(full ? M * d : 0), xin(A ? 0 : M * Gd), scratch;
    if (!rec) scratch.resize(M * Gd + 3 * M * d + (proj ? M * d : 0));
    T* g_buf = scratch.data();
    T* s_buf[2] = {g_buf + M * Gd, g_buf + M * Gd + M * d};
    T* r_buf = g_buf + M * Gd + 2 * M * d;
    T* q_buf = r_buf + M * d;
    const int64_t ldq = proj ? d : dv;
    for (int64_t n = 0; n < N; ++n) {
      const T* a_n = A ? A + n * BGd + r0 * Gd : xin.data();
      if (!A)  // xi[n] = sum_l W_x[l] x[n+l] (Eq. 188), x zero past the end
        for (int64_t l = 0; l < L && n + l < N; ++l)
          Wx[l].apply(M, x + (n + l) * B * m + r0 * m, int(m), xin.data(), int(Gd), l > 0);
      const T* v_prev = n == 0 ? v0 + r0 * dv : v + (n - 1) * Bdv + r0 * dv;
      const T* s_prev = n == 0 ? s0 + r0 * d : (rec ? S + (n - 1) * Bd + r0 * d : s_buf[(n - 1) & 1]);
      T* s_n = rec ? S + n * Bd + r0 * d : s_buf[n & 1];
      T* g_n = rec ? Gt + n * BGd + r0 * Gd : g_buf;
      T* r_n = rec ? R + n * Bd + r0 * d : r_buf;
      T* v_n = v + n * Bdv + r0 * dv;
      T* q_n = proj ? (rec ? Q + n * Bd + r0 * d : q_buf) : v_n;
      Wv.apply(M, v_prev, int(dv), terms.data(), int(Gd), false);  // W_v.. v[n-1]
      if (full) {
        WsP.apply(M, s_prev, int(d), terms.data() + d, int(Gd), true);  // W_s.. s[n-1] (cs, cu, cx)
        cells_state<T, DIAG, GATE, false>(M, d, d, a_n, terms.data(), Gd, d, bias, w, s_prev, d, g_n, s_n, r_n, q_n,
                                          ldq);
        Wscr.apply(M, s_n, int(d), st.data(), int(d), false);  // W_scr s[n]
        cells_readout<T>(M, d, d, Gd, a_n, terms.data(), Gd, st.data(), d, bias, s_n, g_n, r_n, q_n, ldq);
      } else {
        cells_state<T, DIAG, GATE, true>(M, d, d, a_n, terms.data(), Gd, d, bias, w, s_prev, d, g_n, s_n, r_n, q_n,
                                         ldq);
      }
      if (proj) Wq.apply(M, q_n, int(d), v_n, int(dv), false);  // v = W_qdr q  (Eq. 214)
      if (n == N - 1) std::memcpy(s_last + r0 * d, s_n, sizeof(T) * M * d);
    }
  }

  // All rows, cells split between the threads of the calling team (see above). Scratch for inference,
  // shared: s (2 B d, two steps), g (B G d), r and q (B d).
  template <bool DIAG, bool GATE>
  void cells(int nt, T* scratch) const {
    const int64_t Gd = G * d, BGd = B * Gd, Bd = B * d, Bdv = B * dv;
    const bool rec = Gt != nullptr, full = sw == kFull, proj = W_qdr != nullptr;
    const T* w = sw == kDiagonal ? W_s : nullptr;
    const int M = int(B);
    T* s_buf[2] = {scratch, scratch + Bd};
    T* g_buf = scratch + 2 * Bd;
    T* r_buf = g_buf + BGd;
    T* q_buf = r_buf + Bd;
    const int64_t ldq = proj ? d : dv;
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), team_size = omp_get_num_threads();
      const Slice cs = slice_of(t, team_size, d), vs = proj ? slice_of(t, team_size, dv) : cs;
      const int64_t c0 = cs.c0, dt = cs.size(), ldt = G * dt;
      // this thread's rows of the weights: its cells in every block (its share stays in its cache)
      const std::vector<T> wv_rows = gather_rows(W_v, dv, d, G, c0, dt);
      const Packed<T> Wv(wv_rows.data(), int(G * dt), int(dv), int(dv), true);
      Packed<T> WsP, Wscr, Wq;
      if (full) {
        const std::vector<T> ws_rows = gather_rows(W_s + d * d, d, d, G - 2, c0, dt);
        WsP = Packed<T>(ws_rows.data(), int((G - 2) * dt), int(d), int(d), true);
        Wscr = Packed<T>(W_s + c0 * d, int(dt), int(d), int(d), true);
      }
      if (proj) Wq = Packed<T>(W_qdr + vs.c0 * d, int(vs.size()), int(d), int(d), true);
      std::vector<T> terms(M * ldt), st(full ? M * dt : 0);
      const T* wc = w ? w + c0 : nullptr;
      for (int64_t n = 0; n < N; ++n) {
        const T* a_n = A + n * BGd;
        const T* v_prev = n == 0 ? v0 : v + (n - 1) * Bdv;
        const T* s_prev = n == 0 ? s0 : (rec ? S + (n - 1) * Bd : s_buf[(n - 1) & 1]);
        T* s_n = rec ? S + n * Bd : s_buf[n & 1];
        T* g_n = rec ? Gt + n * BGd : g_buf;
        T* r_n = rec ? R + n * Bd : r_buf;
        T* v_n = v + n * Bdv;
        T* q_n = proj ? (rec ? Q + n * Bd : q_buf) : v_n;
        Wv.apply(M, v_prev, int(dv), terms.data(), int(ldt), false);  // W_v.. v[n-1], this thread's cells
        if (full) {
          WsP.apply(M, s_prev, int(d), terms.data() + dt, int(ldt), true);  // W_s.. s[n-1]
          cells_state<T, DIAG, GATE, false>(M, dt, d, a_n + c0, terms.data(), ldt, dt, bias + c0, wc, s_prev + c0, d,
                                            g_n + c0, s_n + c0, r_n + c0, q_n + c0, ldq);
#pragma omp barrier
          // every cell's s[n] is there
          Wscr.apply(M, s_n, int(d), st.data(), int(dt), false);  // W_scr s[n]
          cells_readout<T>(M, dt, d, Gd, a_n + c0, terms.data(), ldt, st.data(), dt, bias + c0, s_n + c0, g_n + c0,
                           r_n + c0, q_n + c0, ldq);
        } else {
          cells_state<T, DIAG, GATE, true>(M, dt, d, a_n + c0, terms.data(), ldt, dt, bias + c0, wc, s_prev + c0, d,
                                           g_n + c0, s_n + c0, r_n + c0, q_n + c0, ldq);
        }
        if (proj) {
#pragma omp barrier
          // every cell's q[n] is there
          Wq.apply(M, q_n, int(d), v_n + vs.c0, int(dv), false);  // v = W_qdr q  (Eq. 214), this thread's rows
        }
        if (n == N - 1)
          for (int i = 0; i < M; ++i)
            if (dt > 0) std::memcpy(s_last + i * d + c0, s_n + i * d + c0, sizeof(T) * dt);
#pragma omp barrier
        // v[n] is complete: the next step may read it
      }
    }
  }

  void run(int nt, bool split_cells) const {
    const bool diag = sw == kDiagonal;
    if (split_cells && nt > 1) {
      std::vector<T> scratch(Gt ? 0 : size_t(B * (4 * d + G * d)));
      with_flags([&](auto D, auto Gt_) { this->template cells<decltype(D)::value, decltype(Gt_)::value>(nt, scratch.data()); },
                 diag, gate);
      return;
    }
    const int64_t Gd = G * d;
    // The weight operands, packed once for every step and thread.
    Packed<T> Wv(W_v, int(Gd), int(dv), int(dv), true);
    Packed<T> WsP, Wscr, Wq;
    if (sw == kFull) {
      WsP = Packed<T>(W_s + d * d, int((G - 2) * d), int(d), int(d), true);
      Wscr = Packed<T>(W_s, int(d), int(d), int(d), true);
    }
    if (W_qdr) Wq = Packed<T>(W_qdr, int(dv), int(d), int(d), true);
    std::vector<Packed<T>> Wx(A ? 0 : L);  // tap l of every input filter: columns l m .. (l+1) m of W_x
    for (int64_t l = 0; l < int64_t(Wx.size()); ++l) Wx[l] = Packed<T>(W_x + l * m, int(Gd), int(m), int(L * m), true);
    auto chunk = [&](int k, int chunks) {
      int64_t r0, r1;
      rows_of(k, chunks, B, r0, r1);
      with_flags([&](auto D, auto Gt_) {
        this->template rows<decltype(D)::value, decltype(Gt_)::value>(r0, r1, Wv, WsP, Wscr, Wq, Wx);
      }, diag, gate);
    };
    if (nt <= 1) {
      chunk(0, 1);
      return;
    }
    const int chunks = chunks_for(B, nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int k = 0; k < chunks; ++k) chunk(k, chunks);
  }
};

template <typename T>
struct Backward {
  int64_t N, B, d, dv, G;
  int sw;
  bool gate;
  T c;  // clip bound (paper fn 25); <= 0: no clipping
  const T *A, *W_v, *W_s, *W_qdr, *v0, *s0, *Gt, *S, *R, *grad_v, *grad_s;
  T *alpha, *alpha_xdu, *chi_out, *psi_out, *ds0, *dv0;
  double* sums;  // Gd bias, then (G-1) d diagonal state weights

  int64_t nparts() const { return G * d + (G - 1) * d; }

  template <bool DIAG, bool GATE, bool CLIP>
  void rows(int64_t r0, int64_t r1, const Packed<T>& Wv, const Packed<T>& WsP, const Packed<T>& Wscr,
            const Packed<T>& Wq, double* own) const {
    const int M = int(r1 - r0);
    if (M <= 0) return;
    const int64_t Gd = G * d, BGd = B * Gd, Bd = B * d, Bdv = B * dv, np = nparts();
    const bool full = sw == kFull, proj = W_qdr != nullptr;
    const T* w = sw == kDiagonal ? W_s : nullptr;
    std::vector<T> chi_buf(chi_out ? 0 : M * dv), beta_buf(proj ? M * d : 0), psi_loc(M * d), carry(M * d),
        carry_next(M * d), part(np);
    std::memcpy(carry.data(), grad_s + r0 * d, sizeof(T) * M * d);  // dE/ds[N-1] from outside
    for (int64_t n = N - 1; n >= 0; --n) {
      const int64_t o = n * Bd + r0 * d;
      T* al_n = alpha + n * BGd + r0 * Gd;
      T* chi = chi_out ? chi_out + n * Bdv + r0 * dv : chi_buf.data();
      std::memcpy(chi, grad_v + n * Bdv + r0 * dv, sizeof(T) * M * dv);  // dE/dv[n] from outside
      if (n < N - 1) Wv.apply(M, al_n + BGd, int(Gd), chi, int(dv), true);  // + f_chi[n+1] (Eq. 228)
      const T* beta = chi;
      if (proj) {
        Wq.apply(M, chi, int(dv), beta_buf.data(), int(d), false);  // beta = W_qdr^T chi (Eq. 218)
        beta = beta_buf.data();
      }
      const T* g_n = Gt + n * BGd + r0 * Gd;
      const T* s_prev = n == 0 ? s0 + r0 * d : S + o - Bd;
      cells_readout_back<T, DIAG, CLIP>(M, d, d, Gd, beta, proj ? d : dv, g_n, R + o, w, c, al_n, psi_loc.data());
      if (full) Wscr.apply(M, al_n, int(Gd), psi_loc.data(), int(d), true);  // + W_scr^T alpha_cr (E6)
      std::fill(part.begin(), part.end(), T(0));
      cells_state_back<T, DIAG, GATE, CLIP>(M, d, d, psi_loc.data(), carry.data(), g_n, A + n * BGd + r0 * Gd, S + o,
                                            s_prev, d, w, c, al_n, GATE ? alpha_xdu + o : nullptr, carry_next.data(),
                                            psi_out ? psi_out + o : nullptr, part.data());
      if (full) WsP.apply(M, al_n + d, int(Gd), carry_next.data(), int(d), true);  // + W_s..^T alpha (Eq. 229)
      for (int64_t q = 0; q < np; ++q) own[q] += double(part[q]);
      std::swap(carry, carry_next);
    }
    std::memcpy(ds0 + r0 * d, carry.data(), sizeof(T) * M * d);  // dE/ds[-1]
    Wv.apply(M, alpha + r0 * Gd, int(Gd), dv0 + r0 * dv, int(dv), false);  // dE/dv[-1] = W_v^T alpha[0]
  }

  // All rows, cells split between the threads of the calling team. Shared scratch: chi (B dv) when
  // not recorded, beta (B d) with the projection, psi_loc, carry, carry_next (B d each).
  template <bool DIAG, bool GATE, bool CLIP>
  void cells(int nt, T* scratch, double* own_all) const {
    const int64_t Gd = G * d, BGd = B * Gd, Bd = B * d, Bdv = B * dv, np = nparts();
    const bool full = sw == kFull, proj = W_qdr != nullptr;
    const T* w = sw == kDiagonal ? W_s : nullptr;
    const int M = int(B);
    T* chi_buf = scratch;
    T* beta_buf = chi_buf + Bdv;
    T* psi_loc = beta_buf + Bd;
    T* carry_a = psi_loc + Bd;
    T* carry_b = carry_a + Bd;
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), team_size = omp_get_num_threads();
      const Slice cs = slice_of(t, team_size, d), vs = proj ? slice_of(t, team_size, dv) : cs;
      const int64_t c0 = cs.c0, dt = cs.size(), u0 = vs.c0, dvt = vs.size();
      // this thread's columns of the weights (the products W^T alpha in row form)
      const Packed<T> Wv(W_v + u0, int(dvt), int(Gd), int(dv), false);  // chi's columns of this thread
      Packed<T> WsP, Wscr, Wq;
      if (full) {
        WsP = Packed<T>(W_s + d * d + c0, int(dt), int((G - 2) * d), int(d), false);
        Wscr = Packed<T>(W_s + c0, int(dt), int(d), int(d), false);
      }
      if (proj) Wq = Packed<T>(W_qdr + c0, int(dt), int(dv), int(d), false);
      std::vector<T> part(np);
      double* own = own_all + size_t(t) * np;
      const T* wc = w ? w + c0 : nullptr;
      T* carry = carry_a;
      T* carry_next = carry_b;
      for (int i = 0; i < M; ++i)
        if (dt > 0) std::memcpy(carry + i * d + c0, grad_s + i * d + c0, sizeof(T) * dt);  // dE/ds[N-1]
      for (int64_t n = N - 1; n >= 0; --n) {
        const int64_t o = n * Bd;
        T* al_n = alpha + n * BGd;
        T* chi = chi_out ? chi_out + n * Bdv : chi_buf;
        for (int i = 0; i < M; ++i)
          if (dvt > 0) std::memcpy(chi + i * dv + u0, grad_v + n * Bdv + i * dv + u0, sizeof(T) * dvt);
        if (n < N - 1) Wv.apply(M, al_n + BGd, int(Gd), chi + u0, int(dv), true);  // + f_chi[n+1] (Eq. 228)
        const T* beta = chi;
        int64_t ldb = dv;
        if (proj) {
#pragma omp barrier
          // every column of chi[n] is there
          Wq.apply(M, chi, int(dv), beta_buf + c0, int(d), false);  // beta = W_qdr^T chi (Eq. 218)
          beta = beta_buf;
          ldb = d;
        }
        const T* g_n = Gt + n * BGd;
        const T* s_prev = n == 0 ? s0 : S + o - Bd;
        cells_readout_back<T, DIAG, CLIP>(M, dt, d, Gd, beta + c0, ldb, g_n + c0, R + o + c0, wc, c, al_n + c0,
                                          psi_loc + c0);
        if (full) {
#pragma omp barrier
          // every cell's alpha_cr[n] is there
          Wscr.apply(M, al_n, int(Gd), psi_loc + c0, int(d), true);  // + W_scr^T alpha_cr (E6)
        }
        std::fill(part.begin(), part.end(), T(0));
        cells_state_back<T, DIAG, GATE, CLIP>(M, dt, d, psi_loc + c0, carry + c0, g_n + c0, A + n * BGd + c0,
                                              S + o + c0, s_prev + c0, d, wc, c, al_n + c0,
                                              GATE ? alpha_xdu + o + c0 : nullptr, carry_next + c0,
                                              psi_out ? psi_out + o + c0 : nullptr, part.data() + c0);
        if (full) {
#pragma omp barrier
          // every cell's alpha[n] of the state's accumulations is there
          WsP.apply(M, al_n + d, int(Gd), carry_next + c0, int(d), true);  // + W_s..^T alpha (Eq. 229)
        }
        for (int64_t q = 0; q < np; ++q) own[q] += double(part[q]);
        std::swap(carry, carry_next);
#pragma omp barrier
        // alpha[n] is complete: step n-1 may read it
      }
      for (int i = 0; i < M; ++i)
        if (dt > 0) std::memcpy(ds0 + i * d + c0, carry + i * d + c0, sizeof(T) * dt);  // dE/ds[-1]
      Wv.apply(M, alpha, int(Gd), dv0 + u0, int(dv), false);  // dE/dv[-1] = W_v^T alpha[0]
    }
  }

  void run(int nt, bool split_cells) const {
    const int64_t Gd = G * d, np = nparts();
    const bool diag = sw == kDiagonal, clipped = c > T(0);
    std::vector<double> own(size_t(std::max(nt, 1)) * np, 0.0);
    if (split_cells && nt > 1) {
      std::vector<T> scratch(size_t(B * dv + 4 * B * d));
      with_flags([&](auto D, auto Gt_, auto C) {
        this->template cells<decltype(D)::value, decltype(Gt_)::value, decltype(C)::value>(nt, scratch.data(), own.data());
      }, diag, gate, clipped);
    } else {
      // The same weights as the forward pass, now multiplied from the other side (W^T alpha).
      Packed<T> Wv(W_v, int(dv), int(Gd), int(dv), false);
      Packed<T> WsP, Wscr, Wq;
      if (sw == kFull) {
        WsP = Packed<T>(W_s + d * d, int(d), int((G - 2) * d), int(d), false);
        Wscr = Packed<T>(W_s, int(d), int(d), int(d), false);
      }
      if (W_qdr) Wq = Packed<T>(W_qdr, int(d), int(dv), int(d), false);
      auto chunk = [&](int k, int chunks, int t) {
        int64_t r0, r1;
        rows_of(k, chunks, B, r0, r1);
        double* mine = own.data() + size_t(t) * np;
        with_flags([&](auto D, auto Gt_, auto C) {
          this->template rows<decltype(D)::value, decltype(Gt_)::value, decltype(C)::value>(r0, r1, Wv, WsP, Wscr, Wq,
                                                                                            mine);
        }, diag, gate, clipped);
      };
      if (nt <= 1) {
        chunk(0, 1, 0);
      } else {
        const int chunks = chunks_for(B, nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int k = 0; k < chunks; ++k) chunk(k, chunks, omp_get_thread_num());
      }
    }
    for (int t = 0; t < std::max(nt, 1); ++t)  // (slots of threads the runtime did not start stay zero)
      for (int64_t q = 0; q < np; ++q) sums[q] += own[size_t(t) * np + q];
  }
};

// The caller's thread count: one inside another parallel region (no nesting); splitting rows, at most
// one thread per row.
int team(int64_t threads, int64_t B, bool split_cells) {
  if (at::in_parallel_region()) return 1;
  return int(std::max<int64_t>(1, split_cells ? threads : std::min<int64_t>(threads, B)));
}

int sw_code(const std::string& mode) {
  if (mode == "full") return kFull;
  if (mode == "diagonal") return kDiagonal;
  return kNone;
}

// Forward loop. A (N, B, Gd) input terms; bias (Gd); W_v (Gd, dv); W_s ((G-1)d, d) full, ((G-1)d)
// diagonal, or None; W_qdr (dv, d) or None; v0 (B, dv); s0 (B, d). Writes v (N, B, dv), s_last (B, d)
// and, when given, the record Gt (N, B, Gd), S, R (N, B, d), Q (N, B, d) (projection only).
//
// Instead of A, inference with the rows split may pass x (N, B, m) and W_x (G d, L m) with A = None:
// each step then forms its own input terms (no (N, B, G d) buffer, no separate product before the loop).
void forward_loop(std::optional<at::Tensor> A, at::Tensor bias, at::Tensor W_v, std::optional<at::Tensor> W_s,
                  std::optional<at::Tensor> W_qdr, at::Tensor v0, at::Tensor s0, at::Tensor v, at::Tensor s_last,
                  std::optional<at::Tensor> Gt, std::optional<at::Tensor> S, std::optional<at::Tensor> R,
                  std::optional<at::Tensor> Q, std::string state_weights, bool gate, int64_t threads, bool split_cells,
                  std::optional<at::Tensor> x, std::optional<at::Tensor> W_x, int64_t L) {
  const int64_t N = v.size(0), B = v.size(1), G = gate ? 5 : 4, d = bias.size(0) / G, dv = W_v.size(1);
  TORCH_CHECK(A.has_value() || (x.has_value() && W_x.has_value() && !Gt.has_value() && !split_cells),
              "forward_loop: without A, give x and W_x, for inference with the rows split");
  const int64_t m = x ? x->size(2) : 0;
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "lstm_forward_loop", [&] {
    using T = scalar_t;
    Forward<T>{N, B, d, dv, G, sw_code(state_weights), gate, ptr<T>(A), bias.data_ptr<T>(), W_v.data_ptr<T>(),
               ptr<T>(W_s), ptr<T>(W_qdr), v0.data_ptr<T>(), s0.data_ptr<T>(), v.data_ptr<T>(), s_last.data_ptr<T>(),
               ptr<T>(Gt), ptr<T>(S), ptr<T>(R), ptr<T>(Q), ptr<T>(x), ptr<T>(W_x), m, L}
        .run(team(threads, B, split_cells), split_cells);
  });
}

// Backward loop, from the record of forward_loop and the derivatives grad_v (N, B, dv), grad_s
// (B, d) = dE/ds[N-1]. Writes alpha (N, B, Gd), alpha_xdu (N, B, d) with the gate, chi (N, B, dv)
// when given (projection), psi (N, B, d) when given, ds0 (B, d), dv0 (B, dv), and adds to sums
// (float64: Gd bias gradient, then (G-1) d diagonal state-weight gradient).
void backward_loop(at::Tensor A, at::Tensor W_v, std::optional<at::Tensor> W_s, std::optional<at::Tensor> W_qdr,
                   at::Tensor v0, at::Tensor s0, at::Tensor Gt, at::Tensor S, at::Tensor R, at::Tensor grad_v,
                   at::Tensor grad_s, at::Tensor alpha, std::optional<at::Tensor> alpha_xdu,
                   std::optional<at::Tensor> chi, std::optional<at::Tensor> psi, at::Tensor ds0, at::Tensor dv0,
                   at::Tensor sums, std::string state_weights, bool gate, double clip_alpha, int64_t threads,
                   bool split_cells) {
  const int64_t N = A.size(0), B = A.size(1), G = gate ? 5 : 4, d = A.size(2) / G, dv = W_v.size(1);
  AT_DISPATCH_FLOATING_TYPES(A.scalar_type(), "lstm_backward_loop", [&] {
    using T = scalar_t;
    Backward<T>{N, B, d, dv, G, sw_code(state_weights), gate, T(clip_alpha), A.data_ptr<T>(), W_v.data_ptr<T>(),
                ptr<T>(W_s), ptr<T>(W_qdr), v0.data_ptr<T>(), s0.data_ptr<T>(), Gt.data_ptr<T>(), S.data_ptr<T>(),
                R.data_ptr<T>(), grad_v.data_ptr<T>(), grad_s.data_ptr<T>(), alpha.data_ptr<T>(), ptr<T>(alpha_xdu),
                ptr<T>(chi), ptr<T>(psi), ds0.data_ptr<T>(), dv0.data_ptr<T>(), sums.data_ptr<double>()}
        .run(team(threads, B, split_cells), split_cells);
  });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward_loop", &forward_loop, "The LSTM layer's forward loop over time");
  m.def("backward_loop", &backward_loop, "The LSTM layer's backward loop over time");
}
