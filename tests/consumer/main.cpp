// Out-of-tree C++ consumer (scripts/consumer-test.sh): seqgrad's C API from C++ (extern "C"
// guards), a small LSTM forward and backward on a model, owned through RAII.
#include <seqgrad/seqgrad.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

struct model_deleter {
    void operator()(sg_model *m) const { sg_model_free(m); }
};

int main() {
    std::unique_ptr<sg_model, model_deleter> m(sg_model_new(SG_F64));
    sg_rnn_config cfg{};
    cfg.cell = SG_CELL_LSTM;
    cfg.input_size = 3;
    cfg.hidden_size = 4;
    cfg.num_layers = 1;
    sg_rnn *lstm = sg_rnn_new(m.get(), "lstm", &cfg);
    if (!lstm || sg_model_finalize(m.get(), 42) != SG_OK) {
        std::fprintf(stderr, "%s\n", sg_last_error());
        return 1;
    }
    const int64_t T = 5, B = 2;
    std::vector<double> xs(T * B * 3);
    for (size_t i = 0; i < xs.size(); i++) xs[i] = std::sin(0.3 * double(i));
    const int64_t shape[3] = {T, B, 3};
    sg_tensor *x = sg_from_buffer(SG_F64, 3, shape, xs.data(), SG_F64);
    sg_rnn_out out{};
    if (sg_rnn_forward(lstm, x, nullptr, nullptr, nullptr, &out) != SG_OK) {
        std::fprintf(stderr, "%s\n", sg_last_error());
        return 1;
    }
    sg_tensor *loss = sg_sum_all(out.output);
    if (!loss || sg_backward(loss) != SG_OK) {
        std::fprintf(stderr, "%s\n", sg_last_error());
        return 1;
    }
    double gnorm = 0;
    sg_tensor *g = sg_model_flat_grads(m.get());
    for (int64_t i = 0; i < sg_numel(g); i++) gnorm += sg_get_flat(g, i) * sg_get_flat(g, i);  // padding: zeros
    bool ok = std::isfinite(gnorm) && gnorm > 0 && sg_library_version()->blas_openmp;
    std::printf("consumer (C++): seqgrad %s, LSTM %d params, loss %.6f, |grad| %.6f: %s\n",
                sg_library_version()->string, int(sg_model_numel(m.get())), sg_get_flat(loss, 0), std::sqrt(gnorm),
                ok ? "ok" : "WRONG");
    sg_tape_clear();
    sg_tensor_free(x);
    return ok ? 0 : 1;
}
