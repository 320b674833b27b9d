// The two loops over time of the vanilla LSTM layer, compiled (CPU, float and double).
//
// They run exactly the equations of the Python reference loops in lstm_lib/lstm_training.py:
// recurrence_forward (eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v) and recurrence_backward
// (eq:lstm_training-chi to eq:lstm_training-alpha_du, with the bias and peephole gradients of
// eq:lstm_training-grad-x and eq:lstm_training-grad-w). The Python side (lstm_lib/_lstm_kernels.py)
// allocates the buffers and does the work before and after the loops; every tensor passed here is
// contiguous, on the CPU, of one floating dtype. The block order of the fused (.., 4d) tensors is
// (cr, cs, cu, du).
//
// How the work is split. Each loop runs as ONE team of threads for all N steps. Thread t owns a
// slice of the d cells, [c0, c1), in all four blocks: it computes the recurrent terms of its own
// cells with its own single-threaded matrix product (BLAS gemm), then every element-wise equation of
// its cells, and then waits at a barrier, because step n+1 needs v[n] (forward) or alpha[n]
// (backward) of every cell. So each step costs one barrier and no fork or join, and the element-wise
// pass reads the product while it is still in the thread's cache. Before the loop each thread copies
// its columns of W_v into a small contiguous block (its weights for the whole loop). A thread also
// owns the parameter gradients of its cells (bias and peepholes), so it sums them without locks.
//
// (The barrier is written inside the `omp parallel` block itself: GCC 12 misplaced an orphaned
// `omp barrier` inside a lambda called from the parallel region, which made the backward loop race.)

#include <ATen/Parallel.h>
#include <omp.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <type_traits>

// The Fortran BLAS gemm that PyTorch's CPU library exports (MKL's, 32-bit integers).
extern "C" {
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c, const int* ldc);
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc);
}

namespace {

// How many threads share a loop: at most PyTorch's intra-op threads, each owning at least 16 cells
// and at least about 2048 of the B x d cells (below that, a barrier per step costs more than it saves).
int team_size(int64_t B, int64_t d) {
  const int64_t by_cells = d / 16, by_work = B * d / 2048;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({at::get_num_threads(), by_cells, by_work})));
}

// The slice of cells [c0, c1) of thread t among nt: whole multiples of 16 cells (one AVX-512 vector
// of floats), the last slices taking what is left, possibly nothing.
struct Slice {
  int64_t c0, c1;
  int64_t size() const { return c1 - c0; }
};

Slice slice_of(int t, int nt, int64_t d) {
  const int64_t per = ((d + nt - 1) / nt + 15) / 16 * 16;
  const int64_t c0 = std::min<int64_t>(d, t * per);
  return {c0, std::min<int64_t>(d, c0 + per)};
}

// C (rows x cols, row-major, leading dimension ldc) = X (rows x k, row-major, ldx) @ W (k x cols,
// row-major, ldw): a single-threaded BLAS gemm (BLAS is column-major, hence the swapped operands).
template <typename T>
void product(int64_t rows, int64_t cols, int64_t k, const T* X, int64_t ldx, const T* W, int64_t ldw, T* C,
             int64_t ldc) {
  const int m_ = int(cols), n_ = int(rows), k_ = int(k), la = int(ldw), lb = int(ldx), lc = int(ldc);
  const T one = 1, zero = 0;
  if constexpr (std::is_same_v<T, float>)
    sgemm_("N", "N", &m_, &n_, &k_, &one, W, &la, X, &lb, &zero, C, &lc);
  else
    dgemm_("N", "N", &m_, &n_, &k_, &one, W, &la, X, &lb, &zero, C, &lc);
}

template <typename T>
inline T G_c(T a) {  // the logistic sigmoid
  return T(1) / (T(1) + std::exp(-a));
}

// One forward step for the cells of one slice (dt cells) of all B rows. a_x, g: the input terms and
// the gates (row stride 4d, block stride d); a_v: the slice's recurrent terms W_v.. v[n-1] (row
// stride 4dt, block stride dt); s_prev, s, r, v: row stride d; bias, w_s: block stride d. Every
// pointer already points at the slice's first cell. g receives g_cr, g_cs, g_cu and the data update u.
template <typename T, bool PEEP>
void forward_cells(int64_t B, int64_t dt, int64_t d, const T* a_x, const T* a_v, const T* bias, T* g,
                   const T* s_prev, T* s, T* r, T* v, const T* w_s) {
  const T *b_cr = bias, *b_cs = bias + d, *b_cu = bias + 2 * d, *b_du = bias + 3 * d;
  for (int64_t b = 0; b < B; ++b) {
    const T* axb = a_x + b * 4 * d;
    const T* avb = a_v + b * 4 * dt;
    T* gb = g + b * 4 * d;
    const T* spb = s_prev + b * d;
    T* sb = s + b * d;
    T* rb = r + b * d;
    T* vb = v + b * d;
#pragma omp simd
    for (int64_t j = 0; j < dt; ++j) {
      // W_x.. x[n] + W_v.. v[n-1] + b_..
      T a_cr = axb[j] + avb[j] + b_cr[j], a_cs = axb[d + j] + avb[dt + j] + b_cs[j];
      T a_cu = axb[2 * d + j] + avb[2 * dt + j] + b_cu[j];
      const T a_du = axb[3 * d + j] + avb[3 * dt + j] + b_du[j];
      const T sp = spb[j];
      if constexpr (PEEP) {
        a_cs += w_s[d + j] * sp;  // w_scs s[n-1]
        a_cu += w_s[2 * d + j] * sp;  // w_scu s[n-1]
      }
      const T g_cs = G_c(a_cs), g_cu = G_c(a_cu), u = std::tanh(a_du);
      const T sn = g_cs * sp + g_cu * u;  // s = g_cs s[n-1] + g_cu u
      if constexpr (PEEP) a_cr += w_s[j] * sn;  // w_scr s[n]
      const T g_cr = G_c(a_cr), rn = std::tanh(sn);
      gb[j] = g_cr;
      gb[d + j] = g_cs;
      gb[2 * d + j] = g_cu;
      gb[3 * d + j] = u;
      sb[j] = sn;
      rb[j] = rn;
      vb[j] = g_cr * rn;  // v = g_cr G_d(s)
    }
  }
}

// The parameter gradients a thread sums for the cells of its slice, in double (eq:lstm_training-grad-x
// and eq:lstm_training-grad-w): sum_n alpha[n] for the bias (4 blocks, block stride d), and with
// peepholes sum_n alpha_cr[n] s[n], alpha_cs[n] s[n-1], alpha_cu[n] s[n-1] (3 blocks, block stride d).
struct ParamSums {
  double* b;
  double* w;
};

// One backward step for the cells of one slice (dt cells) of all B rows: from chi[n] = dE/dv[n] +
// (W_v^T alpha[n+1]) (given as its two terms gv, row stride d, and back, row stride dt) and the
// carried part of psi[n], the alphas of step n (row stride 4d, block stride d), psi[n] (into psi_out,
// row stride d), and the part of psi[n] carried to step n-1 (plus dE/ds[n-1] from outside, gs_prev).
// The step's terms of the parameter gradients are summed over the B rows in `part` (7 rows of dt, in
// T), then added to `sums` in double: B times fewer conversions and double additions than summing
// every cell's terms in double, and still accurate (B terms per step in T).
template <typename T, bool PEEP>
void backward_cells(int64_t B, int64_t dt, int64_t d, const T* gv, const T* back, const T* g, const T* r,
                    const T* s_prev, const T* s, const T* gs_prev, T* carry, T* alpha, T* psi_out, const T* w_s,
                    T* part, ParamSums sums) {
  std::fill(part, part + 7 * dt, T(0));
  T *p_cr = part, *p_cs = part + dt, *p_cu = part + 2 * dt, *p_du = part + 3 * dt;
  T *q_cr = part + 4 * dt, *q_cs = part + 5 * dt, *q_cu = part + 6 * dt;
  for (int64_t b = 0; b < B; ++b) {
    const T* gb = g + b * 4 * d;
    T* ab = alpha + b * 4 * d;
    const T* backb = back + b * dt;
    const int64_t o = b * d;
#pragma omp simd
    for (int64_t j = 0; j < dt; ++j) {
      const T c = gv[o + j] + backb[j], rn = r[o + j], sp = s_prev[o + j];  // chi[n]
      const T g_cr = gb[j], g_cs = gb[d + j], g_cu = gb[2 * d + j], u = gb[3 * d + j];
      const T D_cr = rn * (g_cr - g_cr * g_cr);  // r G_c'(a_cr)
      T K = g_cr * (T(1) - rn * rn);  // g_cr G_d'(s)
      if constexpr (PEEP) K += w_s[j] * D_cr;
      const T psi = carry[o + j] + c * K;
      const T D_cs = sp * (g_cs - g_cs * g_cs), D_cu = u * (g_cu - g_cu * g_cu), D_du = g_cu * (T(1) - u * u);
      const T a_cr = c * D_cr, a_cs = psi * D_cs, a_cu = psi * D_cu, a_du = psi * D_du;
      ab[j] = a_cr;
      ab[d + j] = a_cs;
      ab[2 * d + j] = a_cu;
      ab[3 * d + j] = a_du;
      p_cr[j] += a_cr;
      p_cs[j] += a_cs;
      p_cu[j] += a_cu;
      p_du[j] += a_du;
      T F = g_cs;
      if constexpr (PEEP) {
        F += w_s[d + j] * D_cs + w_s[2 * d + j] * D_cu;
        q_cr[j] += a_cr * s[o + j];
        q_cs[j] += a_cs * sp;
        q_cu[j] += a_cu * sp;
      }
      carry[o + j] = gs_prev[o + j] + psi * F;
      psi_out[o + j] = psi;
    }
  }
  for (int64_t q = 0; q < (PEEP ? 7 : 4); ++q) {
    double* to = q < 4 ? sums.b + q * d : sums.w + (q - 4) * d;
#pragma omp simd
    for (int64_t j = 0; j < dt; ++j) to[j] += double(part[q * dt + j]);
  }
}

// The forward loop of one team: the tensors of forward_loop as pointers.
template <typename T>
struct ForwardLoop {
  int64_t N, B, d;
  const T *A, *bias, *W_v, *w_s;  // w_s: nullptr without peepholes
  T *Gt, *V, *S, *R;
  T *packed, *terms;  // d x 4d and B x 4d: each thread's block of W_v^T and of its recurrent terms

  void run(int threads) const {
    const int64_t bd = B * d;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      const int nt = omp_get_num_threads();
      const Slice sl = slice_of(omp_get_thread_num(), nt, d);
      const int64_t c0 = sl.c0, dt = sl.size();
      // Wt (d, 4dt): Wt[k][q dt + j] = W_v[q d + c0 + j][k], so that v[n-1] @ Wt holds the slice's terms.
      T* Wt = packed + d * 4 * c0;
      for (int64_t k = 0; k < d; ++k)
        for (int64_t q = 0; q < 4; ++q)
          for (int64_t j = 0; j < dt; ++j) Wt[k * 4 * dt + q * dt + j] = W_v[(q * d + c0 + j) * d + k];
      T* a_v = terms + B * 4 * c0;
      for (int64_t n = 0; n < N; ++n) {
        if (dt > 0) {  // (a thread left without cells still joins every barrier)
          product<T>(B, 4 * dt, d, V + n * bd, d, Wt, 4 * dt, a_v, 4 * dt);  // W_v.. v[n-1]
          const int64_t o = n * bd + c0, o4 = n * 4 * bd + c0;
          if (w_s)
            forward_cells<T, true>(B, dt, d, A + o4, a_v, bias + c0, Gt + o4, S + o, S + o + bd, R + o, V + o + bd,
                                   w_s + c0);
          else
            forward_cells<T, false>(B, dt, d, A + o4, a_v, bias + c0, Gt + o4, S + o, S + o + bd, R + o, V + o + bd,
                                    nullptr);
        }
        if (nt > 1 && n + 1 < N) {
#pragma omp barrier
        }
      }
    }
  }
};

// The backward loop of one team: the tensors of backward_loop as pointers.
template <typename T>
struct BackwardLoop {
  int64_t N, B, d;
  const T *W_v, *w_s, *S, *Gt, *R, *grad_v;  // w_s: nullptr without peepholes
  const T* grad_s;  // (N, B, d) dE/ds[n] from outside, or nullptr: only dE/ds[N-1] (already in carry)
  const T* zeros;  // B x d zeros
  T *alpha, *carry;
  T* psi_out;  // (N, B, d), or nullptr: psi then goes to a scratch row per thread
  double* sums;  // 7d: the bias's 4 blocks, then the peepholes' 3
  T *packed, *terms, *scratch;  // 4d x d, B x d, (B + 7) x d: each thread's block of W_v, W_v^T alpha[n+1],
                                // psi and the parameter gradients' partial sums

  void run(int threads) const {
    const int64_t bd = B * d;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      const int nt = omp_get_num_threads();
      const Slice sl = slice_of(omp_get_thread_num(), nt, d);
      const int64_t c0 = sl.c0, dt = sl.size();
      // Wb (4d, dt): the slice's columns of W_v, so that alpha[n+1] @ Wb is the slice's W_v^T alpha[n+1].
      T* Wb = packed + 4 * d * c0;
      for (int64_t i = 0; i < 4 * d; ++i)
        for (int64_t j = 0; j < dt; ++j) Wb[i * dt + j] = W_v[i * d + c0 + j];
      T* back = terms + B * c0;  // zero at n = N-1: nothing comes back from step N
      const ParamSums own{sums + c0, sums + 4 * d + c0};
      for (int64_t n = N - 1; n >= 0; --n) {
        if (dt > 0) {  // (a thread left without cells still joins every barrier)
          if (n < N - 1) product<T>(B, dt, 4 * d, alpha + (n + 1) * 4 * bd, 4 * d, Wb, dt, back, dt);
          const int64_t o = n * bd + c0, o4 = n * 4 * bd + c0;
          const T* gs_prev = (n > 0 && grad_s ? grad_s + (n - 1) * bd : zeros) + c0;
          T* psi = psi_out ? psi_out + o : scratch + c0;
          T* part = scratch + bd + 7 * c0;
          if (w_s)
            backward_cells<T, true>(B, dt, d, grad_v + o, back, Gt + o4, R + o, S + o, S + o + bd, gs_prev,
                                    carry + c0, alpha + o4, psi, w_s + c0, part, own);
          else
            backward_cells<T, false>(B, dt, d, grad_v + o, back, Gt + o4, R + o, S + o, S + o + bd, gs_prev,
                                     carry + c0, alpha + o4, psi, nullptr, part, own);
        }
        if (nt > 1 && n > 0) {
#pragma omp barrier
        }
      }
    }
  }
};

template <typename T>
T* ptr(const std::optional<at::Tensor>& t) {
  return t ? t->data_ptr<T>() : nullptr;
}

// A (N, B, 4d) holds the input terms W_x x[n]; bias (4d); Gt (N, B, 4d) receives the gates; V, S
// (N+1, B, d) hold v[-1], s[-1] in row 0 on entry; R (N, B, d) receives G_d(s). W_v (4d, d).
// Scratch space: packed (4d d elements) and terms (4 B d).
void forward_loop(at::Tensor A, at::Tensor bias, at::Tensor Gt, at::Tensor W_v, std::optional<at::Tensor> w_s,
                  at::Tensor V, at::Tensor S, at::Tensor R, at::Tensor packed, at::Tensor terms) {
  const int64_t N = Gt.size(0), B = Gt.size(1), d = Gt.size(2) / 4;
  AT_DISPATCH_FLOATING_TYPES(Gt.scalar_type(), "lstm_forward_loop", [&] {
    using T = scalar_t;
    ForwardLoop<T>{N,
                   B,
                   d,
                   A.data_ptr<T>(),
                   bias.data_ptr<T>(),
                   W_v.data_ptr<T>(),
                   ptr<T>(w_s),
                   Gt.data_ptr<T>(),
                   V.data_ptr<T>(),
                   S.data_ptr<T>(),
                   R.data_ptr<T>(),
                   packed.data_ptr<T>(),
                   terms.data_ptr<T>()}
        .run(team_size(B, d));
  });
}

// Fills alpha (N, B, 4d) and psi_out (N, B, d) if given, and adds to sums (7d, float64) sum_n alpha[n]
// (4d) and, with peepholes, sum_n alpha_cr s[n], alpha_cs s[n-1], alpha_cu s[n-1] (3d). S is (N+1, B,
// d). grad_s is dE/ds[n] from outside for every step (N, B, d), or for the last step only (B, d).
// Returns dE/ds[-1] (B, d). Scratch space: packed (4d d elements) and terms (B d).
at::Tensor backward_loop(at::Tensor W_v, std::optional<at::Tensor> w_s, at::Tensor S, at::Tensor Gt, at::Tensor R,
                         at::Tensor grad_v, at::Tensor grad_s, at::Tensor alpha, std::optional<at::Tensor> psi_out,
                         at::Tensor sums, at::Tensor packed, at::Tensor terms) {
  const int64_t N = Gt.size(0), B = Gt.size(1), d = Gt.size(2) / 4;
  const bool every_step = grad_s.dim() == 3;
  // psi[N-1] before the local terms: dE/ds[N-1] from outside
  at::Tensor carry = (every_step ? grad_s[N - 1] : grad_s).clone();
  at::Tensor zeros = at::zeros({B * d}, W_v.options());
  at::Tensor scratch = at::empty({(B + 7) * d}, W_v.options());
  terms.zero_();
  AT_DISPATCH_FLOATING_TYPES(Gt.scalar_type(), "lstm_backward_loop", [&] {
    using T = scalar_t;
    BackwardLoop<T>{N,
                    B,
                    d,
                    W_v.data_ptr<T>(),
                    ptr<T>(w_s),
                    S.data_ptr<T>(),
                    Gt.data_ptr<T>(),
                    R.data_ptr<T>(),
                    grad_v.data_ptr<T>(),
                    every_step ? grad_s.data_ptr<T>() : nullptr,
                    zeros.data_ptr<T>(),
                    alpha.data_ptr<T>(),
                    carry.data_ptr<T>(),
                    ptr<T>(psi_out),
                    sums.data_ptr<double>(),
                    packed.data_ptr<T>(),
                    terms.data_ptr<T>(),
                    scratch.data_ptr<T>()}
        .run(team_size(B, d));
  });
  return carry;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward_loop", &forward_loop, "The forward loop of the vanilla LSTM over time (in place)");
  m.def("backward_loop", &backward_loop, "The backward loop of the vanilla LSTM over time; returns dE/ds[-1]");
  m.def(
      "storage_use_count", [](const at::Tensor& t) { return t.storage().use_count(); },
      "How many references the storage of t has (1: only t itself)");
}
