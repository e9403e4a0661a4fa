#include "framework/io/pickle_parser.h"

#include "framework/core/error.h"
#include "framework/core/strings.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

namespace qmoe {
namespace {

// ---- The one list of what a state dict may use. Everything else is refused with its name. ----

// Opcodes (protocols 2-5) that torch.save and LibTorch's pickler emit for a dict of tensors.
struct Opcode {
  uint8_t code;
  const char* name;
};
constexpr Opcode kAllowedOpcodes[] = {
    {0x80, "PROTO"},        {0x95, "FRAME"},          {'.', "STOP"},         {'(', "MARK"},
    {'N', "NONE"},          {0x88, "NEWTRUE"},        {0x89, "NEWFALSE"},    {'K', "BININT1"},
    {'M', "BININT2"},       {'J', "BININT"},          {0x8a, "LONG1"},       {'G', "BINFLOAT"},
    {'X', "BINUNICODE"},    {0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"}, {'U', "SHORT_BINSTRING"},
    {'T', "BINSTRING"},     {'C', "SHORT_BINBYTES"},  {'B', "BINBYTES"},     {0x8e, "BINBYTES8"},
    {')', "EMPTY_TUPLE"},   {']', "EMPTY_LIST"},      {'}', "EMPTY_DICT"},   {'t', "TUPLE"},
    {0x85, "TUPLE1"},       {0x86, "TUPLE2"},         {0x87, "TUPLE3"},      {'a', "APPEND"},
    {'e', "APPENDS"},       {'s', "SETITEM"},         {'u', "SETITEMS"},     {'c', "GLOBAL"},
    {0x93, "STACK_GLOBAL"}, {'q', "BINPUT"},          {'r', "LONG_BINPUT"},  {0x94, "MEMOIZE"},
    {'h', "BINGET"},        {'j', "LONG_BINGET"},     {'0', "POP"},          {'1', "POP_MARK"},
    {'2', "DUP"},           {'Q', "BINPERSID"},       {'R', "REDUCE"},       {0x81, "NEWOBJ"},
    {'b', "BUILD"},
};
// Names of the refused ones, for the error message only.
constexpr Opcode kRefusedOpcodeNames[] = {
    {'i', "INST"},   {'o', "OBJ"},     {'P', "PERSID"},     {0x82, "EXT1"},     {0x83, "EXT2"},
    {0x84, "EXT4"},  {0x92, "NEWOBJ_EX"}, {'I', "INT"},    {'L', "LONG"},      {0x8b, "LONG4"},
    {'F', "FLOAT"},  {'S', "STRING"},  {'V', "UNICODE"},    {'p', "PUT"},       {'g', "GET"},
    {'d', "DICT"},   {'l', "LIST"},    {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"},
    {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
};

// Globals: what each may be used for. Storage types only name a storage's dtype (persistent ids);
// the callables rebuild a tensor or a container and nothing else.
enum class GlobalUse { kStorageType, kRebuildTensor, kFirstArgument, kOrderedDict };
struct AllowedGlobal {
  const char* name;
  GlobalUse use;
  at::ScalarType dtype;  // kStorageType only
};
constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections.OrderedDict", GlobalUse::kOrderedDict, at::kFloat},
    {"torch._utils._rebuild_tensor", GlobalUse::kRebuildTensor, at::kFloat},
    {"torch._utils._rebuild_tensor_v2", GlobalUse::kRebuildTensor, at::kFloat},
    {"torch._utils._rebuild_parameter", GlobalUse::kFirstArgument, at::kFloat},  // Parameter(t, ...) -> t
    {"torch._utils._rebuild_parameter_with_state", GlobalUse::kFirstArgument, at::kFloat},
    {"torch.jit._pickle.restore_type_tag", GlobalUse::kFirstArgument, at::kFloat},  // (value, type) -> value
    {"torch.FloatStorage", GlobalUse::kStorageType, at::kFloat},
    {"torch.BFloat16Storage", GlobalUse::kStorageType, at::kBFloat16},
    {"torch.HalfStorage", GlobalUse::kStorageType, at::kHalf},
    {"torch.DoubleStorage", GlobalUse::kStorageType, at::kDouble},
    {"torch.LongStorage", GlobalUse::kStorageType, at::kLong},
    {"torch.IntStorage", GlobalUse::kStorageType, at::kInt},
    {"torch.ShortStorage", GlobalUse::kStorageType, at::kShort},
    {"torch.CharStorage", GlobalUse::kStorageType, at::kChar},
    {"torch.ByteStorage", GlobalUse::kStorageType, at::kByte},
    {"torch.BoolStorage", GlobalUse::kStorageType, at::kBool},
};

const AllowedGlobal* FindGlobal(const std::string& name) {
  for (const auto& g : kAllowedGlobals)
    if (name == g.name) return &g;
  return nullptr;
}

bool OpcodeAllowed(uint8_t op) {
  for (const auto& o : kAllowedOpcodes)
    if (o.code == op) return true;
  return false;
}

std::string OpcodeName(uint8_t op) {
  for (const auto& o : kRefusedOpcodeNames)
    if (o.code == op) return StrCat(o.name, " (0x", std::hex, static_cast<int>(op), ")");
  return StrCat("0x", std::hex, static_cast<int>(op));
}

// Just the value kinds torch state dicts use.
struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Value {
  enum Kind { kNone, kBool, kInt, kFloat, kStr, kBytes, kTuple, kList, kDict, kGlobal, kStorage, kTensor, kMark };
  Kind kind = kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;                                    // str/bytes; global: "module.name"
  const AllowedGlobal* global = nullptr;            // kGlobal
  std::vector<ValuePtr> items;                      // tuple/list
  std::vector<std::pair<ValuePtr, ValuePtr>> dict;  // dict in insertion order
  std::unique_ptr<PickledTensor> tensor;            // storage: dtype, key, numel; tensor: all
};

class Unpickler {
 public:
  Unpickler(std::string_view data, const std::string& file) : d_(data), file_(file) {}
  // A pickle may build cycles (a list appended to itself) and arbitrarily deep nesting; emptying
  // every container while all are still held frees them without recursion and without leaks.
  ~Unpickler() {
    for (const ValuePtr& c : containers_) {
      c->items.clear();
      c->dict.clear();
    }
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  ValuePtr Run() {
    while (true) {
      const uint8_t op = U8();
      if (!OpcodeAllowed(op))
        Fail(StrCat("opcode ", OpcodeName(op), " is not allowed (a state dict needs only: ",
                    Join(AllowedPickleOpcodes(), " "), ")"));
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
        case 't': { auto v = Make(Value::kTuple); for (auto& x : PopToMark()) Add(v, x, "TUPLE"); Push(v); break; }
        case 0x85: case 0x86: case 0x87: {                    // TUPLE1..3
          const size_t n = op - 0x84;
          Need(n, "TUPLEn");
          auto v = Make(Value::kTuple);
          for (size_t k = stack_.size() - n; k < stack_.size(); ++k) Add(v, stack_[k], "TUPLEn");
          stack_.resize(stack_.size() - n);
          Push(v);
          break;
        }
        case 'a': { Need(2, "APPEND"); auto x = Pop(); Add(List(Top()), x, "APPEND"); break; }
        case 'e': { auto xs = PopToMark(); Need(1, "APPENDS"); auto l = List(Top());
                    for (auto& x : xs) Add(l, x, "APPENDS"); break; }
        case 's': {                                           // SETITEM
          Need(3, "SETITEM");
          auto v = Pop(); auto k = Pop();
          AddItem(Dict(Top()), k, v);
          break;
        }
        case 'u': {                                           // SETITEMS
          auto kv = PopToMark();
          Check(kv.size() % 2 == 0, "SETITEMS with an odd number of items");
          Need(1, "SETITEMS");
          auto d = Dict(Top());
          for (size_t i = 0; i < kv.size(); i += 2) AddItem(d, kv[i], kv[i + 1]);
          break;
        }
        case 'c': {                                           // GLOBAL "module\nname\n"
          std::string mod = Line();
          Push(Global(mod + "." + Line()));
          break;
        }
        case 0x93: {                                          // STACK_GLOBAL
          Need(2, "STACK_GLOBAL");
          auto name = Pop(); auto mod = Pop();
          Check(mod->kind == Value::kStr && name->kind == Value::kStr, "STACK_GLOBAL of non-strings");
          Push(Global(mod->s + "." + name->s));
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
          Fail(StrCat("opcode ", OpcodeName(op), " is listed as allowed but not implemented"));
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
  std::string_view Take(uint64_t n) {
    if (n > d_.size() - pos_) Fail(StrCat("unexpected end of pickle (a length of ", n, " runs past it)"));
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
  ValuePtr Make(Value::Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    if (k == Value::kTuple || k == Value::kList || k == Value::kDict) containers_.push_back(v);
    return v;
  }
  ValuePtr Global(const std::string& name) {
    const AllowedGlobal* g = FindGlobal(name);
    if (!g) {
      std::vector<std::string> allowed = AllowedPickleGlobals();
      Fail(StrCat("global '", name, "' is not allowed (refused before anything was called; a state dict needs only ",
                  Join(allowed, ", "), ")"));
    }
    auto v = Make(Value::kGlobal);
    v->s = name;
    v->global = g;
    return v;
  }
  // Puts `x` into the container `c` (a dict's pairs are stored by AddItem).
  void Add(const ValuePtr& c, const ValuePtr& x, const char* op) {
    if (x->kind == Value::kMark) Fail(StrCat(op, " of a MARK"));
    if (c->kind != Value::kDict) c->items.push_back(x);
  }
  void AddItem(const ValuePtr& d, const ValuePtr& k, const ValuePtr& v) {
    Add(d, k, "SETITEM");
    Add(d, v, "SETITEM");
    d->dict.emplace_back(k, v);
  }
  // Every value, new or from the memo, is pushed: counting pushes bounds the memory a pickle can claim.
  void Push(ValuePtr v) {
    if (++values_ > kMaxPickleValues) Fail(StrCat("more than ", kMaxPickleValues, " values"));
    stack_.push_back(std::move(v));
  }
  void PushInt(int64_t i) { auto v = Make(Value::kInt); v->i = i; Push(v); }
  void PushStr(Value::Kind k, uint64_t n) { auto s = Take(n); auto v = Make(k); v->s = std::string(s); Push(v); }
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
  void Memo(uint64_t i) {
    Need(1, "PUT");
    if (i >= kMaxPickleMemo) Fail(StrCat("memo slot ", i, " is above the cap of ", kMaxPickleMemo));
    memo_[i] = Top();
  }
  void PushMemo(uint64_t i) {
    auto it = memo_.find(i);
    if (it == memo_.end()) Fail(StrCat("GET of unset memo slot ", i));
    Push(it->second);
  }

  // ('storage', <torch XStorage>, key, location, numel)
  ValuePtr PersistentLoad(const ValuePtr& pid) {
    const auto& t = pid->items;
    if (pid->kind != Value::kTuple || t.size() < 5 || t[0]->kind != Value::kStr || t[0]->s != "storage" ||
        t[1]->kind != Value::kGlobal || t[1]->global->use != GlobalUse::kStorageType ||
        (t[2]->kind != Value::kInt && t[2]->kind != Value::kStr) || t[4]->kind != Value::kInt || t[4]->i < 0)
      Fail("persistent id is not ('storage', torch.<Type>Storage, key, location, numel)");
    auto v = Make(Value::kStorage);
    v->tensor = std::make_unique<PickledTensor>();
    v->tensor->dtype = t[1]->global->dtype;
    v->tensor->storage_key = t[2]->kind == Value::kInt ? std::to_string(t[2]->i) : t[2]->s;
    v->tensor->storage_numel = t[4]->i;
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
    if (args->kind != Value::kTuple) Fail(StrCat("REDUCE of ", fn->s, " with arguments that are not a tuple"));
    const std::string& name = fn->s;
    const auto& a = args->items;
    switch (fn->global->use) {
      case GlobalUse::kRebuildTensor: {  // (storage, storage_offset, size, stride, ...)
        if (a.size() < 4 || a[0]->kind != Value::kStorage || a[1]->kind != Value::kInt)
          Fail(StrCat(name, " with unexpected arguments"));
        auto v = Make(Value::kTensor);
        v->tensor = std::make_unique<PickledTensor>(*a[0]->tensor);
        v->tensor->offset = a[1]->i;
        v->tensor->shape = Ints(a[2], "tensor size");
        v->tensor->stride = Ints(a[3], "tensor stride");
        if (v->tensor->shape.size() != v->tensor->stride.size()) Fail("tensor size and stride differ in rank");
        return v;
      }
      case GlobalUse::kFirstArgument:
        if (a.empty()) Fail(StrCat(name, " without arguments"));
        return a[0];
      case GlobalUse::kOrderedDict:
        if (!a.empty()) Fail(StrCat(name, " with arguments (expected an empty OrderedDict)"));
        return Make(Value::kDict);
      case GlobalUse::kStorageType:
        break;
    }
    Fail(StrCat(name, " cannot be called (it only names a storage type)"));
  }

  std::string_view d_;
  const std::string& file_;
  size_t pos_ = 0;
  uint64_t values_ = 0;
  std::vector<ValuePtr> stack_;
  std::map<uint64_t, ValuePtr> memo_;
  std::vector<ValuePtr> containers_;  // every tuple, list and dict made (see ~Unpickler)
};

}  // namespace

std::vector<std::string> AllowedPickleGlobals() {
  std::vector<std::string> r;
  for (const auto& g : kAllowedGlobals) r.push_back(g.name);
  return r;
}

std::vector<std::string> AllowedPickleOpcodes() {
  std::vector<std::string> r;
  for (const auto& o : kAllowedOpcodes) r.push_back(o.name);
  return r;
}

std::vector<PickledTensor> ParseStateDictPickle(std::string_view pickle, const std::string& file) {
  Unpickler unpickler(pickle, file);
  const ValuePtr root = unpickler.Run();
  QMOE_CHECK(root->kind == Value::kDict, file, ": data.pkl does not hold a dict of tensors");
  std::vector<PickledTensor> out;
  for (const auto& [k, v] : root->dict) {
    QMOE_CHECK(k->kind == Value::kStr, file, ": data.pkl has a non-string key");
    if (v->kind != Value::kTensor) continue;
    PickledTensor t = *v->tensor;
    t.name = k->s;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace qmoe
