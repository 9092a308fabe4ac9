#pragma once
/// The pickle virtual machine of the restricted unpickler: it builds values and calls nothing but
/// the allow-listed rebuilders (pickle_globals.cpp). Internal to runtime/catalog.

#include "runtime/catalog/pickle_values.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sdw::pickle {

class unpickler {
public:
  using persistent_loader = std::function<value*(value* pid, const std::function<void(const std::string&)>& bad)>;

  unpickler(heap& h, std::string_view data, size_t start, std::string record, persistent_loader load_persistent)
    : heap_(h), data_(data), pos_(start), record_(std::move(record)), load_persistent_(std::move(load_persistent)) {}

  /// Runs to the STOP opcode and returns the pickled object.
  value* load();
  /// The byte after the STOP opcode.
  size_t position() const { return pos_; }

private:
  [[noreturn]] void bad(const std::string& message) const {
    fail(heap_.file, record_ + " at byte " + std::to_string(op_start_) + ": " + message);
  }
  std::string_view take(size_t n) {
    if (n > data_.size() - pos_) bad("ends in the middle of an opcode (the file is truncated)");
    auto out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t unsigned_le(size_t n) {
    auto bytes = take(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(uint8_t(bytes[k])) << (8 * k);
    return v;
  }
  std::string_view line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos || end - pos_ > max_text_line) bad("a text argument has no end of line");
    auto out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  size_t length(uint64_t n) {
    if (n > data_.size() - pos_) bad("a string or bytes length runs past the end of the data");
    return size_t(n);
  }

  void push(value* v) { stack_.push_back(v); }
  value* pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("pops an empty stack");
    value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  value* top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("reads an empty stack");
    return stack_.back();
  }
  std::vector<value*> pop_mark() {
    if (marks_.empty()) bad("closes a MARK that was never opened");
    std::vector<value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }

  value* make(kind k) { return heap_.make(k); }
  value* make_int(int64_t i) {
    value* v = make(kind::integer);
    v->i = i;
    return v;
  }
  value* make_text(std::string_view s, kind k = kind::text) {
    value* v = make(k);
    v->s = std::string(s);
    return v;
  }
  value* make_long(std::string_view bytes);
  value* make_global(const std::string& module, const std::string& name);
  value* call(value* func, value* args);
  value* rebuild_tensor(const std::vector<value*>& args, bool v2);
  value* numpy_scalar(const std::vector<value*>& args);
  value* latin1_bytes(const std::vector<value*>& args);
  void build_array(value* target, value* state);
  void build(value* target, value* state);
  std::vector<int64_t> int_tuple(value* v, const char* what);

  void memo_put(uint64_t index) {
    if (memo_.size() >= max_objects && !memo_.count(index)) bad("memoizes too many objects");
    memo_[index] = top();
  }
  value* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) bad("reads memo entry " + std::to_string(index) + ", which was never stored");
    return it->second;
  }
  void set_items(value* dict, const std::vector<value*>& items) {
    if (dict->k != kind::dict) bad(std::string("sets items on ") + kind_name(dict->k) + ", not a dict");
    if (items.size() % 2) bad("sets items from an odd number of keys and values");
    for (size_t k = 0; k < items.size(); k += 2) dict->entries.emplace_back(items[k], items[k + 1]);
  }
  void append(value* list, const std::vector<value*>& items) {
    if (list->k != kind::list) bad(std::string("appends to ") + kind_name(list->k) + ", not a list");
    list->items.insert(list->items.end(), items.begin(), items.end());
  }

  heap& heap_;
  std::string_view data_;
  size_t pos_;
  size_t op_start_ = 0;
  std::string record_;
  persistent_loader load_persistent_;
  std::vector<value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, value*> memo_;
};

} // namespace sdw::pickle
