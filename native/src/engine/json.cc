#include "engine/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

namespace crossrank::json {

ParseError::ParseError(const std::string& what, std::size_t offset)
    : std::runtime_error("invalid JSON at byte " + std::to_string(offset) + ": " + what),
      offset_(offset) {}

bool Value::get_uint64(std::uint64_t* out) const {
  if (type_ != Type::kNumber || !integer_literal_ || !magnitude_fits_) return false;
  if (negative_ && magnitude_ != 0) return false;
  *out = magnitude_;
  return true;
}

bool Value::get_int64(std::int64_t* out) const {
  if (type_ != Type::kNumber || !integer_literal_ || !magnitude_fits_) return false;
  constexpr std::uint64_t kMaxPositive = static_cast<std::uint64_t>(INT64_MAX);
  if (!negative_) {
    if (magnitude_ > kMaxPositive) return false;
    *out = static_cast<std::int64_t>(magnitude_);
  } else {
    if (magnitude_ > kMaxPositive + 1) return false;
    *out = magnitude_ == kMaxPositive + 1 ? INT64_MIN : -static_cast<std::int64_t>(magnitude_);
  }
  return true;
}

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const Member& member : object_) {
    if (member.first == key) return &member.second;
  }
  return nullptr;
}

const char* Value::type_name(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return "a boolean";
    case Type::kNumber: return "a number";
    case Type::kString: return "a string";
    case Type::kArray: return "an array";
    case Type::kObject: return "an object";
  }
  return "?";
}

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  Value parse_document() {
    skip_whitespace();
    Value value = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected data after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw ParseError(what, pos_); }

  bool at_end() const { return pos_ >= text_.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(text_[pos_]); }

  void skip_whitespace() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_literal(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) fail("invalid literal");
    pos_ += literal.size();
  }

  Value parse_value(int depth) {
    if (at_end()) fail("unexpected end of input, expected a value");
    Value value;
    switch (peek()) {
      case '{':
        return parse_object(depth + 1);
      case '[':
        return parse_array(depth + 1);
      case '"':
        value.type_ = Value::Type::kString;
        value.string_ = parse_string();
        return value;
      case 't':
        expect_literal("true");
        value.type_ = Value::Type::kBool;
        value.bool_ = true;
        return value;
      case 'f':
        expect_literal("false");
        value.type_ = Value::Type::kBool;
        return value;
      case 'n':
        expect_literal("null");
        return value;
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number();
        fail("unexpected character, expected a value");
    }
  }

  void check_depth(int depth) {
    if (depth > max_depth_) fail("nesting deeper than " + std::to_string(max_depth_) + " levels");
  }

  Value parse_object(int depth) {
    check_depth(depth);
    Value value;
    value.type_ = Value::Type::kObject;
    ++pos_;  // '{'
    skip_whitespace();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return value;
    }
    for (;;) {
      skip_whitespace();
      if (at_end() || peek() != '"') fail("expected a string as object key");
      std::string key = parse_string();
      skip_whitespace();
      if (at_end() || peek() != ':') fail("expected ':' after object key");
      ++pos_;
      skip_whitespace();
      Value member = parse_value(depth);
      value.object_.emplace_back(std::move(key), std::move(member));
      skip_whitespace();
      if (at_end()) fail("unexpected end of input in an object");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        break;
      }
      fail("expected ',' or '}' in an object");
    }
    check_unique_keys(value.object_);
    return value;
  }

  // Duplicate keys make a document ambiguous (which tensor is meant?), so
  // they are refused. Sorting keeps this O(n log n) for large headers.
  void check_unique_keys(const std::vector<Value::Member>& members) {
    if (members.size() < 2) return;
    std::vector<std::string_view> keys;
    keys.reserve(members.size());
    for (const Value::Member& m : members) keys.push_back(m.first);
    std::sort(keys.begin(), keys.end());
    auto dup = std::adjacent_find(keys.begin(), keys.end());
    if (dup != keys.end()) fail("duplicate object key \"" + std::string(*dup) + "\"");
  }

  Value parse_array(int depth) {
    check_depth(depth);
    Value value;
    value.type_ = Value::Type::kArray;
    ++pos_;  // '['
    skip_whitespace();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return value;
    }
    for (;;) {
      skip_whitespace();
      value.array_.push_back(parse_value(depth));
      skip_whitespace();
      if (at_end()) fail("unexpected end of input in an array");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        break;
      }
      fail("expected ',' or ']' in an array");
    }
    return value;
  }

  static int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Reads the 4 hex digits after "\u".
  unsigned read_hex4() {
    if (text_.size() - pos_ < 4) fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = hex_digit(static_cast<unsigned char>(text_[pos_ + i]));
      if (d < 0) fail("invalid hex digit in \\u escape");
      code = code * 16 + static_cast<unsigned>(d);
    }
    pos_ += 4;
    return code;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Validates one UTF-8 sequence starting at pos_ (lead byte >= 0x80) and
  // copies it; refuses overlong forms, surrogates and code points > U+10FFFF.
  void copy_utf8_sequence(std::string& out) {
    const unsigned char lead = peek();
    int extra;
    unsigned cp;
    unsigned min;
    if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1, cp = lead & 0x1F, min = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2, cp = lead & 0x0F, min = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3, cp = lead & 0x07, min = 0x10000;
    } else {
      fail("invalid UTF-8 in a string");
    }
    if (text_.size() - pos_ <= static_cast<std::size_t>(extra)) fail("truncated UTF-8 sequence");
    for (int i = 1; i <= extra; ++i) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_ + i]);
      if ((c & 0xC0) != 0x80) fail("invalid UTF-8 in a string");
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      fail("invalid UTF-8 in a string");
    }
    out.append(text_.substr(pos_, extra + 1));
    pos_ += extra + 1;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      const unsigned char c = peek();
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in a string");
      if (c >= 0x80) {
        copy_utf8_sequence(out);
        continue;
      }
      if (c != '\\') {
        // Copy the run of plain ASCII at once.
        std::size_t end = pos_ + 1;
        while (end < text_.size()) {
          const unsigned char d = static_cast<unsigned char>(text_[end]);
          if (d == '"' || d == '\\' || d < 0x20 || d >= 0x80) break;
          ++end;
        }
        out.append(text_.substr(pos_, end - pos_));
        pos_ = end;
        continue;
      }
      ++pos_;  // backslash
      if (at_end()) fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = read_hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail("high surrogate not followed by a low surrogate");
            pos_ += 2;
            const unsigned low = read_hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          fail("invalid escape character");
      }
    }
  }

  Value parse_number() {
    const std::size_t start = pos_;
    Value value;
    value.type_ = Value::Type::kNumber;
    if (peek() == '-') {
      value.negative_ = true;
      ++pos_;
    }
    auto is_digit = [this] { return !at_end() && peek() >= '0' && peek() <= '9'; };
    if (!is_digit()) fail("expected a digit");
    // Integer part: a single 0, or a non-zero digit followed by digits.
    bool fits = true;
    std::uint64_t magnitude = 0;
    if (peek() == '0') {
      ++pos_;
      if (is_digit()) fail("leading zeros are not allowed");
    } else {
      while (is_digit()) {
        const unsigned d = peek() - '0';
        if (magnitude > (UINT64_MAX - d) / 10) fits = false;
        if (fits) magnitude = magnitude * 10 + d;
        ++pos_;
      }
    }
    bool integer = true;
    if (!at_end() && peek() == '.') {
      integer = false;
      ++pos_;
      if (!is_digit()) fail("expected a digit after the decimal point");
      while (is_digit()) ++pos_;
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      integer = false;
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (!is_digit()) fail("expected a digit in the exponent");
      while (is_digit()) ++pos_;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    double number = 0.0;
    const auto result = std::from_chars(first, last, number);
    if (result.ec == std::errc::result_out_of_range) {
      // from_chars also reports underflow as out of range; a tiny number is
      // just zero, only overflow is an error.
      bool all_zero_mantissa = true;
      for (const char* p = first; p < last && *p != 'e' && *p != 'E'; ++p) {
        if (*p >= '1' && *p <= '9') all_zero_mantissa = false;
      }
      const char* e = std::find_if(first, last, [](char c) { return c == 'e' || c == 'E'; });
      const bool negative_exponent = e != last && e + 1 < last && e[1] == '-';
      if (!all_zero_mantissa && !negative_exponent) {
        pos_ = start;
        fail("number out of range");
      }
      number = value.negative_ ? -0.0 : 0.0;
    } else if (result.ec != std::errc() || result.ptr != last || !std::isfinite(number)) {
      pos_ = start;
      fail("number out of range");
    }
    value.number_ = number;
    value.integer_literal_ = integer;
    value.magnitude_ = magnitude;
    value.magnitude_fits_ = integer && fits;
    return value;
  }

  std::string_view text_;
  int max_depth_;
  std::size_t pos_ = 0;
};

Value parse(std::string_view text, int max_depth) {
  return Parser(text, max_depth).parse_document();
}

}  // namespace crossrank::json
