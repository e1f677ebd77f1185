#include "io/checkpoint.hpp"

#include "core/error.hpp"
#include "io/hdf5.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace grpo::io {

namespace {

void write_nonempty(const h5::File& f, const char* name, const std::vector<double>& v) {
  if (!v.empty()) {
    f.write_vector(name, v);
  }
}

} // namespace

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string tmp = path + ".tmp";
  try {
    {
      auto f = h5::File::create(tmp, nullptr);
      const auto& s = c.state;
      f.write_attribute("/", "schema_version", std::string(kCheckpointSchemaVersion));
      f.write_attribute("/", "kind", std::string("checkpoint"));
      f.write_attribute("/", "policy", s.policy);
      f.write_attribute("/", "config", c.config);
      f.write_attribute("/", "dataset_checksum", c.dataset_checksum);
      f.write_attribute("/", "num_ranks", c.num_ranks);
      f.write_attribute("/", "trace_records", c.trace_records);
      f.write_attribute("/", "iteration", static_cast<std::int64_t>(s.iteration));
      f.write_attribute("/", "adagrad", s.adagrad);
      f.write_attribute("/", "lr", s.lr);
      f.write_attribute("/", "wall_seconds", c.wall_seconds);
      f.write_attribute("/", "sft_seconds", c.sft_seconds);
      f.write_attribute("/", "empty_group_steps", static_cast<std::int64_t>(s.empty_group_steps));
      f.write_attribute("/", "singular_solves", static_cast<std::int64_t>(s.singular_solves));
      f.write_vector("theta", s.theta);
      write_nonempty(f, "theta_avg", s.theta_avg);
      f.write_vector("log_alpha", s.log_alpha);
      f.write_vector("alpha_avg", s.alpha_avg);
      write_nonempty(f, "reference_params", s.reference);
      write_nonempty(f, "optimizer_state", s.optimizer);
      write_nonempty(f, "schedule_state", s.schedule);
      if (!c.finals.empty()) {
        f.create_group("finals");
        for (const auto& [name, values] : c.finals) {
          f.write_vector("finals/" + name, values);
        }
      }
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
  const auto missing = [&](const char* what, const std::string& name) {
    return DataError("'" + path + "': checkpoint " + what + " '" + name + "' is missing");
  };
  const auto text = [&](const char* name) {
    if (!f.has_attribute("/", name)) {
      throw missing("attribute", name);
    }
    return f.read_string_attribute("/", name);
  };
  const auto integer = [&](const char* name) {
    if (!f.has_attribute("/", name)) {
      throw missing("attribute", name);
    }
    const auto v = f.read_int_attribute("/", name);
    if (v < 0) {
      throw DataError("'" + path + "': checkpoint attribute '" + name + "' is negative (" +
                      std::to_string(v) + ")");
    }
    return v;
  };
  const auto real = [&](const char* name, double fallback) {
    if (!f.has_attribute("/", name)) {
      return fallback;
    }
    const double v = f.read_double_attribute("/", name);
    if (!std::isfinite(v) || v < 0) {
      throw DataError("'" + path + "': checkpoint attribute '" + name + "' is " + format_double(v) +
                      " (expected a finite value >= 0)");
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
  auto& s = c.state;
  s.policy = f.has_attribute("/", "policy") ? text("policy") : "loglinear";
  if (s.policy != "loglinear" && s.policy != "mlp") {
    throw DataError("'" + path + "': checkpoint attribute 'policy' is '" + s.policy +
                    "' (expected loglinear or mlp)");
  }
  const bool mlp = s.policy == "mlp";
  c.config = text("config");
  c.dataset_checksum = text("dataset_checksum");
  c.num_ranks = integer("num_ranks");
  c.trace_records = integer("trace_records");
  s.iteration = integer("iteration");
  s.empty_group_steps = integer("empty_group_steps");
  s.singular_solves = integer("singular_solves");
  if (!f.has_attribute("/", "adagrad")) {
    throw missing("attribute", "adagrad");
  }
  s.adagrad = real("adagrad", 0.0);
  if (!f.has_attribute("/", "wall_seconds")) {
    throw missing("attribute", "wall_seconds");
  }
  c.wall_seconds = real("wall_seconds", 0.0);
  c.sft_seconds = real("sft_seconds", 0.0);
  s.lr = real("lr", 0.0);
  const auto vector = [&](const std::string& name, bool required) {
    if (!f.exists(name)) {
      if (required) {
        throw missing("dataset", name);
      }
      return std::vector<double>();
    }
    const auto info = f.info(name);
    if (info.type_class != H5T_FLOAT || info.dims.size() != 1) {
      throw DataError("'" + path + "': checkpoint dataset '" + name +
                      "' must be a 1-D float array");
    }
    auto v = f.read_double(name);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i]) && name != "log_alpha") {
        throw DataError("'" + path + "': checkpoint " + name + "[" + std::to_string(i) +
                        "] is not finite");
      }
    }
    return v;
  };
  s.theta = vector("theta", true);
  s.theta_avg = vector("theta_avg", !mlp);
  s.log_alpha = vector("log_alpha", true);
  s.alpha_avg = vector("alpha_avg", true);
  s.reference = vector("reference_params", false);
  s.optimizer = vector("optimizer_state", mlp);
  s.schedule = vector("schedule_state", false);
  if (f.exists("finals")) {
    for (const auto& name : f.list("finals")) {
      c.finals[name] = vector("finals/" + name, true);
    }
  }
  return c;
}

namespace {

/// Every field of `c` from rank 0 to the other ranks.
void broadcast(Checkpoint& c, const Communicator& comm) {
  auto& s = c.state;
  std::int64_t iteration = s.iteration;
  std::int64_t empty_steps = s.empty_group_steps;
  std::int64_t singular = s.singular_solves;
  auto finals = static_cast<std::int64_t>(c.finals.size());
  for (std::int64_t* v :
       {&c.num_ranks, &c.trace_records, &iteration, &empty_steps, &singular, &finals}) {
    comm.broadcast(*v);
  }
  s.iteration = iteration;
  s.empty_group_steps = empty_steps;
  s.singular_solves = singular;
  std::vector<double> reals{s.adagrad, s.lr, c.wall_seconds, c.sft_seconds};
  comm.broadcast(reals);
  s.adagrad = reals[0];
  s.lr = reals[1];
  c.wall_seconds = reals[2];
  c.sft_seconds = reals[3];
  for (std::string* t : {&s.policy, &c.config, &c.dataset_checksum}) {
    comm.broadcast(*t);
  }
  for (auto* v : {&s.theta, &s.theta_avg, &s.log_alpha, &s.alpha_avg, &s.reference, &s.optimizer,
                  &s.schedule}) {
    comm.broadcast(*v);
  }
  auto it = c.finals.begin();
  std::map<std::string, std::vector<double>> received;
  for (std::int64_t k = 0; k < finals; ++k) {
    std::string name = comm.is_root() ? it->first : std::string();
    std::vector<double> values = comm.is_root() ? it->second : std::vector<double>();
    comm.broadcast(name);
    comm.broadcast(values);
    received[name] = std::move(values);
    if (comm.is_root()) {
      ++it;
    }
  }
  c.finals = std::move(received);
}

} // namespace

std::optional<Checkpoint> resume_checkpoint(const std::string& path, const std::string& dataset,
                                            const std::string& config_text,
                                            const std::string& checksum, const Communicator& comm) {
  std::int64_t exists = std::filesystem::exists(path) ? 1 : 0;
  comm.broadcast(exists);
  if (exists == 0) {
    return std::nullopt;
  }
  std::string error;
  std::int64_t code = 0;
  Checkpoint c;
  if (comm.is_root()) {
    try {
      c = read_checkpoint(path);
      if (c.config != config_text) {
        std::istringstream a(c.config);
        std::istringstream b(config_text);
        std::string la;
        std::string lb;
        while (std::getline(a, la) && std::getline(b, lb) && la == lb) {
        }
        throw ConfigError("option --resume: checkpoint '" + path +
                          "' belongs to a run with other options (checkpoint: '" + la +
                          "', now: '" + lb + "'); give the same options, or remove it");
      }
      if (c.dataset_checksum != checksum) {
        throw DataError("option --resume: checkpoint '" + path +
                        "' was written for another dataset (checksum " + c.dataset_checksum +
                        ", '" + dataset + "' has " + checksum + ")");
      }
      if (c.num_ranks != comm.size()) {
        std::fprintf(stderr,
                     "note: checkpoint written by %lld ranks, resumed on %d: the results are "
                     "equal to rounding, not bit for bit\n",
                     static_cast<long long>(c.num_ranks), comm.size());
      }
    } catch (const Error& e) {
      error = e.what();
      code = e.exit_code();
    }
  }
  comm.broadcast(error);
  comm.broadcast(code);
  if (!error.empty()) {
    if (code == static_cast<int>(ExitCode::Config)) {
      throw ConfigError(error);
    }
    if (code == static_cast<int>(ExitCode::Data)) {
      throw DataError(error);
    }
    throw IoError(error);
  }
  broadcast(c, comm);
  return c;
}

} // namespace grpo::io
