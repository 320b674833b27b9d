// The two loops over time of the vanilla LSTM layer, compiled (CPU, float and double).
//
// They run exactly the equations of the Python reference loops in lstm_lib/lstm_training.py:
// recurrence_forward (eq:vanilla_lstm-a_cs to eq:vanilla_lstm-v) and recurrence_backward
// (eq:lstm_training-chi to eq:lstm_training-alpha_du). Per step: one matrix product for the four
// recurrent terms, then ONE loop over the B x d cells for everything element-wise, which also adds
// that product to the terms it belongs to (the input terms forward, dE/dv backward).
// The matrix product: for float32, when the Python side asks for it, oneDNN's linear with the weight
// reordered ("prepacked") once per loop into its blocked layout, which for these small, skinny
// products (B rows) is much faster than the BLAS sgemm; otherwise (float64, no oneDNN) at::mm.
// The Python side (lstm_lib/_lstm_kernels.py) allocates the buffers and does the work before and
// after the loops; every tensor passed here is contiguous, on the CPU, of one floating dtype.
// The block order of the fused (.., 4d) tensors is (cr, cs, cu, du).

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/extension.h>

#include <cmath>
#include <optional>
#include <vector>

namespace {

// Rows of the batch per thread: split the B x d cells over PyTorch's threads only when each
// thread gets at least about 2048 of them.
inline int64_t grain(int64_t d) { return std::max<int64_t>(1, 2048 / d); }

// The recurrent product X @ W^T of one step, W given as (out, in). Made once per loop, then called
// every step. With oneDNN, W is reordered once into oneDNN's layout for a batch of X.size(0) rows
// and each step calls the operator mkldnn::_linear_pointwise through the dispatcher (no Python in
// between); it returns a new tensor. Otherwise at::mm writes into one buffer reused every step.
// Either way the caller adds the result in its element-wise loop.
class StepProduct {
 public:
  StepProduct(const at::Tensor& W, int64_t batch, bool onednn) : onednn_(onednn) {
    if (onednn_) {
      static const auto reorder = c10::Dispatcher::singleton()
                                      .findSchemaOrThrow("mkldnn::_reorder_linear_weight", "")
                                      .typed<at::Tensor(const at::Tensor&, std::optional<int64_t>)>();
      W_ = reorder.call(W.contiguous(), batch);
    } else {
      W_ = W.t();  // (in, out), a view: X @ W^T
      out_ = at::empty({batch, W.size(0)}, W.options());
    }
  }

  at::Tensor operator()(const at::Tensor& X) {
    if (!onednn_) return at::mm_out(out_, X, W_);
    static const auto linear =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
            .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                              c10::string_view, c10::List<std::optional<at::Scalar>>,
                              std::optional<c10::string_view>)>();
    return linear.call(X, W_, std::nullopt, "none", c10::List<std::optional<at::Scalar>>(), "");
  }

 private:
  bool onednn_;
  at::Tensor W_, out_;
};

template <typename T>
inline T G_c(T a) {  // the logistic sigmoid
  return T(1) / (T(1) + std::exp(-a));
}

// One forward step for all B x d cells. The accumulations a_cr, a_cs, a_cu, a_du without the
// peepholes are the input terms a_x plus the recurrent terms a_v = W_v v[n-1] (both B x 4d); g
// receives the gates g_cr, g_cs, g_cu and the data update u.
template <typename T, bool PEEP>
void forward_cells(int64_t B, int64_t d, const T* a_x, const T* a_v, T* g, const T* s_prev, T* s, T* r, T* v,
                   const T* w_s) {
  for (int64_t b = 0; b < B; ++b) {
    const T* axb = a_x + b * 4 * d;
    const T* avb = a_v + b * 4 * d;
    T* gb = g + b * 4 * d;
    const T* spb = s_prev + b * d;
    T* sb = s + b * d;
    T* rb = r + b * d;
    T* vb = v + b * d;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) {
      T a_cr = axb[j] + avb[j], a_cs = axb[d + j] + avb[d + j];  // W_x.. x[n] + b_.. + W_v.. v[n-1]
      T a_cu = axb[2 * d + j] + avb[2 * d + j], a_du = axb[3 * d + j] + avb[3 * d + j];
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

// One backward step for all B x d cells: from chi[n] = dE/dv[n] + (W_v^T alpha[n+1]) (given as its
// two terms gv and back, both B x d) and the carried part of psi[n], the alphas of step n, psi[n],
// and the part of psi[n] carried to step n-1 (plus dE/ds[n-1] from outside).
template <typename T, bool PEEP>
void backward_cells(int64_t B, int64_t d, const T* gv, const T* back, const T* g, const T* r, const T* s_prev,
                    const T* gs_prev, T* carry, T* alpha, T* psi_out, const T* w_s) {
  for (int64_t b = 0; b < B; ++b) {
    const T* gb = g + b * 4 * d;
    T* ab = alpha + b * 4 * d;
    const int64_t o = b * d;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) {
      const T c = gv[o + j] + back[o + j], rn = r[o + j], sp = s_prev[o + j];  // chi[n]
      const T g_cr = gb[j], g_cs = gb[d + j], g_cu = gb[2 * d + j], u = gb[3 * d + j];
      const T D_cr = rn * (g_cr - g_cr * g_cr);  // r G_c'(a_cr)
      T K = g_cr * (T(1) - rn * rn);  // g_cr G_d'(s)
      if constexpr (PEEP) K += w_s[j] * D_cr;
      const T psi = carry[o + j] + c * K;
      const T D_cs = sp * (g_cs - g_cs * g_cs), D_cu = u * (g_cu - g_cu * g_cu), D_du = g_cu * (T(1) - u * u);
      ab[j] = c * D_cr;  // alpha_cr
      ab[d + j] = psi * D_cs;  // alpha_cs
      ab[2 * d + j] = psi * D_cu;  // alpha_cu
      ab[3 * d + j] = psi * D_du;  // alpha_du
      T F = g_cs;
      if constexpr (PEEP) F += w_s[d + j] * D_cs + w_s[2 * d + j] * D_cu;
      carry[o + j] = gs_prev[o + j] + psi * F;
      psi_out[o + j] = psi;
    }
  }
}

// A (N, B, 4d) holds the input terms; Gt (same shape) receives the gates; V, S (N+1, B, d) hold
// v[-1], s[-1] in row 0 on entry; R (N, B, d) receives G_d(s). W_v (4d, d). onednn: the product
// through oneDNN (float32 only).
void forward_loop(at::Tensor A, at::Tensor Gt, at::Tensor W_v, std::optional<at::Tensor> w_s, at::Tensor V, at::Tensor S,
                  at::Tensor R, bool onednn) {
  const int64_t N = Gt.size(0), B = Gt.size(1), d = Gt.size(2) / 4;
  StepProduct recurrent(W_v, B, onednn);  // v[n-1] -> W_v v[n-1], for all four blocks at once
  std::vector<at::Tensor> V_n = V.unbind(0);
  AT_DISPATCH_FLOATING_TYPES(Gt.scalar_type(), "lstm_forward_loop", [&] {
    const scalar_t* ws = w_s ? w_s->data_ptr<scalar_t>() : nullptr;
    const scalar_t* ax = A.data_ptr<scalar_t>();
    scalar_t* g = Gt.data_ptr<scalar_t>();
    scalar_t* s = S.data_ptr<scalar_t>();
    scalar_t* r = R.data_ptr<scalar_t>();
    scalar_t* v = V.data_ptr<scalar_t>();
    const int64_t bd = B * d;
    for (int64_t n = 0; n < N; ++n) {
      const at::Tensor a_v = recurrent(V_n[n]);  // W_v.. v[n-1], (B, 4d)
      const scalar_t* av = a_v.data_ptr<scalar_t>();
      at::parallel_for(0, B, grain(d), [&](int64_t b0, int64_t b1) {
        const int64_t o = b0 * d, o4 = n * 4 * bd + b0 * 4 * d;
        if (ws)
          forward_cells<scalar_t, true>(b1 - b0, d, ax + o4, av + b0 * 4 * d, g + o4, s + n * bd + o,
                                        s + (n + 1) * bd + o, r + n * bd + o, v + (n + 1) * bd + o, ws);
        else
          forward_cells<scalar_t, false>(b1 - b0, d, ax + o4, av + b0 * 4 * d, g + o4, s + n * bd + o,
                                         s + (n + 1) * bd + o, r + n * bd + o, v + (n + 1) * bd + o, ws);
      });
    }
  });
}

// Fills alpha (N, B, 4d) and psi_out (N, B, d); returns dE/ds[-1] (B, d). S is (N+1, B, d).
// onednn: the product through oneDNN (float32 only).
at::Tensor backward_loop(at::Tensor W_v, std::optional<at::Tensor> w_s, at::Tensor S, at::Tensor Gt, at::Tensor R,
                         at::Tensor grad_v, at::Tensor grad_s, at::Tensor alpha, at::Tensor psi_out, bool onednn) {
  const int64_t N = Gt.size(0), B = Gt.size(1), d = Gt.size(2) / 4;
  StepProduct back(W_v.t(), B, onednn);  // alpha[n+1] -> W_v^T alpha[n+1]: the weight of this product is W_v^T
  std::vector<at::Tensor> a_n = alpha.unbind(0);
  at::Tensor carry = grad_s[N - 1].clone();  // psi[N-1] before the local terms: dE/ds[N-1] from outside
  at::Tensor zeros = at::zeros_like(carry);
  AT_DISPATCH_FLOATING_TYPES(Gt.scalar_type(), "lstm_backward_loop", [&] {
    const scalar_t* ws = w_s ? w_s->data_ptr<scalar_t>() : nullptr;
    const scalar_t* g = Gt.data_ptr<scalar_t>();
    const scalar_t* r = R.data_ptr<scalar_t>();
    const scalar_t* s = S.data_ptr<scalar_t>();
    const scalar_t* gv = grad_v.data_ptr<scalar_t>();
    const scalar_t* gs = grad_s.data_ptr<scalar_t>();
    const scalar_t* z = zeros.data_ptr<scalar_t>();
    scalar_t* a = alpha.data_ptr<scalar_t>();
    scalar_t* p = psi_out.data_ptr<scalar_t>();
    scalar_t* cr = carry.data_ptr<scalar_t>();
    const int64_t bd = B * d;
    for (int64_t n = N - 1; n >= 0; --n) {
      at::Tensor w_a;  // W_v^T alpha[n+1], (B, d); kept alive through the cells' loop
      const scalar_t* wa = z;  // chi[N-1] = dE/dv[N-1]: nothing comes back from step N
      if (n < N - 1) {
        w_a = back(a_n[n + 1]);
        wa = w_a.data_ptr<scalar_t>();
      }
      const scalar_t* gs_prev = n > 0 ? gs + (n - 1) * bd : z;
      at::parallel_for(0, B, grain(d), [&](int64_t b0, int64_t b1) {
        const int64_t o = b0 * d, o4 = b0 * 4 * d;
        if (ws)
          backward_cells<scalar_t, true>(b1 - b0, d, gv + n * bd + o, wa + o, g + n * 4 * bd + o4, r + n * bd + o,
                                         s + n * bd + o, gs_prev + o, cr + o, a + n * 4 * bd + o4, p + n * bd + o, ws);
        else
          backward_cells<scalar_t, false>(b1 - b0, d, gv + n * bd + o, wa + o, g + n * 4 * bd + o4, r + n * bd + o,
                                          s + n * bd + o, gs_prev + o, cr + o, a + n * 4 * bd + o4, p + n * bd + o,
                                          ws);
      });
    }
  });
  return carry;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward_loop", &forward_loop, "The forward loop of the vanilla LSTM over time (in place)");
  m.def("backward_loop", &backward_loop, "The backward loop of the vanilla LSTM over time; returns dE/ds[-1]");
}
