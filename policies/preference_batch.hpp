// PreferenceSplit: one rank's share of a split (train, val or test) of a preference dataset,
// already on the device. For policies linear in their features only the difference of the
// chosen and rejected feature vectors is needed (ALGORITHM.md §1.1).
#pragma once

#include "core/views.hpp"

#include <string>
#include <vector>

namespace grpo::policies {

/// Rows of one group that this rank holds: global rows [global_begin, global_end) stored at
/// local rows [local_begin, local_begin + size()).
struct GroupPiece {
  int group = 0;
  index_t global_begin = 0;
  index_t global_end = 0;
  index_t local_begin = 0;
  index_t size() const { return global_end - global_begin; }
};

struct PreferenceSplit {
  std::string name;               ///< "train", "val" or "test"
  int feature_dim = 0;            ///< d
  std::vector<index_t> offsets;   ///< global group offsets, K+1 entries
  index_t global_begin = 0;       ///< first global row held here
  std::vector<GroupPiece> pieces; ///< non-empty group pieces held here, in group order
  /// [local rows, d]: features of the chosen minus the rejected response (float32).
  Kokkos::View<float**, MemSpace> z;
  /// [local rows]: log pi_ref(y_w|x) - log pi_ref(y_l|x) (zeros for a uniform reference).
  View1<float> ref_logratio;

  // Loaded only on request (neural policies; see io::LoadOptions), empty otherwise.
  /// [local rows, d]: features phi(x, y_w) and phi(x, y_l) of each pair's two responses.
  Kokkos::View<float**, MemSpace> chosen;
  Kokkos::View<float**, MemSpace> rejected;
  /// Every option of each pair's prompt (dataset schema 1.1): the options of local row i are
  /// the rows option_offsets(i) .. option_offsets(i + 1) - 1 of `options` (local numbering,
  /// option_offsets(0) == 0); y_w and y_l are the options at positions chosen_option(i) and
  /// rejected_option(i) among them.
  View1<index_t> option_offsets;           ///< [local rows + 1]
  Kokkos::View<float**, MemSpace> options; ///< [local option rows, d]
  View1<int> chosen_option;                ///< [local rows]
  View1<int> rejected_option;              ///< [local rows]
  bool pair_features_loaded = false;       ///< chosen and rejected are set
  bool options_loaded = false;             ///< the four option views are set

  int num_groups() const { return static_cast<int>(offsets.size()) - 1; }
  index_t total_rows() const { return offsets.empty() ? 0 : offsets.back(); }
  index_t group_size(int g) const { return offsets[g + 1] - offsets[g]; }
  index_t local_rows() const { return static_cast<index_t>(z.extent(0)); }
  bool empty() const { return offsets.empty(); }
  bool has_pair_features() const { return pair_features_loaded; }
  bool has_options() const { return options_loaded; }
};

} // namespace grpo::policies
