// MlpConfig (layout of the flat parameter vector, validation, parsing of --hidden and
// --activation) and RowSelection: the host-side parts of policies/mlp_policy.hpp; the kernels
// and the policy are in mlp_policy.cpp.
#include "core/error.hpp"
#include "policies/mlp_policy.hpp"

#include <sstream>
#include <string>

namespace grpo::policies {

// --- Configuration -------------------------------------------------------------------------

Activation parse_activation(const std::string& name) {
  if (name == "relu") {
    return Activation::Relu;
  }
  if (name == "tanh") {
    return Activation::Tanh;
  }
  if (name == "gelu") {
    return Activation::Gelu;
  }
  throw ConfigError("unknown activation '" + printable(name) + "' (expected relu, tanh or gelu)");
}

const char* activation_name(Activation activation) {
  switch (activation) {
  case Activation::Relu:
    return "relu";
  case Activation::Tanh:
    return "tanh";
  case Activation::Gelu:
    return "gelu";
  }
  return "unknown";
}

index_t MlpConfig::weight_offset(int l) const {
  index_t offset = 0;
  for (int k = 0; k < l; ++k) {
    offset += index_t(width(k)) * width(k + 1) + width(k + 1);
  }
  return offset;
}

index_t MlpConfig::num_params() const { return output_offset() + width(num_hidden()); }

int MlpConfig::max_width() const {
  int m = input_dim;
  for (int n : hidden) {
    m = std::max(m, n);
  }
  return m;
}

void MlpConfig::validate() const {
  if (input_dim <= 0) {
    throw ConfigError("MLP policy: input dimension " + std::to_string(input_dim) +
                      " (expected a positive number of features)");
  }
  for (std::size_t l = 0; l < hidden.size(); ++l) {
    if (hidden[l] <= 0) {
      throw ConfigError("MLP policy: hidden layer " + std::to_string(l) + " has width " +
                        std::to_string(hidden[l]) + " (expected a positive width)");
    }
  }
  // Widths are validated first, so the sums below cannot wrap.
  double total = 0.0;
  for (int l = 0; l < num_hidden(); ++l) {
    total += (double(width(l)) + 1.0) * width(l + 1);
  }
  total += width(num_hidden());
  if (total > 2147483647.0) {
    throw ConfigError("MLP policy " + describe() + ": " + format_double(total) +
                      " parameters (at most 2^31 - 1 are supported)");
  }
}

std::string MlpConfig::describe() const {
  std::ostringstream s;
  s << input_dim;
  for (int n : hidden) {
    s << '-' << n;
  }
  s << "-1 " << activation_name(activation);
  return s.str();
}

std::vector<int> parse_hidden(const std::string& text) {
  std::vector<int> widths;
  if (text.empty() || text == "none") {
    return widths;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool ok = !item.empty() && item.size() <= 9;
    for (char c : item) {
      ok = ok && c >= '0' && c <= '9';
    }
    if (!ok || std::stoi(item) <= 0) {
      throw ConfigError("hidden layer widths '" + printable(text) +
                        "': expected comma-separated positive integers such as 64,64 (or none)");
    }
    widths.push_back(std::stoi(item));
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return widths;
}

} // namespace grpo::policies
