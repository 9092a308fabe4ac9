// The opcode loop of the restricted unpickler (pickle protocols 0 to 5, the opcodes torch.save uses).
#include "runtime/catalog/pickle_machine.hpp"

#include <cstdio>
#include <cstring>
#include <string>

namespace sdw::pickle {

value* unpickler::load() {
  for (;;) {
    op_start_ = pos_;
    if (pos_ >= data_.size()) bad("ends before its STOP opcode (the file is truncated)");
    const auto op = static_cast<uint8_t>(data_[pos_++]);
    switch (op) {
      case 0x80: {  // PROTO
        const auto version = unsigned_le(1);
        if (version > 5) bad("uses pickle protocol " + std::to_string(version));
        break;
      }
      case 0x95:  // FRAME: only a hint for buffered readers
        if (unsigned_le(8) > data_.size() - pos_) bad("a frame runs past the end of the data (the file is truncated)");
        break;
      case '.': {  // STOP
        value* result = pop();
        return result;
      }
      case '(':
        if (marks_.size() >= max_marks) bad("opens too many MARKs");
        marks_.push_back(stack_.size());
        break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case '}': push(make(kind::dict)); break;
      case ']': push(make(kind::list)); break;
      case ')': push(make(kind::tuple)); break;
      case 't': {
        value* t = make(kind::tuple);
        t->items = pop_mark();
        push(t);
        break;
      }
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        value* t = make(kind::tuple);
        t->items.resize(op - 0x84);
        for (size_t k = t->items.size(); k-- > 0;) t->items[k] = pop();
        push(t);
        break;
      }
      case 'l': {
        value* l = make(kind::list);
        l->items = pop_mark();
        push(l);
        break;
      }
      case 'd': {
        value* d = make(kind::dict);
        set_items(d, pop_mark());
        push(d);
        break;
      }
      case 's': {
        value* v = pop();
        value* k = pop();
        set_items(top(), {k, v});
        break;
      }
      case 'u': {
        auto items = pop_mark();
        set_items(top(), items);
        break;
      }
      case 'a': {
        value* v = pop();
        append(top(), {v});
        break;
      }
      case 'e': {
        auto items = pop_mark();
        append(top(), items);
        break;
      }
      case 'J': push(make_int(static_cast<int32_t>(static_cast<uint32_t>(unsigned_le(4))))); break;
      case 'K': push(make_int(static_cast<int64_t>(unsigned_le(1)))); break;
      case 'M': push(make_int(static_cast<int64_t>(unsigned_le(2)))); break;
      case 0x8a: push(make_long(take(length(unsigned_le(1))))); break;
      case 0x8b: push(make_long(take(length(unsigned_le(4))))); break;
      case 'I': case 'L': {  // text ints; "I00"/"I01" are protocol 0's False and True
        std::string text(line());
        if (op == 'I' && (text == "00" || text == "01")) {
          value* v = make(kind::boolean);
          v->b = text == "01";
          push(v);
          break;
        }
        if (op == 'L' && !text.empty() && text.back() == 'L') text.pop_back();
        errno = 0;
        char* end = nullptr;
        const long long n = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end || errno) bad("a text integer '" + text + "' is not a 64-bit int");
        push(make_int(n));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        auto bytes = take(8);
        uint64_t bits = 0;
        for (char c : bytes) bits = (bits << 8) | uint8_t(c);
        value* v = make(kind::real);
        std::memcpy(&v->f, &bits, sizeof bits);
        push(v);
        break;
      }
      case 'F': {
        std::string text(line());
        char* end = nullptr;
        const double d = std::strtod(text.c_str(), &end);
        if (text.empty() || *end) bad("a text float '" + text + "' does not parse");
        value* v = make(kind::real);
        v->f = d;
        push(v);
        break;
      }
      case 0x88: case 0x89: {
        value* v = make(kind::boolean);
        v->b = op == 0x88;
        push(v);
        break;
      }
      case 'N': push(make(kind::none)); break;
      case 0x8c: case 'U': push(make_text(take(length(unsigned_le(1))))); break;  // SHORT_BINUNICODE, SHORT_BINSTRING
      case 'X': case 'T': push(make_text(take(length(unsigned_le(4))))); break;   // BINUNICODE, BINSTRING
      case 0x8d: push(make_text(take(length(unsigned_le(8))))); break;            // BINUNICODE8
      case 'C': push(make_text(take(length(unsigned_le(1))), kind::bytes)); break;
      case 'B': push(make_text(take(length(unsigned_le(4))), kind::bytes)); break;
      case 0x8e: push(make_text(take(length(unsigned_le(8))), kind::bytes)); break;
      case 'q': memo_put(unsigned_le(1)); break;
      case 'r': memo_put(unsigned_le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'p': {
        std::string text(line());
        char* end = nullptr;
        const auto index = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || *end) bad("a memo index '" + text + "' does not parse");
        memo_put(index);
        break;
      }
      case 'h': push(memo_get(unsigned_le(1))); break;
      case 'j': push(memo_get(unsigned_le(4))); break;
      case 'g': {
        std::string text(line());
        char* end = nullptr;
        const auto index = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || *end) bad("a memo index '" + text + "' does not parse");
        push(memo_get(index));
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module(line());
        std::string name(line());
        push(make_global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        value* name = pop();
        value* module = pop();
        if (name->k != kind::text || module->k != kind::text) bad("names a global with something other than strings");
        push(make_global(module->s, name->s));
        break;
      }
      case 'R': {  // REDUCE
        value* args = pop();
        value* func = pop();
        push(call(func, args));
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args), for OrderedDict, ParameterDict and ModelCheckpoint only
        value* args = pop();
        value* cls = pop();
        const bool allowed = cls->k == kind::global && (cls->global == global_id::ordered_dict ||
                                                        cls->global == global_id::parameter_dict ||
                                                        cls->global == global_id::model_checkpoint);
        if (!allowed) bad("creates an instance of " + (cls->k == kind::global ? cls->s : std::string(kind_name(cls->k))));
        if (args->k != kind::tuple || !args->items.empty()) bad("creates an instance of " + cls->s + " with arguments");
        if (cls->global == global_id::ordered_dict) {
          push(make(kind::dict));
        } else {  // an empty instance; BUILD gives it its state
          value* v = make(kind::object);
          v->global = cls->global;
          v->s = cls->s;
          push(v);
        }
        break;
      }
      case 'b': {  // BUILD
        value* state = pop();
        build(top(), state);
        break;
      }
      case 0x8f: push(make(kind::list)); break;  // EMPTY_SET: a set is read as a list
      case 0x90: {                                // ADDITEMS
        auto items = pop_mark();
        append(top(), items);
        break;
      }
      case 0x91: {  // FROZENSET
        value* l = make(kind::list);
        l->items = pop_mark();
        push(l);
        break;
      }
      case 'Q': {  // BINPERSID: a storage
        value* pid = pop();
        push(load_persistent_(pid, [this](const std::string& m) { bad(m); }));
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        bad(std::string("uses the pickle opcode ") + hex + ", which a torch.save file does not need");
      }
    }
  }
}

} // namespace sdw::pickle
