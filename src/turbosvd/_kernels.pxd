# Declarations of the C++ kernels in csrc/turbosvd. No logic here.
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t
from libcpp cimport bool


cdef extern from "turbosvd/common.hpp" namespace "turbosvd" nogil:
    int max_threads()
    bool openmp_enabled()
    bool simd_dispatch_enabled()


cdef extern from "turbosvd/sgd.hpp" namespace "turbosvd" nogil:
    cdef struct SgdRates:
        double lr_bu
        double lr_bi
        double lr_pu
        double lr_qi
        double reg_bu
        double reg_bi
        double reg_pu
        double reg_qi

    void sgd_epoch_exact[Index](
        const Index* users, const Index* items, const double* ratings, int64_t n_ratings,
        double* pu, double* qi, double* bu, double* bi, int64_t n_users, int64_t n_items,
        int64_t n_factors, double global_mean, bool biased, const SgdRates& rates,
    ) except +

    void sgd_epoch_ordered_f64(
        const int32_t* users, const int32_t* items, const double* ratings, int64_t n_ratings,
        double* pu, double* qi, double* bu, double* bi, int64_t n_users, int64_t n_items,
        int64_t n_factors, double global_mean, bool biased, const SgdRates& rates,
    ) except +


cdef extern from "turbosvd/predict.hpp" namespace "turbosvd" nogil:
    void predict_batch[Real](
        const int32_t* users, const int32_t* items, int64_t n, const Real* pu, const Real* qi,
        const Real* bu, const Real* bi, int64_t n_users, int64_t n_items, int64_t n_factors,
        double global_mean, bool biased, double* out, uint8_t* impossible, int n_threads,
    ) except +

    void predict_one[Real](
        int32_t u, int32_t i, const Real* pu, const Real* qi, const Real* bu, const Real* bi,
        int64_t n_users, int64_t n_items, int64_t n_factors, double global_mean, bool biased,
        double* out, uint8_t* impossible,
    ) except +


cdef extern from "turbosvd/group.hpp" namespace "turbosvd" nogil:
    void stable_group[Key, Out](
        const Key* keys, int64_t n, int64_t n_keys, Out* perm, int64_t* indptr,
    ) except +


cdef extern from "turbosvd/sgd_blocked.hpp" namespace "turbosvd" nogil:
    int64_t build_blocked_layout[Index, RatingOut](
        const Index* users, const Index* items, const double* ratings, int64_t n,
        const int32_t* user_bin, const int32_t* item_bin, const int32_t* item_map,
        int64_t n_users, int64_t n_items,
        int64_t n_bins, int64_t* cursor, int64_t* block_ptr, int32_t* run_user,
        int64_t* run_ptr, int64_t run_capacity, int32_t* out_items, RatingOut* out_ratings,
    ) except +

    void sgd_epoch_blocked[Real](
        const int64_t* block_ptr, int64_t n_bins, const int32_t* run_user,
        const int64_t* run_ptr, int64_t n_runs, const int32_t* items, const Real* ratings,
        int64_t n_ratings, Real* pu, Real* qi, Real* bu, Real* bi, int64_t n_users,
        int64_t n_items, int64_t n_factors, double global_mean, bool biased,
        const SgdRates& rates, int n_threads, int64_t first_wave, int64_t last_wave,
        Real* g_pu, Real* g_qi, Real* g_bu, Real* g_bi,
    ) except +


cdef extern from "turbosvd/cosine_topn.hpp" namespace "turbosvd" nogil:
    void topk_search[Real](
        const Real* X, int64_t n_queries, const Real* Y, int64_t n_items, int64_t dim,
        int64_t k, bool normalize, bool exclude_diag, int64_t diag_offset,
        const int64_t* excl_indptr,
        const int64_t* excl_indices, int64_t excl_nnz, int64_t query_tile, int64_t item_tile,
        int n_threads, int strategy, Real* out_scores, int64_t* out_indices,
    ) except +
    void topk_kernel_shape(bool is_double, int* mq, int* nv)


cdef extern from "turbosvd/row_means.hpp" namespace "turbosvd" nogil:
    void row_means(
        const int64_t* indptr, const double* values, int64_t n_rows, double* out, int n_threads,
    )
    void row_means_truncated(
        const int64_t* indptr, const double* values, int64_t n_rows, double* out, int n_threads,
    )


cdef extern from "turbosvd/slope_one.hpp" namespace "turbosvd" nogil:
    int64_t slope_one_count(
        const int64_t* u_indptr, const int32_t* u_items, const int64_t* i_indptr,
        const int32_t* i_users, int64_t n_items, int64_t* out_count, int n_threads,
    ) except +
    void slope_one_fill(
        const int64_t* u_indptr, const int32_t* u_items, const double* u_ratings,
        int64_t n_users, const int64_t* i_indptr, const int32_t* i_users,
        const double* i_ratings, int64_t n_items, const int64_t* row_ptr, int32_t* cols,
        int32_t* freq, double* dev,
        int n_threads,
    ) except +
    void slope_one_predict(
        const int32_t* users, const int32_t* items, int64_t n, const int64_t* u_indptr,
        const int32_t* u_items, const double* user_mean, const int64_t* row_ptr,
        const int32_t* cols, const double* dev, int64_t n_items, double mu, double* out,
        uint8_t* impossible, int n_threads,
    ) except +
    void slope_one_densify(
        const int64_t* row_ptr, const int32_t* cols, const int32_t* freq, const double* dev,
        int64_t n_items, int64_t* freq_out, double* dev_out, int n_threads,
    ) except +


cdef extern from "turbosvd/co_clustering.hpp" namespace "turbosvd" nogil:
    void co_clustering_averages(
        const int32_t* users, const int32_t* items, const double* ratings, int64_t n_ratings,
        const int64_t* cltr_u, const int64_t* cltr_i, int64_t n_cltr_u, int64_t n_cltr_i,
        double global_mean, double* avg_u, double* avg_i, double* avg_co,
    ) except +
    void co_clustering_assign(
        const int64_t* u_indptr, const int32_t* u_items, const double* u_ratings,
        int64_t n_users, const int64_t* i_indptr, const int32_t* i_users,
        const double* i_ratings, int64_t n_items, const double* user_mean,
        const double* item_mean, const double* avg_u, const double* avg_i, const double* avg_co,
        int64_t n_cltr_u, int64_t n_cltr_i, int64_t* cltr_u, int64_t* cltr_i, int n_threads,
    ) except +
    void co_clustering_predict(
        const int32_t* users, const int32_t* items, int64_t n, const int64_t* cltr_u,
        const int64_t* cltr_i, const double* user_mean, const double* item_mean,
        const double* avg_u, const double* avg_i, const double* avg_co, int64_t n_cltr_i,
        double global_mean, double* out, int n_threads,
    ) except +


cdef extern from "turbosvd/svdpp.hpp" namespace "turbosvd" nogil:
    cdef struct SvdppRates:
        double lr_bu
        double lr_bi
        double lr_pu
        double lr_qi
        double lr_yj
        double reg_bu
        double reg_bi
        double reg_pu
        double reg_qi
        double reg_yj

    void svdpp_epoch_exact(
        const int64_t* indptr, const int32_t* items, const double* ratings, int64_t n_users,
        int64_t n_items, int64_t n_factors, double* pu, double* qi, double* yj, double* bu,
        double* bi, double global_mean, const SvdppRates& rates, int64_t user_begin,
        int64_t user_end, double* impl, double* coef,
    ) except +

    void svdpp_user_vectors[Real](
        const int64_t* indptr, const int32_t* items, int64_t n_users, int64_t n_items,
        int64_t n_factors, const Real* pu, const Real* yj, double* out, int n_threads,
    ) except +

    void svdpp_epoch_batched[Real](
        const int64_t* indptr, const int32_t* items, const Real* ratings, int64_t n_users,
        int64_t n_items, int64_t n_factors, Real* pu, Real* qi, Real* yj, Real* bu, Real* bi,
        double global_mean, const SvdppRates& rates, int64_t user_begin, int64_t user_end,
    ) except +


cdef extern from "turbosvd/nmf.hpp" namespace "turbosvd" nogil:
    cdef struct NmfRates:
        double lr_bu
        double lr_bi
        double reg_bu
        double reg_bi
        double reg_pu
        double reg_qi

    void nmf_accumulate_exact(
        const int64_t* indptr, const int32_t* items, const double* ratings, int64_t n_users,
        int64_t n_items, int64_t n_factors, const double* pu, const double* qi, double* bu,
        double* bi, double global_mean, bool biased, const NmfRates& rates, int64_t user_begin,
        int64_t user_end, double* user_num, double* user_den, double* item_num,
        double* item_den,
    ) except +

    void nmf_update_exact(
        const int64_t* counts, int64_t n_rows, int64_t n_factors, double reg, double* x,
        const double* num, double* den,
    ) except +

    cdef cppclass NmfFastJob[Real]:
        const int64_t* indptr
        const int32_t* items
        const Real* ratings
        const int64_t* item_ptr
        const int32_t* item_users
        const Real* item_ratings
        const int64_t* item_pos
        int64_t n_users
        int64_t n_items
        int64_t kp
        const Real* pu
        Real* pu_new
        Real* qi
        Real* bu
        Real* bi
        Real* est
        Real* scratch
        Real mu
        Real lr_bu
        Real lr_bi
        Real reg_bu
        Real reg_bi
        Real reg_pu
        Real reg_qi
        bool biased

    void nmf_fast_check_layout(
        const int64_t* indptr, const int32_t* items, const int64_t* item_ptr,
        const int32_t* item_users, const int64_t* item_pos, int64_t n_users, int64_t n_items,
        int64_t n_ratings,
    ) except +

    void nmf_fast_epoch[Real](const NmfFastJob[Real]& job, int n_threads) except +


cdef extern from "turbosvd/similarities.hpp" namespace "turbosvd" nogil:
    cdef cppclass SimInput:
        int64_t n_x
        int64_t n_y
        const int64_t* y_indptr
        const int32_t* y_x
        const double* y_r
        const double* y_v
        const int32_t* ys_x
        const double* ys_v
        const int64_t* x_indptr
        const int32_t* x_y
        const double* x_v
        int kind
        int64_t min_support
        double shrinkage

    void similarity_rows(
        const SimInput& sim_in, const int64_t* rows, int64_t n_rows, double* out, bool upper,
        int n_threads,
    ) except +
    void mirror_upper(double* m, int64_t n, int n_threads) except +


cdef extern from "turbosvd/knn_predict.hpp" namespace "turbosvd" nogil:
    cdef cppclass KnnParams:
        int kind
        int64_t k
        int64_t min_k
        bool user_based
        const double* means
        const double* sigmas
        double global_mean
        const double* bx
        const double* by

    void knn_predict(
        const SimInput& sim_in, const double* sim_matrix, const KnnParams& params,
        const int32_t* xs, const int32_t* ys, const int64_t* order, const int64_t* group_ptr,
        int64_t n_groups, double* est, int32_t* actual_k, int8_t* code, int n_threads,
        const int8_t* by_pairs,
    ) except +


cdef extern from "turbosvd/als.hpp" namespace "turbosvd" nogil:
    int64_t als_stride[Real](int64_t m)
    void als_half_sweep[Real](
        const int64_t* indptr, const int32_t* cols, const Real* targets, int64_t n_rows,
        int64_t first, int64_t last, Real* Xf, Real* Xb, const Real* Yf, const Real* Yb,
        int64_t n_cols, int64_t n_factors, int64_t stride, bool biased, double reg, int solver,
        int cg_steps, int n_threads,
    ) except +


cdef extern from "turbosvd/foldin.hpp" namespace "turbosvd" nogil:
    void foldin_users[Real](
        const int64_t* indptr, int64_t n_users, const int32_t* items, const double* ratings,
        const Real* qi, const Real* bi, int64_t n_items, int64_t n_factors,
        double global_mean, bool biased, double lam_p0, double lam_p1, double lam_b0,
        double lam_b1, Real* out_pu, Real* out_bu, uint8_t* bad, int n_threads,
        const double* V, const Real* qr,
    ) except +
    void foldin_rotation[Real](
        const int32_t* items, int64_t nnz, const Real* qi, int64_t n_items, int64_t n_factors,
        double* V, Real* qr, int n_threads,
    ) except +


cdef extern from "turbosvd/symeig.hpp" namespace "turbosvd" nogil:
    void symmetric_eigenvectors(double* a, int64_t n, double* d, double* e)
