// sgd_blocked.hpp: the fast SGD schedule for biased matrix factorisation.
//
// Algorithm: the update of every rating is sgd.hpp's (err from mu + bu + bi + <qi, pu>, then
// the biases, then the factors from their old values), but the ratings are visited in a
// blocked order. Users are split into B user bins and items into B item bins, which cuts
// the rating matrix into a B x B grid. An epoch runs B waves; wave w visits the blocks
// (b, (b + w) mod B) for b = 0..B-1. The blocks of one wave share no user and no item
// (the idea of DSGD and LIBMF's FPSGD). Inside a block the ratings are stored as runs of
// one user (users in ascending inner id, each run in the trainset's order), so a user's
// factor row stays in L1 for its whole run and the item bin's rows stay in L2.
// Parallel strategy: one OpenMP team for the epoch; threads take the blocks in wave order
// (largest first inside a wave) and start each one as soon as the previous wave's blocks
// on its user bin and on its item bin are done (two counters per bin, no barrier between
// waves). No locks, no atomics on the model: blocks that may run at the same time never
// touch the same row of pu, qi, bu or bi.
// Determinism: every block is processed by one thread in a fixed order, and each row sees
// its blocks in wave order, so the result is bit-identical to running the waves serially,
// whatever the number of threads or the timing. It depends on the layout (B and the bins)
// only: the dot products are summed in an order written in the source, the same in every
// SIMD clone (only FMA contraction differs between the baseline and the AVX2/AVX-512
// clones).
// Learning rate: constant (Surprise's rule) or, when AdaGrad accumulators are given, LIBMF's
// per-vector AdaGrad (Chin et al., PAKDD 2015): one accumulator G per user vector, item
// vector, user bias and item bias, starting at 1; a rating's step for a vector is
// lr / sqrt(G) times its gradient (err * other - reg * own, Surprise's gradient), then G
// grows by the mean of the squared gradient entries (a bias: its squared gradient). The
// gradients' sums of squares run in the fixed lanes of dot(); the accumulators belong to
// the same rows as the parameters, so blocks that run together never share one.
// Dispatch: one template for float32 and float64; run_epoch is SIMD-dispatched (common.hpp)
// and never throws: sgd_epoch_blocked checks the layout and allocates before it, and an
// out-of-range item id met inside is returned as a flag and raised afterwards.
// Cost: O(n_ratings * n_factors) per epoch plus O(B^2 + n_runs); the layout costs
// O(n_ratings + B * n_users) once, with an n_users x B cursor table as scratch.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include "common.hpp"
#include "sgd.hpp"

namespace turbosvd {

// ------------------------------------------------------------------------------ layout

// Reorder the ratings into block-major order: block (ub, ib) = ub * B + ib, inside a block
// runs of one user in ascending user id, inside a run the input order.
//   block_ptr[B*B + 1]     runs of block k are block_ptr[k] .. block_ptr[k+1]
//   run_user[n_runs]       the user of each run
//   run_ptr[n_runs + 1]    ratings of run r are run_ptr[r] .. run_ptr[r+1]
//   out_items, out_ratings the ratings in that order (n of each)
// run_capacity bounds the number of runs (min(n, n_users * B) always suffices).
// cursor is scratch space of n_users * B entries. Returns the number of runs.
// item_map (nullable) renames the items in out_items: out_items = item_map[item] (e.g. the
// item's row when the model's item rows are stored bin by bin); bins are by original id.
template <typename Index, typename RatingOut>
index_t build_blocked_layout(const Index* users, const Index* items, const double* ratings,
                             index_t n, const std::int32_t* user_bin, const std::int32_t* item_bin,
                             const std::int32_t* item_map, index_t n_users, index_t n_items,
                             index_t n_bins, std::int64_t* cursor, std::int64_t* block_ptr,
                             std::int32_t* run_user, std::int64_t* run_ptr, index_t run_capacity,
                             std::int32_t* out_items, RatingOut* out_ratings) {
    require(n >= 0 && n_users >= 0 && n_items >= 0, "build_blocked_layout: negative size");
    require(n_bins >= 1, "build_blocked_layout: n_bins must be >= 1");
    const index_t B = n_bins;
    for (index_t u = 0; u < n_users; ++u)
        require(user_bin[u] >= 0 && user_bin[u] < B, "build_blocked_layout: user bin out of range");
    for (index_t i = 0; i < n_items; ++i)
        require(item_bin[i] >= 0 && item_bin[i] < B, "build_blocked_layout: item bin out of range");
    if (item_map != nullptr)
        for (index_t i = 0; i < n_items; ++i)
            require(item_map[i] >= 0 && item_map[i] < n_items,
                    "build_blocked_layout: item_map entry out of range");

    // Users sorted by bin, ascending id inside a bin (counting sort).
    std::vector<index_t> bin_start(B + 1, 0);
    for (index_t u = 0; u < n_users; ++u) ++bin_start[user_bin[u] + 1];
    for (index_t b = 0; b < B; ++b) bin_start[b + 1] += bin_start[b];
    std::vector<std::int32_t> by_bin(n_users);
    {
        std::vector<index_t> next(bin_start.begin(), bin_start.end() - 1);
        for (index_t u = 0; u < n_users; ++u)
            by_bin[next[user_bin[u]]++] = static_cast<std::int32_t>(u);
    }

    // Ratings of every (user, item bin) cell.
    for (index_t c = 0; c < n_users * B; ++c) cursor[c] = 0;
    for (index_t r = 0; r < n; ++r) {
        const index_t u = users[r], i = items[r];
        require(u >= 0 && u < n_users && i >= 0 && i < n_items,
                "build_blocked_layout: inner id out of range");
        ++cursor[u * B + item_bin[i]];
    }

    // Every non-empty cell is a run; lay the runs out block by block and turn the counts
    // into write cursors.
    index_t pos = 0, run = 0;
    for (index_t ub = 0; ub < B; ++ub) {
        for (index_t ib = 0; ib < B; ++ib) {
            block_ptr[ub * B + ib] = run;
            for (index_t k = bin_start[ub]; k < bin_start[ub + 1]; ++k) {
                const index_t u = by_bin[k];
                const std::int64_t count = cursor[u * B + ib];
                if (count == 0) continue;
                require(run < run_capacity, "build_blocked_layout: run_capacity too small");
                run_user[run] = static_cast<std::int32_t>(u);
                run_ptr[run] = pos;
                cursor[u * B + ib] = pos;
                pos += count;
                ++run;
            }
        }
    }
    block_ptr[B * B] = run;
    run_ptr[run] = pos;

    // Scatter, keeping the input order inside each run.
    for (index_t r = 0; r < n; ++r) {
        const std::int64_t p = cursor[static_cast<index_t>(users[r]) * B + item_bin[items[r]]]++;
        out_items[p] =
            item_map != nullptr ? item_map[items[r]] : static_cast<std::int32_t>(items[r]);
        out_ratings[p] = static_cast<RatingOut>(ratings[r]);
    }
    return run;
}

// ------------------------------------------------------------------------------- epoch

namespace blocked_detail {

template <typename Real>
struct Job {
    const std::int64_t* block_ptr;
    index_t n_bins;
    const std::int32_t* run_user;
    const std::int64_t* run_ptr;
    index_t n_runs;
    const std::int32_t* items;
    const Real* ratings;
    index_t n_ratings;
    Real* pu;
    Real* qi;
    Real* bu;
    Real* bi;
    index_t n_users, n_items, n_factors;
    Real mu;
    bool biased;
    Real lr_bu, lr_bi, lr_pu, lr_qi, reg_bu, reg_bi, reg_pu, reg_qi;
    // AdaGrad accumulators (rows as pu, qi, bu, bi), or all null for the constant rate.
    Real* g_pu;
    Real* g_qi;
    Real* g_bu;
    Real* g_bi;
};

template <typename Real>
Job<Real> make_job(const std::int64_t* block_ptr, index_t n_bins, const std::int32_t* run_user,
                   const std::int64_t* run_ptr, index_t n_runs, const std::int32_t* items,
                   const Real* ratings, index_t n_ratings, Real* pu, Real* qi, Real* bu, Real* bi,
                   index_t n_users, index_t n_items, index_t n_factors, double global_mean,
                   bool biased, const SgdRates& p, Real* g_pu, Real* g_qi, Real* g_bu,
                   Real* g_bi) {
    const bool any_g = g_pu || g_qi || g_bu || g_bi;
    require(!any_g || (g_pu && g_qi && g_bu && g_bi),
            "sgd_epoch_blocked: give all four AdaGrad accumulators or none");
    require(n_bins >= 1 && n_runs >= 0 && n_ratings >= 0 && n_factors >= 0,
            "sgd_epoch_blocked: bad sizes");
    // The structure is checked here, serially and in O(B^2 + n_runs); item ids are checked
    // as they are used, inside the parallel loop.
    require(block_ptr[0] == 0 && block_ptr[n_bins * n_bins] == n_runs,
            "sgd_epoch_blocked: block_ptr does not span the runs");
    for (index_t k = 0; k < n_bins * n_bins; ++k)
        require(block_ptr[k] <= block_ptr[k + 1], "sgd_epoch_blocked: block_ptr decreases");
    require(run_ptr[0] == 0 && run_ptr[n_runs] == n_ratings,
            "sgd_epoch_blocked: run_ptr does not span the ratings");
    for (index_t r = 0; r < n_runs; ++r) {
        require(run_ptr[r] <= run_ptr[r + 1], "sgd_epoch_blocked: run_ptr decreases");
        require(run_user[r] >= 0 && run_user[r] < n_users, "sgd_epoch_blocked: user out of range");
    }
    Job<Real> j;
    j.block_ptr = block_ptr;
    j.n_bins = n_bins;
    j.run_user = run_user;
    j.run_ptr = run_ptr;
    j.n_runs = n_runs;
    j.items = items;
    j.ratings = ratings;
    j.n_ratings = n_ratings;
    j.pu = pu;
    j.qi = qi;
    j.bu = bu;
    j.bi = bi;
    j.n_users = n_users;
    j.n_items = n_items;
    j.n_factors = n_factors;
    j.mu = static_cast<Real>(biased ? global_mean : 0.0);
    j.biased = biased;
    j.lr_bu = static_cast<Real>(p.lr_bu);
    j.lr_bi = static_cast<Real>(p.lr_bi);
    j.lr_pu = static_cast<Real>(p.lr_pu);
    j.lr_qi = static_cast<Real>(p.lr_qi);
    j.reg_bu = static_cast<Real>(p.reg_bu);
    j.reg_bi = static_cast<Real>(p.reg_bi);
    j.reg_pu = static_cast<Real>(p.reg_pu);
    j.reg_qi = static_cast<Real>(p.reg_qi);
    j.g_pu = g_pu;
    j.g_qi = g_qi;
    j.g_bu = g_bu;
    j.g_bi = g_bi;
    return j;
}

// For every wave, the user bins in decreasing order of block size (ratings; ties by bin),
// so the dynamic schedule hands out the big blocks first. Any order gives the same result.
inline std::vector<index_t> wave_order_by_size(const std::int64_t* block_ptr, index_t n_bins,
                                               const std::int64_t* run_ptr) {
    const index_t B = n_bins;
    std::vector<index_t> order(B * B);
    std::vector<std::int64_t> size(B);
    for (index_t w = 0; w < B; ++w) {
        index_t* o = order.data() + w * B;
        for (index_t b = 0; b < B; ++b) {
            const index_t blk = b * B + (b + w) % B;
            size[b] = run_ptr[block_ptr[blk + 1]] - run_ptr[block_ptr[blk]];
            o[b] = b;
        }
        std::stable_sort(o, o + B, [&](index_t a, index_t b) { return size[a] > size[b]; });
    }
    return order;
}

template <typename Real>
std::vector<index_t> wave_order(const Job<Real>& j) {
    return wave_order_by_size(j.block_ptr, j.n_bins, j.run_ptr);
}

// Dot products are summed in a fixed set of lanes (128 bytes: 32 floats or 16 doubles, two
// AVX-512 registers), lane l taking the elements f = l (mod lanes), and the lanes are then
// added pairwise. The order is written out in the source, so the compiler needs no
// reassociation (no -ffast-math) to vectorise it, every instruction set adds in the same
// order, and several accumulators hide the FMA latency.
template <typename Real>
constexpr int kLanes = static_cast<int>(128 / sizeof(Real));

template <int W, typename Real>
TURBOSVD_INLINE Real lane_sum(Real* acc) {
    if constexpr (W == 1) {
        return acc[0];
    } else {
        TURBOSVD_OMP(simd)
        for (int l = 0; l < W / 2; ++l) acc[l] += acc[l + W / 2];
        return lane_sum<W / 2>(acc);
    }
}

// The elements past the last full set of lanes, summed in order (independent of the lanes,
// so it overlaps with them), then added to the lane total.
template <typename Real>
TURBOSVD_INLINE Real tail_dot(const Real* TURBOSVD_RESTRICT a, const Real* TURBOSVD_RESTRICT b,
                              index_t f0, index_t n) {
    Real t = 0;
    for (index_t f = f0; f < n; ++f) t += a[f] * b[f];
    return t;
}

template <typename Real>
TURBOSVD_INLINE Real dot(const Real* TURBOSVD_RESTRICT a, const Real* TURBOSVD_RESTRICT b,
                         index_t n) {
    constexpr int W = kLanes<Real>;
    alignas(64) Real acc[W] = {};
    index_t f0 = 0;
    for (; f0 + W <= n; f0 += W) {
        TURBOSVD_OMP(simd)
        for (int l = 0; l < W; ++l) acc[l] += a[f0 + l] * b[f0 + l];
    }
    return lane_sum<W>(acc) + tail_dot(a, b, f0, n);
}

// The factor update of one rating (both from the old values).
template <typename Real>
TURBOSVD_INLINE void update(Real* TURBOSVD_RESTRICT pu, Real* TURBOSVD_RESTRICT qi, index_t n,
                            Real err, Real lr_pu, Real reg_pu, Real lr_qi, Real reg_qi) {
    TURBOSVD_OMP(simd)
    for (index_t f = 0; f < n; ++f) {
        const Real p = pu[f];
        const Real q = qi[f];
        pu[f] = p + lr_pu * (err * q - reg_pu * p);
        qi[f] = q + lr_qi * (err * p - reg_qi * q);
    }
}

// The same update, fused with the next rating's dot product <qn, new pu> (same user,
// another item): one pass over the factors instead of two. The lanes and their order are
// those of dot(), so the result is bit-identical to update() followed by dot(qn, pu).
template <typename Real>
TURBOSVD_INLINE Real update_dot(Real* TURBOSVD_RESTRICT pu, Real* TURBOSVD_RESTRICT qi,
                                const Real* TURBOSVD_RESTRICT qn, index_t n, Real err, Real lr_pu,
                                Real reg_pu, Real lr_qi, Real reg_qi) {
    constexpr int W = kLanes<Real>;
    alignas(64) Real acc[W] = {};
    index_t f0 = 0;
    for (; f0 + W <= n; f0 += W) {
        TURBOSVD_OMP(simd)
        for (int l = 0; l < W; ++l) {
            const index_t f = f0 + l;
            const Real p = pu[f];
            const Real q = qi[f];
            const Real np = p + lr_pu * (err * q - reg_pu * p);
            pu[f] = np;
            qi[f] = q + lr_qi * (err * p - reg_qi * q);
            acc[l] += qn[f] * np;
        }
    }
    Real t = 0;
    for (index_t f = f0; f < n; ++f) {
        const Real p = pu[f];
        const Real q = qi[f];
        const Real np = p + lr_pu * (err * q - reg_pu * p);
        pu[f] = np;
        qi[f] = q + lr_qi * (err * p - reg_qi * q);
        t += qn[f] * np;
    }
    return lane_sum<W>(acc) + t;
}

// One block, serially: every run (one user), every rating of the run in order. Within a
// run, each rating's factor update also computes the next rating's dot product.
// Returns false if an item id is out of range (the rest of the block is skipped).
template <typename Real>
TURBOSVD_INLINE bool block(const Job<Real>& j, index_t blk) {
    // Local copies: the model arrays are Real*, so the compiler would otherwise reload every
    // Real field of the job after each store.
    const index_t k = j.n_factors, n_items = j.n_items;
    const Real mu = j.mu, lr_bu = j.lr_bu, lr_bi = j.lr_bi, reg_bu = j.reg_bu, reg_bi = j.reg_bi;
    const Real lr_pu = j.lr_pu, lr_qi = j.lr_qi, reg_pu = j.reg_pu, reg_qi = j.reg_qi;
    const bool biased = j.biased;
    const std::int32_t* TURBOSVD_RESTRICT items = j.items;
    const Real* TURBOSVD_RESTRICT ratings = j.ratings;
    Real* const qi = j.qi;
    Real* const bi = j.bi;
    for (std::int64_t run = j.block_ptr[blk]; run < j.block_ptr[blk + 1]; ++run) {
        const index_t u = j.run_user[run];
        Real* TURBOSVD_RESTRICT pu_u = j.pu + u * k;
        Real bu_u = j.bu[u];
        const std::int64_t end = j.run_ptr[run + 1];
        std::int64_t r = j.run_ptr[run];
        if (r == end) continue;
        index_t i = items[r];
        if (i < 0 || i >= n_items) return false;
        Real d = dot(qi + i * k, pu_u, k);
        for (; r < end; ++r) {
            Real* TURBOSVD_RESTRICT qi_i = qi + i * k;
            const Real err = ratings[r] - (((mu + bu_u) + bi[i]) + d);
            if (biased) {
                bu_u += lr_bu * (err - reg_bu * bu_u);
                bi[i] += lr_bi * (err - reg_bi * bi[i]);
            }
            if (r + 1 == end) {
                update(pu_u, qi_i, k, err, lr_pu, reg_pu, lr_qi, reg_qi);
                break;
            }
            const index_t next = items[r + 1];
            if (next < 0 || next >= n_items) return false;
            if (next == i) {  // a repeated (user, item) pair: the item row changes first
                update(pu_u, qi_i, k, err, lr_pu, reg_pu, lr_qi, reg_qi);
                d = dot(qi_i, pu_u, k);
            } else {
                d = update_dot(pu_u, qi_i, qi + next * k, k, err, lr_pu, reg_pu, lr_qi, reg_qi);
            }
            i = next;
        }
        j.bu[u] = bu_u;
    }
    return true;
}

// The AdaGrad factor update of one rating (both from the old values): steps rate_p and
// rate_q along Surprise's gradients. Returns the sums of the squared gradient entries
// (user, item), summed in dot()'s lanes and order.
template <typename Real>
TURBOSVD_INLINE void update_adagrad(Real* TURBOSVD_RESTRICT pu, Real* TURBOSVD_RESTRICT qi,
                                    index_t n, Real err, Real rate_p, Real reg_pu, Real rate_q,
                                    Real reg_qi, Real* sum_p, Real* sum_q) {
    constexpr int W = kLanes<Real>;
    alignas(64) Real acc_p[W] = {};
    alignas(64) Real acc_q[W] = {};
    index_t f0 = 0;
    for (; f0 + W <= n; f0 += W) {
        TURBOSVD_OMP(simd)
        for (int l = 0; l < W; ++l) {
            const index_t f = f0 + l;
            const Real p = pu[f];
            const Real q = qi[f];
            const Real gp = err * q - reg_pu * p;
            const Real gq = err * p - reg_qi * q;
            pu[f] = p + rate_p * gp;
            qi[f] = q + rate_q * gq;
            acc_p[l] += gp * gp;
            acc_q[l] += gq * gq;
        }
    }
    Real tp = 0, tq = 0;
    for (index_t f = f0; f < n; ++f) {
        const Real p = pu[f];
        const Real q = qi[f];
        const Real gp = err * q - reg_pu * p;
        const Real gq = err * p - reg_qi * q;
        pu[f] = p + rate_p * gp;
        qi[f] = q + rate_q * gq;
        tp += gp * gp;
        tq += gq * gq;
    }
    *sum_p = lane_sum<W>(acc_p) + tp;
    *sum_q = lane_sum<W>(acc_q) + tq;
}

// One block with AdaGrad rates (header comment), serially: every run, every rating in
// order. The user's bias, vector and accumulators stay local for the run. Returns false if
// an item id is out of range (the rest of the block is skipped).
template <typename Real>
TURBOSVD_INLINE bool block_adagrad(const Job<Real>& j, index_t blk) {
    const index_t k = j.n_factors, n_items = j.n_items;
    const Real mu = j.mu, lr_bu = j.lr_bu, lr_bi = j.lr_bi, reg_bu = j.reg_bu, reg_bi = j.reg_bi;
    const Real lr_pu = j.lr_pu, lr_qi = j.lr_qi, reg_pu = j.reg_pu, reg_qi = j.reg_qi;
    const Real inv_k = k > 0 ? Real(1) / static_cast<Real>(k) : Real(0);
    const bool biased = j.biased;
    const std::int32_t* TURBOSVD_RESTRICT items = j.items;
    const Real* TURBOSVD_RESTRICT ratings = j.ratings;
    Real* const qi = j.qi;
    Real* const bi = j.bi;
    Real* const g_qi = j.g_qi;
    Real* const g_bi = j.g_bi;
    for (std::int64_t run = j.block_ptr[blk]; run < j.block_ptr[blk + 1]; ++run) {
        const index_t u = j.run_user[run];
        Real* TURBOSVD_RESTRICT pu_u = j.pu + u * k;
        Real bu_u = j.bu[u], g_pu_u = j.g_pu[u], g_bu_u = j.g_bu[u];
        for (std::int64_t r = j.run_ptr[run]; r < j.run_ptr[run + 1]; ++r) {
            const index_t i = items[r];
            if (i < 0 || i >= n_items) return false;
            Real* TURBOSVD_RESTRICT qi_i = qi + i * k;
            const Real err = ratings[r] - (((mu + bu_u) + bi[i]) + dot(qi_i, pu_u, k));
            if (biased) {
                const Real gb_u = err - reg_bu * bu_u;
                const Real gb_i = err - reg_bi * bi[i];
                bu_u += lr_bu / std::sqrt(g_bu_u) * gb_u;
                bi[i] += lr_bi / std::sqrt(g_bi[i]) * gb_i;
                g_bu_u += gb_u * gb_u;
                g_bi[i] += gb_i * gb_i;
            }
            Real sum_p, sum_q;
            update_adagrad(pu_u, qi_i, k, err, lr_pu / std::sqrt(g_pu_u), reg_pu,
                           lr_qi / std::sqrt(g_qi[i]), reg_qi, &sum_p, &sum_q);
            g_pu_u += sum_p * inv_k;
            g_qi[i] += sum_q * inv_k;
        }
        j.bu[u] = bu_u;
        j.g_pu[u] = g_pu_u;
        j.g_bu[u] = g_bu_u;
    }
    return true;
}

// Progress of the epoch, shared by the team: a ticket counter handing out the blocks in
// wave order, and for every user bin and item bin the number of waves finished on it.
// A call may run only waves [first_wave, last_wave) of the epoch (the Python layer splits
// long epochs so Ctrl-C is handled within a fraction of a second); the waves before
// first_wave are complete when it starts.
struct Progress {
    std::atomic<index_t> ticket{0};
    index_t end_ticket;
    std::unique_ptr<std::atomic<index_t>[]> user_waves, item_waves;
    std::atomic<int> bad{0};
    Progress(index_t n_bins, index_t first_wave, index_t last_wave)
        : end_ticket(last_wave * n_bins),
          user_waves(new std::atomic<index_t>[n_bins]),
          item_waves(new std::atomic<index_t>[n_bins]) {
        ticket.store(first_wave * n_bins, std::memory_order_relaxed);
        for (index_t b = 0; b < n_bins; ++b) {
            user_waves[b].store(first_wave, std::memory_order_relaxed);
            item_waves[b].store(first_wave, std::memory_order_relaxed);
        }
    }
};

// The body of the parallel region, run by every thread of the team. Each thread takes the
// next block in wave order (largest first inside a wave) and starts it as soon as the two
// blocks it depends on are done: the previous wave's block on the same user bin and the
// previous wave's block on the same item bin. Every row of the model therefore sees the
// same sequence of updates as in the serial wave order, so the result is bit-identical,
// but there is no barrier between waves: a thread that the OS preempts only delays the
// blocks that need its rows (it matters on shared machines). Tickets are taken in wave
// order, so a block's dependencies always hold smaller tickets and the team cannot
// deadlock. Inlined into each dispatch clone's outlined region.
template <typename Block>
TURBOSVD_INLINE void run_waves(index_t B, const index_t* order, Progress* p, Block&& block) {
    for (;;) {
        const index_t t = p->ticket.fetch_add(1, std::memory_order_relaxed);
        if (t >= p->end_ticket) return;
        const index_t w = t / B;
        const index_t b = order[t];
        const index_t ib = (b + w) % B;
        for (int spins = 0; p->user_waves[b].load(std::memory_order_acquire) != w ||
                            p->item_waves[ib].load(std::memory_order_acquire) != w;) {
            if (++spins > 64) std::this_thread::yield();  // let a preempted owner run
        }
        if (!block(b * B + ib)) p->bad.store(1, std::memory_order_relaxed);
        p->user_waves[b].store(w + 1, std::memory_order_release);
        p->item_waves[ib].store(w + 1, std::memory_order_release);
    }
}

template <typename Real>
TURBOSVD_INLINE void waves(const Job<Real>& j, const index_t* order, Progress* p) {
    if (j.g_pu != nullptr)
        run_waves(j.n_bins, order, p, [&](index_t blk) { return block_adagrad(j, blk); });
    else
        run_waves(j.n_bins, order, p, [&](index_t blk) { return block(j, blk); });
}

// The waves [first_wave, last_wave) of one epoch, SIMD-dispatched (see common.hpp: the
// `omp parallel` sits here so that its outlined region is cloned too, and nothing in here
// throws). Returns whether an item id was out of range.
template <typename Real>
TURBOSVD_DISPATCH int run_epoch(const Job<Real>& job, const index_t* order, Progress* progress,
                                int nt) noexcept {
    TURBOSVD_OMP(parallel num_threads(nt))
    waves(job, order, progress);
    (void)nt;
    return progress->bad.load();
}

}  // namespace blocked_detail

// One blocked epoch (or the waves [first_wave, last_wave) of it), in place. Validates
// everything it can before the dispatched loop; an out-of-range item id found inside
// stops the block it is in and is reported here. g_pu, g_qi, g_bu, g_bi: AdaGrad's
// accumulators (n_users, n_items, n_users, n_items entries, positive; updated in place),
// or all null for the constant rate.
template <typename Real>
void sgd_epoch_blocked(const std::int64_t* block_ptr, index_t n_bins, const std::int32_t* run_user,
                       const std::int64_t* run_ptr, index_t n_runs, const std::int32_t* items,
                       const Real* ratings, index_t n_ratings, Real* pu, Real* qi, Real* bu,
                       Real* bi, index_t n_users, index_t n_items, index_t n_factors,
                       double global_mean, bool biased, const SgdRates& rates, int n_threads,
                       index_t first_wave, index_t last_wave, Real* g_pu = nullptr,
                       Real* g_qi = nullptr, Real* g_bu = nullptr, Real* g_bi = nullptr) {
    using namespace blocked_detail;
    require(0 <= first_wave && first_wave <= last_wave && last_wave <= n_bins,
            "sgd_epoch_blocked: waves must satisfy 0 <= first_wave <= last_wave <= n_bins");
    const Job<Real> job =
        make_job<Real>(block_ptr, n_bins, run_user, run_ptr, n_runs, items, ratings, n_ratings, pu,
                       qi, bu, bi, n_users, n_items, n_factors, global_mean, biased, rates,
                       g_pu, g_qi, g_bu, g_bi);
    const std::vector<index_t> order = wave_order(job);
    Progress progress(n_bins, first_wave, last_wave);
    // More threads than blocks per wave would only spin waiting for their bins.
    const int nt = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_bins)));
    if (run_epoch<Real>(job, order.data(), &progress, nt))
        throw std::invalid_argument("sgd_epoch_blocked: item id out of range");
}

}  // namespace turbosvd
