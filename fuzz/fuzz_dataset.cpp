// Fuzz target: the dataset reader (inspect_dataset + load_dataset). Structure-aware: the input
// bytes choose a dataset file's layout (attributes of any type and arity, groups, offsets,
// feature arrays of any shape and type, NaN and Inf values, an env/ group), which is written
// as a well-formed HDF5 file and then read. This exercises grpo's validation, which grpo owns;
// flipping bytes inside HDF5's own structures would mostly exercise libhdf5's parser (whose
// crashes on damaged files grpo cannot prevent; see docs/reliability.md). Any input must end
// in a grpo::Error or a loaded dataset: never a crash, a sanitizer report or another exception.
#include "core/communicator.hpp"
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/hdf5.hpp"

#include <Kokkos_Core.hpp>

#include <hdf5.h>

#include <cmath>
#include <cstdlib>
#include <fuzzer/FuzzedDataProvider.h>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

const std::string& file_path() {
  static const std::string path =
      "/tmp/grpo-fuzz-" + std::to_string(static_cast<long>(getpid())) + ".h5";
  return path;
}

/// Builds one HDF5 file from the fuzzer's choices.
class Builder {
public:
  Builder(FuzzedDataProvider& in, hid_t file)
      : m_in(in)
      , m_file(file) {}

  void string_attribute(hid_t object, const char* name, const std::string& typical) {
    if (!m_in.ConsumeBool() && m_in.remaining_bytes() > 0) {
      return; // absent
    }
    const int shape = m_in.ConsumeIntegralInRange(0, 3);
    if (shape == 3) { // a number where a string is expected
      integer_attribute(object, name, 1, false);
      return;
    }
    std::string value = m_in.ConsumeBool() ? typical : m_in.ConsumeRandomLengthString(16);
    const hsize_t count = shape == 2 ? m_in.ConsumeIntegralInRange<hsize_t>(2, 4) : 1;
    hid_t type = H5Tcopy(H5T_C_S1);
    if (shape == 1) {
      H5Tset_size(type, H5T_VARIABLE);
    } else {
      H5Tset_size(type, std::max<std::size_t>(value.size(), 1));
    }
    hid_t space = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr);
    hid_t attr = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr >= 0) {
      if (shape == 1) {
        std::vector<const char*> values(count, value.c_str());
        H5Awrite(attr, type, values.data());
      } else {
        std::string buffer;
        for (hsize_t i = 0; i < count; ++i) {
          buffer += value;
          buffer.resize((i + 1) * std::max<std::size_t>(value.size(), 1), '\0');
        }
        H5Awrite(attr, type, buffer.data());
      }
      H5Aclose(attr);
    }
    H5Sclose(space);
    H5Tclose(type);
  }

  void integer_attribute(hid_t object, const char* name, std::int64_t typical,
                         bool may_skip = true) {
    if (may_skip && !m_in.ConsumeBool() && m_in.remaining_bytes() > 0) {
      return;
    }
    const std::int64_t value = m_in.ConsumeBool() ? typical : m_in.ConsumeIntegral<std::int64_t>();
    const bool as_double = m_in.ConsumeIntegralInRange(0, 7) == 0;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(object, name, as_double ? H5T_IEEE_F64LE : H5T_STD_I64LE, space,
                            H5P_DEFAULT, H5P_DEFAULT);
    if (attr >= 0) {
      const double d = static_cast<double>(value);
      H5Awrite(attr, as_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64,
               as_double ? static_cast<const void*>(&d) : static_cast<const void*>(&value));
      H5Aclose(attr);
    }
    H5Sclose(space);
  }

  /// A dataset of `dims` (each may be perturbed), float or integer, with fuzzed values.
  void array(const std::string& name, std::vector<hsize_t> dims, bool integral,
             std::int64_t typical_step = 0) {
    if (m_in.ConsumeIntegralInRange(0, 9) == 0) {
      return; // missing
    }
    if (m_in.ConsumeIntegralInRange(0, 5) == 0) { // another rank or extent
      dims.resize(m_in.ConsumeIntegralInRange<std::size_t>(0, 3),
                  m_in.ConsumeIntegralInRange<hsize_t>(0, 5));
    }
    hsize_t total = 1;
    for (auto& d : dims) {
      d = std::min<hsize_t>(d, 64);
      total *= d;
    }
    const bool swap_type = m_in.ConsumeIntegralInRange(0, 9) == 0;
    const bool as_int = integral != swap_type;
    hid_t space = dims.empty()
                      ? H5Screate(H5S_SCALAR)
                      : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t dset = H5Dcreate2(m_file, name.c_str(), as_int ? H5T_STD_I64LE : H5T_IEEE_F32LE, space,
                            H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dset >= 0) {
      if (as_int) {
        std::vector<std::int64_t> v(total);
        for (hsize_t i = 0; i < total; ++i) {
          v[i] = m_in.ConsumeBool() ? static_cast<std::int64_t>(i) * typical_step
                                    : m_in.ConsumeIntegralInRange<std::int64_t>(-3, 1000);
        }
        H5Dwrite(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
      } else {
        std::vector<float> v(total);
        for (hsize_t i = 0; i < total; ++i) {
          switch (m_in.ConsumeIntegralInRange(0, 15)) {
          case 0:
            v[i] = std::numeric_limits<float>::quiet_NaN();
            break;
          case 1:
            v[i] = std::numeric_limits<float>::infinity();
            break;
          default:
            v[i] = m_in.ConsumeFloatingPointInRange<float>(-4.0f, 4.0f);
          }
        }
        H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
      }
      H5Dclose(dset);
    }
    H5Sclose(space);
  }

  void strings(const std::string& name, hsize_t count) {
    if (m_in.ConsumeIntegralInRange(0, 9) == 0) {
      return;
    }
    count = m_in.ConsumeBool() ? count : m_in.ConsumeIntegralInRange<hsize_t>(0, 6);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 8);
    hid_t space = H5Screate_simple(1, &count, nullptr);
    hid_t dset =
        H5Dcreate2(m_file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dset >= 0) {
      std::string buffer(count * 8, '\0');
      for (hsize_t i = 0; i < count; ++i) {
        const std::string s = m_in.ConsumeRandomLengthString(8);
        buffer.replace(i * 8, s.size(), s);
      }
      if (count > 0) {
        H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data());
      }
      H5Dclose(dset);
    }
    H5Sclose(space);
    H5Tclose(type);
  }

  void split(const char* name, hsize_t k, hsize_t d) {
    if (std::string(name) != "train" && !m_in.ConsumeBool()) {
      return;
    }
    const hsize_t per_group = m_in.ConsumeIntegralInRange<hsize_t>(0, 4);
    const hsize_t n = per_group * k;
    H5Gclose(H5Gcreate2(m_file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    const std::string p = std::string(name) + "/";
    array(p + "offsets", {k + 1}, true, static_cast<std::int64_t>(per_group));
    array(p + "chosen", {n, d}, false);
    array(p + "rejected", {n, d}, false);
    if (m_in.ConsumeBool()) {
      array(p + "ref_logratio", {n}, false);
    }
  }

private:
  FuzzedDataProvider& m_in;
  hid_t m_file;
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  Kokkos::initialize(*argc, *argv);
  std::atexit([] { Kokkos::finalize(); });
  grpo::io::h5::silence_errors();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const hsize_t k = in.ConsumeIntegralInRange<hsize_t>(1, 4);
  const hsize_t d = in.ConsumeIntegralInRange<hsize_t>(1, 6);
  {
    hid_t file = H5Fcreate(file_path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
      std::abort(); // the harness is broken
    }
    Builder b(in, file);
    b.string_attribute(file, "schema_version", "1.0");
    b.string_attribute(file, "kind", "dataset");
    b.string_attribute(file, "source", "synthetic");
    b.string_attribute(file, "preset", "even-imbalanced");
    b.integer_attribute(file, "feature_dim", static_cast<std::int64_t>(d));
    b.integer_attribute(file, "num_groups", static_cast<std::int64_t>(k));
    H5Gclose(H5Gcreate2(file, "groups", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    b.strings("groups/names", k);
    for (const char* s : {"train", "val", "test"}) {
      b.split(s, k, d);
    }
    if (in.ConsumeBool()) {
      H5Gclose(H5Gcreate2(file, "env", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
      b.array("env/reward_params", {k, d}, false);
      b.array("env/action_features",
              {in.ConsumeIntegralInRange<hsize_t>(0, 3), k,
               in.ConsumeIntegralInRange<hsize_t>(0, 4), d},
              false);
    }
    H5Fclose(file);
  }
  try {
    const auto summary = grpo::io::inspect_dataset(file_path());
    grpo::Communicator comm;
    const auto loaded = grpo::io::load_dataset(summary, comm);
    (void)loaded;
  } catch (const grpo::Error&) {
    // the expected outcome for a malformed dataset
  }
  return 0;
}
