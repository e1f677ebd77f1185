// Error types and the exit codes of their classes. Exceptions are thrown at boundaries only
// (configuration, file input, numerical faults detected after a reduction), never inside kernels.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace grpo {

/// Process exit codes, one per error class (documented in docs/cli.md).
enum class ExitCode : int {
  Success = 0,
  Config = 2,    ///< bad command line, config file or option value
  Data = 3,      ///< a dataset (or theta-init file) with wrong content
  Io = 4,        ///< a file that cannot be opened, read or written
  Numerical = 5, ///< NaN/Inf in a loss, gradient or parameter
  Internal = 70, ///< a bug: please report
};

/// Base class of every grpo error. `rank_local()` is true when only the throwing rank knows
/// about the failure (the others would wait in the next collective): main then aborts the job
/// instead of returning.
class Error : public std::runtime_error {
public:
  Error(ExitCode code, const std::string& message, bool rank_local = false)
      : std::runtime_error(message)
      , m_code(code)
      , m_rank_local(rank_local) {}
  ExitCode code() const noexcept { return m_code; }
  int exit_code() const noexcept { return static_cast<int>(m_code); }
  bool rank_local() const noexcept { return m_rank_local; }

private:
  ExitCode m_code;
  bool m_rank_local;
};

class ConfigError : public Error {
public:
  explicit ConfigError(const std::string& message)
      : Error(ExitCode::Config, message) {}
};

/// A ConfigError about one field of a library's configuration struct (`closed_form` of
/// solver::SolverConfig, `optimizer.lr` of solver::NeuralConfig): libraries name their own fields,
/// never the options of a front end. The detail may mention other fields as `{field}` (paths
/// relative to the same struct). what() spells every field as it is ("closed_form: needs full
/// batches (sampling code_batch and batch_size 0)"); a front end spells them its own way with
/// message() (grpo's CLI: "--closed-form: ... (--sampling code_batch and --batch-size 0)").
class ConfigFieldError : public ConfigError {
public:
  using Spelling = std::function<std::string(const std::string& field)>;

  ConfigFieldError(std::string field, std::string detail);
  const std::string& field() const noexcept { return m_field; }
  /// The text after "field: ", with `{field}` references unresolved.
  const std::string& detail() const noexcept { return m_detail; }
  /// spell(field()) + ": " + detail() with every `{f}` replaced by spell(f).
  std::string message(const Spelling& spell) const;
  /// The same error seen from the struct that holds this one's as member `member`: every field,
  /// the subject and those of the detail, becomes `member.field` (a nested validate()).
  ConfigFieldError within(const std::string& member) const;

private:
  std::string m_field;
  std::string m_detail;
};

class DataError : public Error {
public:
  explicit DataError(const std::string& message)
      : Error(ExitCode::Data, message) {}
};

class IoError : public Error {
public:
  explicit IoError(const std::string& message, bool rank_local = false)
      : Error(ExitCode::Io, message, rank_local) {}
};

class NumericalError : public Error {
public:
  explicit NumericalError(const std::string& message)
      : Error(ExitCode::Numerical, message) {}
};

class InternalError : public Error {
public:
  explicit InternalError(const std::string& message, bool rank_local = true)
      : Error(ExitCode::Internal, message, rank_local) {}
};

/// Human-readable name of an exit code's class ("configuration", "data", ...).
const char* exit_code_class(ExitCode code) noexcept;

/// Formats a double the way error messages and attributes show it (shortest round-trip form).
std::string format_double(double value);

/// `text` on one line: control characters (a newline in a file name or a value) become escapes
/// such as \n and \x01, so an error message stays a single line.
std::string printable(const std::string& text);

} // namespace grpo
