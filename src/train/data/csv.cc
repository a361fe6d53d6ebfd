// CSV of numbers: an optional header row, one row per example, one optional label column.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "train/data/data_internal.h"

namespace privedge {
namespace data {
namespace {

// A cell's text for an error message: at most 40 characters, non-printable bytes escaped, so
// the message stays one short line whatever the file holds.
std::string Shown(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 40; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 40) out += "...";
  return out;
}

bool IsBlank(char c, char delimiter) { return (c == ' ' || c == '\t') && c != delimiter; }

// Walks the cells of one line. Next() returns false at the end of the line, or on a malformed
// quoted cell (then error() is set).
class CellReader {
 public:
  CellReader(std::string_view line, char delimiter) : line_(line), delimiter_(delimiter) {}

  bool Next(std::string_view* cell) {
    if (done_) return false;
    while (pos_ < line_.size() && IsBlank(line_[pos_], delimiter_)) ++pos_;
    if (pos_ < line_.size() && line_[pos_] == '"') {
      if (!ReadQuoted()) return false;
      *cell = scratch_;
    } else {
      size_t end = line_.find(delimiter_, pos_);
      if (end == std::string_view::npos) end = line_.size();
      size_t last = end;
      while (last > pos_ && IsBlank(line_[last - 1], delimiter_)) --last;
      *cell = line_.substr(pos_, last - pos_);
      pos_ = end;
    }
    if (pos_ < line_.size() && line_[pos_] == delimiter_) {
      ++pos_;  // a delimiter always starts another cell, possibly empty
    } else {
      done_ = true;
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool ReadQuoted() {
    scratch_.clear();
    ++pos_;
    for (;;) {
      const size_t quote = line_.find('"', pos_);
      if (quote == std::string_view::npos) {
        error_ = "unterminated quoted cell";
        return false;
      }
      scratch_.append(line_.substr(pos_, quote - pos_));
      pos_ = quote + 1;
      if (pos_ < line_.size() && line_[pos_] == '"') {
        scratch_ += '"';
        ++pos_;
        continue;
      }
      break;
    }
    while (pos_ < line_.size() && IsBlank(line_[pos_], delimiter_)) ++pos_;
    if (pos_ < line_.size() && line_[pos_] != delimiter_) {
      error_ = "text after the closing quote of a cell";
      return false;
    }
    return true;
  }

  std::string_view line_;
  char delimiter_;
  size_t pos_ = 0;
  bool done_ = false;
  std::string scratch_;
  std::string error_;
};

// Splits text into lines (\n or \r\n), skipping blank ones, counting from 1.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);  // UTF-8 byte order mark
  }
  bool Next(std::string_view* line) {
    while (pos_ < text_.size()) {
      size_t end = text_.find('\n', pos_);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view l = text_.substr(pos_, end - pos_);
      pos_ = end + 1;
      ++number_;
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      if (l.find_first_not_of(" \t") != std::string_view::npos) {
        *line = l;
        return true;
      }
    }
    return false;
  }
  int64_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t number_ = 0;
};

enum class NumberError { kNone, kNotANumber, kNonFinite, kOutOfRange };

NumberError ParseNumber(std::string_view s, double* value) {
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  if (s.empty()) return NumberError::kNotANumber;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *value);
  if (ec == std::errc::result_out_of_range) return NumberError::kOutOfRange;
  if (ec != std::errc() || ptr != s.data() + s.size()) return NumberError::kNotANumber;
  if (!std::isfinite(*value)) return NumberError::kNonFinite;
  return NumberError::kNone;
}

Status CheckOptions(const CsvOptions& options) {
  const char d = options.delimiter;
  if (d == '"' || d == '\n' || d == '\r' || d == ' ' || d == '.' || d == '-' || d == '+' ||
      (d >= '0' && d <= '9') || d == 'e' || d == 'E')
    return InvalidArgument("CSV delimiter '", Shown(std::string_view(&d, 1)),
                           "' is not allowed (it can appear inside a number or a quoted cell)");
  if (!options.label_name.empty() && options.has_label_index)
    return InvalidArgument("CSV label column given both by name ('", options.label_name,
                           "') and by index (", options.label_index, "); give one");
  return Status::OK();
}

}  // namespace

Result<CsvTable> ParseCsvText(std::string_view text, const std::string& label,
                              const CsvOptions& options, const DataLimits& limits) {
  {
    Status s = CheckOptions(options);
    if (!s.ok()) return s.WithContext(label);
  }
  LineReader lines(text);
  std::string_view line;
  if (!lines.Next(&line)) return InvalidArgument(label, ": empty CSV file (no rows)");
  const int64_t first_line = lines.number();

  std::vector<std::string> first;
  bool all_numbers = true;
  {
    CellReader cells(line, options.delimiter);
    std::string_view cell;
    while (cells.Next(&cell)) {
      double v;
      all_numbers &= ParseNumber(cell, &v) == NumberError::kNone;
      first.emplace_back(cell);
    }
    if (!cells.error().empty())
      return InvalidArgument(label, ": line ", first_line, ", column ", first.size() + 1, ": ",
                             cells.error());
  }
  const bool has_header = options.header == CsvOptions::Header::kPresent ||
                          (options.header == CsvOptions::Header::kAuto && !all_numbers);
  const int64_t columns = static_cast<int64_t>(first.size());

  int64_t label_column = -1;
  if (!options.label_name.empty()) {
    if (!has_header)
      return InvalidArgument(label, ": label column '", options.label_name,
                             "' is given by name but the file has no header row");
    for (int64_t c = 0; c < columns && label_column < 0; ++c)
      if (first[c] == options.label_name) label_column = c;
    if (label_column < 0)
      return NotFound(label, ": no column named '", Shown(options.label_name), "' in the header (",
                      columns, " columns, first '", Shown(first[0]), "')");
  } else if (options.has_label_index) {
    const int64_t i = options.label_index < 0 ? options.label_index + columns : options.label_index;
    if (i < 0 || i >= columns)
      return OutOfRange(label, ": label column index ", options.label_index, " is outside [",
                        -columns, ", ", columns - 1, "] for ", columns, " columns");
    label_column = i;
  }
  const int64_t feature_count = columns - (label_column >= 0 ? 1 : 0);
  if (feature_count == 0) return InvalidArgument(label, ": no feature columns");

  CsvTable table;
  if (has_header) {
    for (int64_t c = 0; c < columns; ++c) {
      if (c == label_column) {
        table.label_name = first[c];
      } else {
        table.feature_names.push_back(first[c]);
      }
    }
  }
  auto column_desc = [&](int64_t c) {
    std::string d = "column " + std::to_string(c + 1);
    if (has_header) d += " ('" + Shown(first[c]) + "')";
    return d;
  };

  std::vector<float> features;
  std::vector<double> labels;
  int64_t rows = 0;
  const uint64_t row_bytes = static_cast<uint64_t>(feature_count) * sizeof(float) +
                             (label_column >= 0 ? sizeof(double) : 0);
  bool pending_first = !has_header;
  while (pending_first || lines.Next(&line)) {
    const int64_t line_no = pending_first ? first_line : lines.number();
    pending_first = false;
    if ((static_cast<uint64_t>(rows) + 1) * row_bytes > limits.max_bytes)
      return ResourceExhausted(label, ": line ", line_no, ": ", rows + 1, " rows of ", columns,
                               " columns exceed the limit of ", limits.max_bytes,
                               " bytes (DataLimits::max_bytes)");
    CellReader cells(line, options.delimiter);
    std::string_view cell;
    int64_t c = 0;
    for (; cells.Next(&cell); ++c) {
      if (c >= columns)
        return InvalidArgument(label, ": line ", line_no, ": more than ", columns,
                               " cells (expected ", columns, ", as in line ", first_line, ")");
      double v = 0;
      switch (ParseNumber(cell, &v)) {
        case NumberError::kNone: break;
        case NumberError::kNotANumber:
          return InvalidArgument(label, ": line ", line_no, ", ", column_desc(c),
                                 ": expected a number, got '", Shown(cell), "'");
        case NumberError::kNonFinite:
          return InvalidArgument(label, ": line ", line_no, ", ", column_desc(c),
                                 ": expected a finite number, got '", Shown(cell), "'");
        case NumberError::kOutOfRange:
          return InvalidArgument(label, ": line ", line_no, ", ", column_desc(c),
                                 ": number out of range: '", Shown(cell), "'");
      }
      if (c == label_column) {
        labels.push_back(v);
      } else if (std::fabs(v) > std::numeric_limits<float>::max()) {
        return InvalidArgument(label, ": line ", line_no, ", ", column_desc(c), ": value '",
                               Shown(cell), "' is outside the float32 range");
      } else {
        features.push_back(static_cast<float>(v));
      }
    }
    if (!cells.error().empty())
      return InvalidArgument(label, ": line ", line_no, ", column ", c + 1, ": ", cells.error());
    if (c != columns)
      return InvalidArgument(label, ": line ", line_no, ": ", c, " cells, expected ", columns,
                             " (as in line ", first_line, ")");
    ++rows;
  }
  if (rows == 0) return InvalidArgument(label, ": CSV file has a header but no data rows");

  PE_ASSIGN_OR_RETURN(table.features,
                      Tensor::Create(DType::kFloat32, {rows, feature_count}, limits.max_bytes));
  std::memcpy(table.features.raw_data(), features.data(), features.size() * sizeof(float));
  if (label_column >= 0) {
    PE_ASSIGN_OR_RETURN(table.labels, Tensor::Create(DType::kFloat64, {rows}, limits.max_bytes));
    std::memcpy(table.labels.raw_data(), labels.data(), labels.size() * sizeof(double));
  }
  return table;
}

}  // namespace data

Result<CsvTable> ParseCsv(std::span<const uint8_t> bytes, const std::string& label,
                          const CsvOptions& options, const DataLimits& limits) {
  if (!IsGzip(bytes)) {
    if (bytes.size() > limits.max_bytes)
      return ResourceExhausted(label, ": ", bytes.size(), " bytes, above the limit of ",
                               limits.max_bytes, " bytes (DataLimits::max_bytes)");
    return data::ParseCsvText({reinterpret_cast<const char*>(bytes.data()), bytes.size()}, label,
                              options, limits);
  }
  PE_ASSIGN_OR_RETURN(std::string text, InflateIfGzip(bytes, label, limits));
  return data::ParseCsvText(text, label, options, limits);
}

Result<CsvTable> ReadCsvFile(const std::string& path, const CsvOptions& options,
                             const DataLimits& limits) {
  PE_ASSIGN_OR_RETURN(std::string text, ReadDataFile(path, limits));
  return data::ParseCsvText(text, path, options, limits);
}

}  // namespace privedge
