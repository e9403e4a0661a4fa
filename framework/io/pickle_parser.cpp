#include "framework/io/pickle_parser.h"

#include "framework/core/error.h"

#include <cstring>
#include <map>
#include <memory>
#include <optional>

namespace qmoe {
namespace {

// Just the value kinds torch state dicts use. Unknown globals are kept as kGlobal and only
// rejected if something tries to call them.
struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Value {
  enum Kind { kNone, kBool, kInt, kFloat, kStr, kBytes, kTuple, kList, kDict, kGlobal, kStorage, kTensor, kMark };
  Kind kind = kNone;
  int64_t i = 0;
  double f = 0;
  std::string s, s2;                                // str/bytes; global: module (s) + name (s2)
  std::vector<ValuePtr> items;                      // tuple/list
  std::vector<std::pair<ValuePtr, ValuePtr>> dict;  // dict in insertion order
  PickledTensor tensor;                             // storage: dtype, key, numel; tensor: all
};

ValuePtr Make(Value::Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

// Storage class names as they appear in torch.save pickles ("torch FloatStorage").
std::optional<at::ScalarType> StorageDtype(const std::string& name) {
  static const std::map<std::string, at::ScalarType> kMap = {
      {"FloatStorage", at::kFloat},   {"BFloat16Storage", at::kBFloat16}, {"HalfStorage", at::kHalf},
      {"DoubleStorage", at::kDouble}, {"LongStorage", at::kLong},         {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort},   {"CharStorage", at::kChar},         {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool}};
  auto it = kMap.find(name);
  if (it == kMap.end()) return std::nullopt;
  return it->second;
}

class Unpickler {
 public:
  Unpickler(std::string_view data, const std::string& file) : d_(data), file_(file) {}

  ValuePtr Run() {
    while (true) {
      const uint8_t op = U8();
      switch (op) {
        case 0x80: U8(); break;                               // PROTO
        case 0x95: Take(8); break;                            // FRAME (length only)
        case '.': Need(1, "STOP"); return Pop();              // STOP
        case '(': Push(Make(Value::kMark)); break;            // MARK
        case 'N': Push(Make(Value::kNone)); break;
        case 0x88: case 0x89: { auto v = Make(Value::kBool); v->i = op == 0x88; Push(v); break; }
        case 'K': PushInt(U8()); break;                       // BININT1
        case 'M': PushInt(LE(2)); break;                      // BININT2
        case 'J': PushInt(static_cast<int32_t>(LE(4))); break;  // BININT
        case 0x8a: {                                          // LONG1: n-byte two's complement
          const size_t n = U8();
          Check(n <= 8, "LONG1 wider than 64 bits");
          uint64_t u = LE(n);
          if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~0ull << (8 * n);
          PushInt(static_cast<int64_t>(u));
          break;
        }
        case 'G': {                                           // BINFLOAT, big-endian double
          uint64_t u = 0;
          for (char c : Take(8)) u = (u << 8) | static_cast<uint8_t>(c);
          auto v = Make(Value::kFloat);
          std::memcpy(&v->f, &u, 8);
          Push(v);
          break;
        }
        case 'X': PushStr(Value::kStr, LE(4)); break;         // BINUNICODE
        case 0x8c: PushStr(Value::kStr, U8()); break;         // SHORT_BINUNICODE
        case 0x8d: PushStr(Value::kStr, LE(8)); break;        // BINUNICODE8
        case 'U': PushStr(Value::kStr, U8()); break;          // SHORT_BINSTRING
        case 'T': PushStr(Value::kStr, LE(4)); break;         // BINSTRING
        case 'C': PushStr(Value::kBytes, U8()); break;        // SHORT_BINBYTES
        case 'B': PushStr(Value::kBytes, LE(4)); break;       // BINBYTES
        case 0x8e: PushStr(Value::kBytes, LE(8)); break;      // BINBYTES8
        case ')': Push(Make(Value::kTuple)); break;           // EMPTY_TUPLE
        case ']': Push(Make(Value::kList)); break;            // EMPTY_LIST
        case '}': Push(Make(Value::kDict)); break;            // EMPTY_DICT
        case 't': { auto v = Make(Value::kTuple); v->items = PopToMark(); Push(v); break; }
        case 0x85: case 0x86: case 0x87: {                    // TUPLE1..3
          const size_t n = op - 0x84;
          Need(n, "TUPLEn");
          auto v = Make(Value::kTuple);
          v->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          Push(v);
          break;
        }
        case 'a': { Need(2, "APPEND"); auto x = Pop(); List(Top())->items.push_back(x); break; }
        case 'e': { auto xs = PopToMark(); Need(1, "APPENDS"); auto l = List(Top());
                    l->items.insert(l->items.end(), xs.begin(), xs.end()); break; }
        case 's': {                                           // SETITEM
          Need(3, "SETITEM");
          auto v = Pop(); auto k = Pop();
          Dict(Top())->dict.emplace_back(k, v);
          break;
        }
        case 'u': {                                           // SETITEMS
          auto kv = PopToMark();
          Check(kv.size() % 2 == 0, "SETITEMS with an odd number of items");
          Need(1, "SETITEMS");
          auto d = Dict(Top());
          for (size_t i = 0; i < kv.size(); i += 2) d->dict.emplace_back(kv[i], kv[i + 1]);
          break;
        }
        case 'c': {                                           // GLOBAL "module\nname\n"
          auto v = Make(Value::kGlobal);
          v->s = Line();
          v->s2 = Line();
          Push(v);
          break;
        }
        case 0x93: {                                          // STACK_GLOBAL
          Need(2, "STACK_GLOBAL");
          auto name = Pop(); auto mod = Pop();
          auto v = Make(Value::kGlobal);
          v->s = mod->s;
          v->s2 = name->s;
          Push(v);
          break;
        }
        case 'q': Memo(U8()); break;                          // BINPUT
        case 'r': Memo(LE(4)); break;                         // LONG_BINPUT
        case 0x94: Memo(memo_.size()); break;                 // MEMOIZE
        case 'h': PushMemo(U8()); break;                      // BINGET
        case 'j': PushMemo(LE(4)); break;                     // LONG_BINGET
        case '0': Need(1, "POP"); Pop(); break;
        case '1': PopToMark(); break;                         // POP_MARK
        case '2': Need(1, "DUP"); Push(Top()); break;
        case 'Q': { Need(1, "BINPERSID"); Push(PersistentLoad(Pop())); break; }
        case 'R': case 0x81: {                                // REDUCE / NEWOBJ
          Need(2, "REDUCE");
          auto args = Pop(); auto fn = Pop();
          Push(Call(fn, args));
          break;
        }
        case 'b': { Need(2, "BUILD"); Pop(); break; }         // BUILD: state (e.g. _metadata) unused
        default:
          Fail(StrCat("unsupported pickle opcode 0x", std::hex, static_cast<int>(op)));
      }
    }
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw Error(StrCat(file_, ": cannot parse data.pkl at byte ", pos_, ": ", what));
  }
  void Check(bool ok, const char* what) const {
    if (!ok) Fail(what);
  }
  std::string_view Take(size_t n) {
    if (n > d_.size() - pos_) Fail("unexpected end of pickle");
    auto r = d_.substr(pos_, n);
    pos_ += n;
    return r;
  }
  uint8_t U8() { return static_cast<uint8_t>(Take(1)[0]); }
  uint64_t LE(size_t n) {
    uint64_t u = 0;
    auto b = Take(n);
    for (size_t i = 0; i < n; ++i) u |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
    return u;
  }
  std::string Line() {
    size_t e = d_.find('\n', pos_);
    if (e == std::string_view::npos) Fail("unterminated GLOBAL");
    std::string r(d_.substr(pos_, e - pos_));
    pos_ = e + 1;
    return r;
  }
  void Push(ValuePtr v) { stack_.push_back(std::move(v)); }
  void PushInt(int64_t i) { auto v = Make(Value::kInt); v->i = i; Push(v); }
  void PushStr(Value::Kind k, uint64_t n) { auto v = Make(k); v->s = std::string(Take(n)); Push(v); }
  void Need(size_t n, const char* op) const {
    if (stack_.size() < n) Fail(StrCat(op, " on a stack of ", stack_.size()));
    for (size_t i = stack_.size() - n; i < stack_.size(); ++i)
      if (stack_[i]->kind == Value::kMark) Fail(StrCat(op, " across a MARK"));
  }
  ValuePtr Pop() { auto v = stack_.back(); stack_.pop_back(); return v; }
  const ValuePtr& Top() const { return stack_.back(); }
  std::vector<ValuePtr> PopToMark() {
    size_t m = stack_.size();
    while (m > 0 && stack_[m - 1]->kind != Value::kMark) --m;
    if (m == 0) Fail("no MARK on the stack");
    std::vector<ValuePtr> r(stack_.begin() + m, stack_.end());
    stack_.resize(m - 1);
    return r;
  }
  const ValuePtr& List(const ValuePtr& v) const { if (v->kind != Value::kList) Fail("APPEND to a non-list"); return v; }
  const ValuePtr& Dict(const ValuePtr& v) const { if (v->kind != Value::kDict) Fail("SETITEM on a non-dict"); return v; }
  void Memo(uint64_t i) { Need(1, "PUT"); memo_[i] = Top(); }
  void PushMemo(uint64_t i) {
    auto it = memo_.find(i);
    if (it == memo_.end()) Fail(StrCat("GET of unset memo slot ", i));
    Push(it->second);
  }

  // ('storage', <torch XStorage>, key, location, numel)
  ValuePtr PersistentLoad(const ValuePtr& pid) {
    const auto& t = pid->items;
    if (pid->kind != Value::kTuple || t.size() < 5 || t[0]->s != "storage" || t[1]->kind != Value::kGlobal)
      Fail("persistent id is not ('storage', type, key, location, numel)");
    auto dtype = StorageDtype(t[1]->s2);
    if (!dtype) Fail(StrCat("unsupported storage type ", t[1]->s, ".", t[1]->s2));
    auto v = Make(Value::kStorage);
    v->tensor.dtype = *dtype;
    v->tensor.storage_key = t[2]->kind == Value::kInt ? std::to_string(t[2]->i) : t[2]->s;
    v->tensor.storage_numel = t[4]->i;
    return v;
  }

  std::vector<int64_t> Ints(const ValuePtr& v, const char* what) const {
    if (v->kind != Value::kTuple && v->kind != Value::kList) Fail(StrCat(what, " is not a tuple"));
    std::vector<int64_t> r;
    for (const auto& x : v->items) {
      if (x->kind != Value::kInt) Fail(StrCat(what, " has a non-integer entry"));
      r.push_back(x->i);
    }
    return r;
  }

  ValuePtr Call(const ValuePtr& fn, const ValuePtr& args) {
    if (fn->kind != Value::kGlobal) Fail("REDUCE of a non-global");
    const std::string name = fn->s + "." + fn->s2;
    const auto& a = args->items;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, ...)
      if (a.size() < 4 || a[0]->kind != Value::kStorage || a[1]->kind != Value::kInt)
        Fail(StrCat(name, " with unexpected arguments"));
      auto v = Make(Value::kTensor);
      v->tensor = a[0]->tensor;
      v->tensor.offset = a[1]->i;
      v->tensor.shape = Ints(a[2], "tensor size");
      v->tensor.stride = Ints(a[3], "tensor stride");
      if (v->tensor.shape.size() != v->tensor.stride.size()) Fail("tensor size and stride differ in rank");
      return v;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch.jit._pickle.restore_type_tag") {
      if (a.empty()) Fail(StrCat(name, " without arguments"));
      return a[0];  // Parameter(tensor, ...) -> tensor; tagged value -> value
    }
    if (name == "collections.OrderedDict" && a.empty()) return Make(Value::kDict);
    Fail(StrCat("unsupported global ", name, " (only tensor state dicts are read)"));
  }

  std::string_view d_;
  const std::string& file_;
  size_t pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::map<uint64_t, ValuePtr> memo_;
};

}  // namespace

std::vector<PickledTensor> ParseStateDictPickle(std::string_view pickle, const std::string& file) {
  ValuePtr root = Unpickler(pickle, file).Run();
  QMOE_CHECK(root->kind == Value::kDict, file, ": data.pkl does not hold a dict of tensors");
  std::vector<PickledTensor> out;
  for (const auto& [k, v] : root->dict) {
    QMOE_CHECK(k->kind == Value::kStr, file, ": data.pkl has a non-string key");
    if (v->kind != Value::kTensor) continue;
    PickledTensor t = v->tensor;
    t.name = k->s;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace qmoe
