// grpo train: one command, one run path for every policy (--policy loglinear | mlp). The run
// path, run_training<Policy>, loads the dataset, builds the policy's solver, resumes from a
// checkpoint, writes the trace (io::trace_header) and runs the training loop; the policy's own
// parts are apps/train_policy.hpp (train_loglinear.cpp, train_mlp.cpp).
#include "apps/commands.hpp"
#include "apps/options.hpp"
#include "apps/train_common.hpp"
#include "apps/train_options.hpp"
#include "apps/train_policy.hpp"
#include "core/error.hpp"
#include "core/kokkos_compat.hpp"
#include "io/run_checkpoint.hpp"
#include "io/run_header.hpp"
#include "io/trace_writer.hpp"

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace grpo::app {

namespace {

/// Runs `grpo train` with policy P (parsed options, before Kokkos starts).
template <class P>
int run_training(core::Environment& env, const ParsedOptions& parsed) {
  Communicator comm;
  std::optional<io::DatasetSummary> cached;
  const SummarySource dataset_summary = [&](const std::string& path) -> const io::DatasetSummary& {
    if (!cached) {
      cached = io::inspect_dataset(path, &comm);
    }
    return *cached;
  };
  auto setup = naming_config_file(parsed, [&] { return P::resolve(parsed, dataset_summary); });
  const RunSettings& run = setup.run;
  // Validate everything that needs only the dataset's metadata before loading its rows.
  const auto& summary = dataset_summary(run.paths.dataset);
  const auto init = naming_config_file(parsed, [&] {
    P::validate(setup, summary);
    return P::initial(setup, summary);
  });
  if (!env.kokkos_started()) { // runs of a bundle (grpo study task) share the first's Kokkos
    env.start_kokkos(parsed.kokkos_args);
  }

  const auto data = io::load_dataset(summary, comm, P::load_options(summary));
  const auto solver = P::make_solver(setup, comm, data, init);

  const std::string config_text = P::render(setup);
  const std::string checksum = io::dataset_checksum(run.paths.dataset, comm);
  const auto checkpoint =
      io::resume_run(run.checkpoint, run.paths.dataset, config_text, checksum, comm);
  if (run.checkpoint.resume && !checkpoint) {
    root_print(env, "# --resume: no checkpoint '" + run.checkpoint.path +
                        "' yet; starting from the beginning\n");
  }
  if (checkpoint) {
    io::restore_solver(*solver, *checkpoint, run.checkpoint.path);
  }
  if (!run.quiet) {
    root_print(env, "# grpo train: resolved configuration\n" + config_text + "# " +
                        P::describe(*solver) + "ranks = " + std::to_string(comm.size()) +
                        ", Kokkos " + core::kokkos_backend_name() + "\n");
    if (checkpoint) {
      root_print(env, "# resuming from '" + run.checkpoint.path + "' after step " +
                          std::to_string(checkpoint->state.iteration) + "\n");
    }
  }
  io::RunHeader header;
  header.config = config_text;
  header.method = solver::method_name(setup.config.method);
  header.dataset_checksum = checksum;
  header.num_ranks = comm.size();
  header.iterations = setup.config.iterations;
  header.trace_every = run.trace_every;
  header.seed = setup.config.seed;
  P::add_header(setup, *solver, header);
  io::TraceWriter trace =
      checkpoint ? io::TraceWriter(run.paths.out, comm, checkpoint->trace_records)
                 : io::TraceWriter(run.paths.out, comm, io::trace_header(header, data.summary));

  TraceEnd end;
  TraceRecord last;
  double loop_seconds = 0.0;
  try {
    P::before_training(setup, *solver, data, checkpoint ? &*checkpoint : nullptr, env, end);
    Progress progress(!run.quiet && comm.is_root(), setup.config.iterations,
                      checkpoint ? checkpoint->state.iteration : 0,
                      checkpoint ? checkpoint->wall_seconds : 0.0);
    solver::TraceOptions options = P::trace_options(setup);
    options.every = run.trace_every;
    options.checkpoint_every = run.checkpoint.every;
    options.wall_offset = checkpoint ? checkpoint->wall_seconds : 0.0;
    io::Checkpoint base;
    base.config = config_text;
    base.dataset_checksum = checksum;
    base.finals = end.finals; // complete: the loop adds only the values of add_end
    if (const auto it = end.seconds.find("sft_seconds"); it != end.seconds.end()) {
      base.sft_seconds = it->second;
    }
    options.checkpoint = io::checkpoint_writer(*solver, base, run.checkpoint, trace, comm);
    loop_seconds = P::train(*solver, data, options, [&](const TraceRecord& r) {
      trace.append(r);
      progress.update(r);
      last = r;
      P::after_record(setup, *solver, comm, r);
    });
  } catch (const Error& e) {
    trace.fail(e.what());
    throw;
  }
  P::add_end(*solver, end);
  end.attributes.merge(schedule_attributes(solver->schedule(), solver->iterations_done()));
  end.attributes.insert({"records", trace.records()});
  end.seconds["train_seconds"] = loop_seconds;
  trace.finish(end.finals, end.attributes, end.seconds);
  io::remove_checkpoint(run.checkpoint, checkpoint.has_value(), comm);
  if (!run.quiet) {
    std::ostringstream o;
    o << "done: " << run.paths.out << "  method " << solver::method_name(setup.config.method)
      << "  iterations " << solver->iterations_done();
    if (solver->schedule().stopped()) {
      o << " (stopped early: the rate fell below --plateau-stop-lr)";
    }
    if (!last.val_loss.empty()) {
      o << "  worst val loss " << format_double(last.worst_val_loss);
    }
    root_print(env, o.str() + P::summary(last) + "\n");
  }
  return 0;
}

/// Checks the options of a run with policy P against the dataset's metadata, without running it.
template <class P>
void check_training(const ParsedOptions& parsed, const io::DatasetSummary& data) {
  naming_config_file(parsed, [&] {
    auto setup =
        P::resolve(parsed, [&](const std::string&) -> const io::DatasetSummary& { return data; });
    P::validate(setup, data);
  });
}

} // namespace

bool mlp_policy_selected(const ParsedOptions& p) {
  bool mlp = false;
  if (given(p, "policy")) {
    const std::string policy = get_string(p, "policy");
    if (policy == "mlp") {
      mlp = true;
    } else if (policy != "loglinear") {
      throw ConfigError("option --policy: invalid value '" + policy +
                        "' (expected loglinear or mlp)");
    }
  }
  refuse_other_policy_options(p, mlp ? kMlpPolicy : kLogLinearPolicy);
  return mlp;
}

RunPaths required_paths(const ParsedOptions& p) {
  if (!given(p, "dataset")) {
    throw ConfigError("grpo train: the option '--dataset' is required but missing");
  }
  if (!given(p, "out")) {
    throw ConfigError("grpo train: the option '--out' is required but missing");
  }
  RunPaths r{get_string(p, "dataset"), get_string(p, "out")};
  std::error_code ec;
  if (r.out == r.dataset || std::filesystem::equivalent(r.out, r.dataset, ec)) {
    throw ConfigError("option --out: '" + r.out +
                      "' is the input dataset; refusing to overwrite it with a trace");
  }
  return r;
}

std::vector<index_t> train_group_sizes(const io::DatasetSummary& data) {
  std::vector<index_t> sizes;
  const auto& offsets = data.split("train")->offsets;
  for (std::size_t g = 0; g + 1 < offsets.size(); ++g) {
    sizes.push_back(offsets[g + 1] - offsets[g]);
  }
  return sizes;
}

void check_train_options(const std::vector<std::string>& args, const io::DatasetSummary& data) {
  const auto parsed = parse_options("train", train_options(), args);
  if (naming_config_file(parsed, [&] { return mlp_policy_selected(parsed); })) {
    check_training<MlpTraining>(parsed, data);
  } else {
    check_training<LogLinearTraining>(parsed, data);
  }
}

int run_train(core::Environment& env, const std::vector<std::string>& args) {
  const auto options = train_options();
  const auto parsed = parse_options("train", options, args);
  if (parsed.help) {
    std::ostringstream o;
    o << "Usage: grpo train --dataset FILE --out TRACE [--method M] [--preset P] [options]\n\n"
      << "Runs one method on a preference dataset and writes an HDF5 trace. Runs the same\n"
      << "under mpirun -n N (groups are partitioned over ranks by sample count).\n\n"
      << options;
    root_print(env, o.str());
    return 0;
  }
  if (naming_config_file(parsed, [&] { return mlp_policy_selected(parsed); })) {
    return run_training<MlpTraining>(env, parsed);
  }
  return run_training<LogLinearTraining>(env, parsed);
}

} // namespace grpo::app
