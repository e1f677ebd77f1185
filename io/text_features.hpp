// The hashed n-gram feature hasher shared by the text converters (`grpo convert globalopinionqa`
// and `grpo convert pairs`; docs/formats.md): word unigrams and bigrams of a text, signed
// feature hashing into a block, the block L2-normalised. One implementation and one `--dim`
// option for both converters; deterministic and platform-independent (FNV-1a, splitmix64).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::io {

/// The accepted range and the default of a converter's feature dimension (`--dim`).
inline constexpr int kTextMinDim = 8;
inline constexpr int kTextMaxDim = 1 << 16;
inline constexpr int kTextDefaultDim = 64;
/// ConfigError("option --dim: invalid value <d> (accepted: 8 to 65536)") outside the range.
void validate_text_dim(int dim);
/// The help text of the `--dim` option of every text converter.
inline constexpr const char* kTextDimHelp = "feature dimension d, >= 8 [64]";

/// FNV-1a, 64 bit, over the bytes of `text`.
std::uint64_t fnv1a64(std::string_view text);
/// Word unigrams and bigrams ("w1 w2") of a text: ASCII letters lower-cased, words split at every
/// byte that is neither an ASCII letter or digit nor >= 0x80 (UTF-8 text stays inside words).
std::vector<std::string> text_ngrams(const std::string& text);
/// Signed feature hashing of n-grams into out[0 .. size): h = mix64(fnv1a64(n-gram)), bucket =
/// (h mod 2^32) mod size, sign = - when bit 63 of h is set; the block is then L2-normalised
/// (left zero when every count cancels or there is no n-gram).
void hash_ngrams(const std::vector<std::string>& ngrams, float* out, int size);
/// hash_ngrams(text_ngrams(text), out, size).
void hash_text(const std::string& text, float* out, int size);
/// How feature_map attributes describe the hashing of one block.
inline constexpr const char* kNgramHashDescription =
    "n-grams: word unigrams and bigrams (ASCII lower-cased, split at non-alphanumeric ASCII), "
    "h = splitmix64(fnv1a64(n-gram)), bucket = (h mod 2^32) mod size, sign = -1 if bit 63 of h, "
    "blocks L2-normalised";

} // namespace grpo::io
