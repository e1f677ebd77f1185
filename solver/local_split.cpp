#include "solver/local_split.hpp"

namespace grpo::solver {

policies::PreferenceSplit make_local_split(const std::string& name, int dim,
                                           const GroupPartition& partition, int rank,
                                           const float* z, const float* ref) {
  policies::PreferenceSplit split;
  split.name = name;
  split.feature_dim = dim;
  split.offsets = partition.offsets();
  split.global_begin = partition.rank_begin(rank);
  split.pieces = partition.pieces(rank);
  const index_t rows = partition.rank_rows(rank);
  split.z = Kokkos::View<float**, MemSpace>(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::data::" + name + "::z"), rows, dim);
  split.ref_logratio = View1<float>("grpo::data::" + name + "::ref_logratio", rows);
  auto z_host = Kokkos::create_mirror_view(split.z);
  for (index_t i = 0; i < rows; ++i) {
    for (int j = 0; j < dim; ++j) {
      z_host(i, j) = z[i * dim + j];
    }
  }
  Kokkos::deep_copy(split.z, z_host);
  if (ref != nullptr) {
    auto ref_host = Kokkos::create_mirror_view(split.ref_logratio);
    for (index_t i = 0; i < rows; ++i) {
      ref_host(i) = ref[i];
    }
    Kokkos::deep_copy(split.ref_logratio, ref_host);
  }
  return split;
}

} // namespace grpo::solver
