// RowSelection's constructors (policies/row_selection.hpp).
#include "policies/row_selection.hpp"

namespace grpo::policies {

RowSelection RowSelection::range(index_t begin, index_t count) {
  RowSelection s;
  s.offset = begin;
  s.count = count;
  return s;
}

RowSelection RowSelection::rows(const View1<const index_t>& index, index_t count) {
  RowSelection s;
  s.index = index;
  s.count = count < 0 ? static_cast<index_t>(index.extent(0)) : count;
  s.indexed = true;
  if (s.count > static_cast<index_t>(index.extent(0))) {
    throw InternalError("RowSelection::rows: " + std::to_string(s.count) + " rows of an index of " +
                        std::to_string(index.extent(0)));
  }
  return s;
}

RowSelection RowSelection::slice(index_t begin, index_t n) const {
  RowSelection s = *this;
  s.offset = offset + begin;
  s.count = n;
  return s;
}

} // namespace grpo::policies
