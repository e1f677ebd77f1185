// Helpers of the readers of text inputs (the GlobalOpinionQA JSON array, the JSONL and CSV
// preference pairs): opening the file, values shown in one-line messages, JSON error texts,
// line and column of a byte, UTF-8 validation.
#pragma once

#include <cstddef>
#include <fstream>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace grpo::io {

/// `s` without leading and trailing spaces, tabs, CRs and LFs.
std::string trim(std::string_view s);
/// Opens an input file for binary reading: IoError "cannot open 'PATH': no such file" (or "not a
/// regular file"), "cannot read 'PATH' (permissions?)".
std::ifstream open_input_file(const std::string& path);
/// A value from an input as a message shows it: quoted, on one line, cut after 80 bytes.
std::string shown(const std::string& value);
/// The text of a JSON number for messages (shortest round trip for floating point).
std::string json_number_text(const nlohmann::json& v);
/// "a string", "an object", ... for messages.
std::string json_type_text(const nlohmann::json& v);
/// nlohmann's reason without its "[json.exception...] parse error at line L, column C: " prefix,
/// cut after 160 bytes.
std::string json_parse_reason(const std::string& what);
/// Line and column (1-based) of byte `offset` (0-based) of `text`.
std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t offset);
/// The offset of the first byte of `text` that is not part of a well-formed UTF-8 sequence
/// (overlong forms, surrogates and code points above U+10FFFF are ill-formed), or npos. A
/// sequence cut by the end of `text` is ill-formed.
std::size_t invalid_utf8_at(std::string_view text);

} // namespace grpo::io
