#include "io/text_features.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"

#include <cmath>

namespace grpo::io {

void validate_text_dim(int dim) {
  if (dim < kTextMinDim || dim > kTextMaxDim) {
    throw ConfigError("option --dim: invalid value " + std::to_string(dim) + " (accepted: " +
                      std::to_string(kTextMinDim) + " to " + std::to_string(kTextMaxDim) + ")");
  }
}

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::vector<std::string> text_ngrams(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool inside =
        (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u >= 0x80 || (u >= 'A' && u <= 'Z');
    if (inside) {
      word += (u >= 'A' && u <= 'Z') ? static_cast<char>(u - 'A' + 'a') : c;
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) {
    words.push_back(std::move(word));
  }
  std::vector<std::string> ngrams = words;
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    ngrams.push_back(words[i] + " " + words[i + 1]);
  }
  return ngrams;
}

namespace {

/// out = block / ||block|| as float (zeros for an empty block).
void normalise(const std::vector<double>& block, float* out, int size) {
  double norm = 0.0;
  for (const double v : block) {
    norm += v * v;
  }
  norm = std::sqrt(norm);
  for (int j = 0; j < size; ++j) {
    out[j] = norm > 0.0 ? static_cast<float>(block[static_cast<std::size_t>(j)] / norm) : 0.0F;
  }
}

} // namespace

void hash_ngrams(const std::vector<std::string>& ngrams, float* out, int size) {
  std::vector<double> block(static_cast<std::size_t>(size), 0.0);
  for (const auto& g : ngrams) {
    const std::uint64_t h = rng::mix64(fnv1a64(g));
    const auto bucket = static_cast<std::size_t>((h & 0xffffffffULL) % static_cast<unsigned>(size));
    block[bucket] += (h >> 63) != 0 ? -1.0 : 1.0;
  }
  normalise(block, out, size);
}

namespace {

constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

/// Adds the signed count of one n-gram hash to its bucket.
void add_ngram(std::uint64_t fnv, std::vector<double>& block) {
  const std::uint64_t h = rng::mix64(fnv);
  const auto bucket = static_cast<std::size_t>((h & 0xffffffffULL) % block.size());
  block[bucket] += (h >> 63) != 0 ? -1.0 : 1.0;
}

} // namespace

void hash_text(const std::string& text, float* out, int size) {
  // hash_ngrams(text_ngrams(text), out, size) without building the n-gram strings: the FNV-1a
  // state of a word runs over its lower-cased bytes; a bigram's continues from the previous
  // word's hash through " ". The counts are integers, so their order does not matter.
  thread_local std::vector<double> block;
  block.assign(static_cast<std::size_t>(size), 0.0);
  std::uint64_t word = kFnvBasis;
  std::uint64_t bigram = kFnvBasis;
  std::uint64_t previous = 0;
  bool in_word = false;
  bool has_previous = false;
  const auto end_word = [&]() {
    add_ngram(word, block);
    if (has_previous) {
      add_ngram(bigram, block);
    }
    previous = word;
    has_previous = true;
    in_word = false;
  };
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool inside =
        (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u >= 0x80 || (u >= 'A' && u <= 'Z');
    if (inside) {
      if (!in_word) {
        in_word = true;
        word = kFnvBasis;
        bigram = (previous ^ static_cast<unsigned char>(' ')) * kFnvPrime;
      }
      const auto lowered = (u >= 'A' && u <= 'Z') ? static_cast<unsigned char>(u - 'A' + 'a') : u;
      word = (word ^ lowered) * kFnvPrime;
      bigram = (bigram ^ lowered) * kFnvPrime;
    } else if (in_word) {
      end_word();
    }
  }
  if (in_word) {
    end_word();
  }
  normalise(block, out, size);
}

} // namespace grpo::io
