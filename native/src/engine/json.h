// A small strict JSON parser (RFC 8259) for config.json and the safetensors
// header. Strict means: one value with optional surrounding whitespace,
// no comments, no trailing commas, valid UTF-8, no lone surrogates, no
// duplicate object keys, numbers within the range of a double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crossrank::json {

// A syntax error; offset is the byte where parsing stopped.
class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& what, std::size_t offset);
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, Value>;

  Value() = default;

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors assume the matching type (check first).
  bool as_bool() const { return bool_; }
  double as_double() const { return number_; }
  const std::string& as_string() const { return string_; }
  const std::vector<Value>& as_array() const { return array_; }
  const std::vector<Member>& as_object() const { return object_; }

  // A number written as an integer literal (no fraction or exponent) that
  // fits in uint64 / int64; false otherwise. Doubles cannot hold every
  // byte offset of a large file, so offsets are read through these.
  bool get_uint64(std::uint64_t* out) const;
  bool get_int64(std::int64_t* out) const;

  // The member named key of an object, or null if absent (or not an object).
  const Value* find(std::string_view key) const;

  // Short name of a type for error messages: "a string", "an object", ...
  static const char* type_name(Type type);

 private:
  friend class Parser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool integer_literal_ = false;
  bool negative_ = false;
  std::uint64_t magnitude_ = 0;  // |value| when integer_literal_ and it fits
  bool magnitude_fits_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<Member> object_;
};

inline constexpr int kDefaultMaxDepth = 64;

// Parses text as one JSON value. Throws ParseError.
Value parse(std::string_view text, int max_depth = kDefaultMaxDepth);

}  // namespace crossrank::json
