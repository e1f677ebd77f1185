#include "io/checkpoint.hpp"

#include "core/error.hpp"
#include "io/hdf5.hpp"

#include <cmath>
#include <cstdio>

namespace grpo::io {

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string tmp = path + ".tmp";
  try {
    {
      auto f = h5::File::create(tmp, nullptr);
      f.write_attribute("/", "schema_version", std::string(kCheckpointSchemaVersion));
      f.write_attribute("/", "kind", std::string("checkpoint"));
      f.write_attribute("/", "config", c.config);
      f.write_attribute("/", "dataset_checksum", c.dataset_checksum);
      f.write_attribute("/", "num_ranks", c.num_ranks);
      f.write_attribute("/", "trace_records", c.trace_records);
      f.write_attribute("/", "iteration", static_cast<std::int64_t>(c.state.iteration));
      f.write_attribute("/", "adagrad", c.state.adagrad);
      f.write_attribute("/", "wall_seconds", c.wall_seconds);
      f.write_attribute("/", "empty_group_steps",
                        static_cast<std::int64_t>(c.state.empty_group_steps));
      f.write_attribute("/", "singular_solves", static_cast<std::int64_t>(c.state.singular_solves));
      f.write_vector("theta", c.state.theta);
      f.write_vector("theta_avg", c.state.theta_avg);
      f.write_vector("log_alpha", c.state.log_alpha);
      f.write_vector("alpha_avg", c.state.alpha_avg);
      f.flush();
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      throw IoError("cannot rename '" + tmp + "' to '" + path + "'");
    }
  } catch (const Error& e) {
    std::remove(tmp.c_str());
    throw IoError(std::string("writing checkpoint: ") + e.what(), true);
  }
}

Checkpoint read_checkpoint(const std::string& path) {
  const auto f = h5::File::open(path, false, nullptr);
  const auto text = [&](const char* name) {
    if (!f.has_attribute("/", name)) {
      throw DataError("'" + path + "': checkpoint attribute '" + name + "' is missing");
    }
    return f.read_string_attribute("/", name);
  };
  const auto integer = [&](const char* name) {
    if (!f.has_attribute("/", name)) {
      throw DataError("'" + path + "': checkpoint attribute '" + name + "' is missing");
    }
    const auto v = f.read_int_attribute("/", name);
    if (v < 0) {
      throw DataError("'" + path + "': checkpoint attribute '" + name + "' is negative (" +
                      std::to_string(v) + ")");
    }
    return v;
  };
  if (!f.has_attribute("/", "kind") || text("kind") != "checkpoint") {
    throw DataError("'" + path + "': not a grpo checkpoint (attribute 'kind' is not 'checkpoint')");
  }
  const std::string version = text("schema_version");
  if (version.empty() || version[0] != kCheckpointSchemaVersion[0]) {
    throw DataError("'" + path + "': checkpoint schema_version '" + version +
                    "' is not supported (this grpo reads " + kCheckpointSchemaVersion + ")");
  }
  Checkpoint c;
  c.config = text("config");
  c.dataset_checksum = text("dataset_checksum");
  c.num_ranks = integer("num_ranks");
  c.trace_records = integer("trace_records");
  c.state.iteration = integer("iteration");
  c.state.empty_group_steps = integer("empty_group_steps");
  c.state.singular_solves = integer("singular_solves");
  c.state.adagrad = f.read_double_attribute("/", "adagrad");
  c.wall_seconds = f.read_double_attribute("/", "wall_seconds");
  const auto vector = [&](const char* name) {
    if (!f.exists(name)) {
      throw DataError("'" + path + "': checkpoint dataset '" + name + "' is missing");
    }
    const auto info = f.info(name);
    if (info.type_class != H5T_FLOAT || info.dims.size() != 1) {
      throw DataError("'" + path + "': checkpoint dataset '" + name +
                      "' must be a 1-D float array");
    }
    auto v = f.read_double(name);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i]) && std::string(name) != "log_alpha") {
        throw DataError("'" + path + "': checkpoint " + name + "[" + std::to_string(i) +
                        "] is not finite");
      }
    }
    return v;
  };
  c.state.theta = vector("theta");
  c.state.theta_avg = vector("theta_avg");
  c.state.log_alpha = vector("log_alpha");
  c.state.alpha_avg = vector("alpha_avg");
  if (!std::isfinite(c.state.adagrad) || c.state.adagrad < 0) {
    throw DataError("'" + path + "': checkpoint attribute 'adagrad' is not a finite value >= 0");
  }
  return c;
}

} // namespace grpo::io
