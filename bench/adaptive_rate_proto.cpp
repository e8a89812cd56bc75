// Prototype for bench/bench_adaptive_rate.py (not part of the package): Surprise's SVD SGD
// epoch with a constant rate, against the same loop with LIBMF's per-vector AdaGrad rates
// (Chin et al., "A learning-rate schedule for stochastic gradient methods to matrix
// factorization", PAKDD 2015: one accumulator per factor vector, the mean squared gradient
// over its k entries, rate eta / sqrt(1 + sum); one accumulator per bias). One thread, the
// ratings in storage order every epoch (as Surprise), the same initial draws for both.
// Writes the test RMSE (clipped to the rating scale) and the cumulated training seconds
// after every epoch: CPU time of the thread (the machine is shared; one thread), evaluation
// not counted.
#include <ctime>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

extern "C" int train_curve(int n_train, const std::int32_t* u, const std::int32_t* i,
                           const double* r, int n_users, int n_items, int k, double mu,
                           int n_test, const std::int32_t* tu, const std::int32_t* ti,
                           const double* tr, double lo, double hi, int adagrad, double lr,
                           double reg, int n_epochs, unsigned seed, double* out_rmse,
                           double* out_seconds) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> init(0.0, 0.1);
    std::vector<double> p(static_cast<std::size_t>(n_users) * k), q(static_cast<std::size_t>(n_items) * k);
    for (auto& x : p) x = init(gen);
    for (auto& x : q) x = init(gen);
    std::vector<double> bu(n_users, 0.0), bi(n_items, 0.0);
    std::vector<double> gp(n_users, 1.0), gq(n_items, 1.0), gbu(n_users, 1.0), gbi(n_items, 1.0);
    std::vector<double> grad_p(k), grad_q(k);
    double seconds = 0.0;
    auto cpu_now = [] {
        timespec t;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
    };
    for (int epoch = 0; epoch < n_epochs; ++epoch) {
        const double start = cpu_now();
        for (int j = 0; j < n_train; ++j) {
            double* pu = &p[static_cast<std::size_t>(u[j]) * k];
            double* qi = &q[static_cast<std::size_t>(i[j]) * k];
            double dot = 0.0;
            for (int f = 0; f < k; ++f) dot += pu[f] * qi[f];
            const double err = r[j] - (mu + bu[u[j]] + bi[i[j]] + dot);
            const double g_bu = err - reg * bu[u[j]], g_bi = err - reg * bi[i[j]];
            if (!adagrad) {
                bu[u[j]] += lr * g_bu;
                bi[i[j]] += lr * g_bi;
                for (int f = 0; f < k; ++f) {
                    const double puf = pu[f], qif = qi[f];
                    pu[f] += lr * (err * qif - reg * puf);
                    qi[f] += lr * (err * puf - reg * qif);
                }
                continue;
            }
            double sp = 0.0, sq = 0.0;
            for (int f = 0; f < k; ++f) {
                grad_p[f] = err * qi[f] - reg * pu[f];
                grad_q[f] = err * pu[f] - reg * qi[f];
                sp += grad_p[f] * grad_p[f];
                sq += grad_q[f] * grad_q[f];
            }
            const double rate_p = lr / std::sqrt(gp[u[j]]), rate_q = lr / std::sqrt(gq[i[j]]);
            for (int f = 0; f < k; ++f) {
                pu[f] += rate_p * grad_p[f];
                qi[f] += rate_q * grad_q[f];
            }
            gp[u[j]] += sp / k;
            gq[i[j]] += sq / k;
            bu[u[j]] += lr / std::sqrt(gbu[u[j]]) * g_bu;
            bi[i[j]] += lr / std::sqrt(gbi[i[j]]) * g_bi;
            gbu[u[j]] += g_bu * g_bu;
            gbi[i[j]] += g_bi * g_bi;
        }
        seconds += cpu_now() - start;
        double sse = 0.0;
        for (int j = 0; j < n_test; ++j) {
            double est = mu + bu[tu[j]] + bi[ti[j]];
            for (int f = 0; f < k; ++f)
                est += p[static_cast<std::size_t>(tu[j]) * k + f] * q[static_cast<std::size_t>(ti[j]) * k + f];
            est = std::fmin(hi, std::fmax(lo, est));
            sse += (tr[j] - est) * (tr[j] - est);
        }
        out_rmse[epoch] = std::sqrt(sse / n_test);
        out_seconds[epoch] = seconds;
        if (!std::isfinite(out_rmse[epoch])) return epoch + 1;
    }
    return n_epochs;
}
