// libFuzzer target: the state-dict unpickler behind PyTorch .bin files and the published QMoE .pt
// files (framework/io/pickle_parser, zip_directory, torch_bin).
// First byte % 8: 0-5 = the rest is data.pkl, parsed directly (cheap, so most runs); 6 = the rest is
// data.pkl inside a valid torch zip with storages data/0..data/3, opened and fully loaded by
// TorchBinFile; 7 = the rest is the whole .bin file.
// Invariants: only qmoe::Error escapes (a refused global or opcode included). An accepted pickle,
// written back canonically (protocol 2, one _rebuild_tensor_v2 per tensor), parses to the same
// tensors. An opened archive loads every tensor it lists with the shape and dtype it reports (or
// throws an Error).
#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cstring>

#include "framework/core/error.h"
#include "framework/io/dtype.h"
#include "framework/io/pickle_parser.h"
#include "framework/io/torch_bin.h"
#include "fuzz/fuzz_files.h"

namespace fs = std::filesystem;
using namespace qmoe;

namespace {

const char* StorageName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "FloatStorage";
    case at::kBFloat16: return "BFloat16Storage";
    case at::kHalf: return "HalfStorage";
    case at::kDouble: return "DoubleStorage";
    case at::kLong: return "LongStorage";
    case at::kInt: return "IntStorage";
    case at::kShort: return "ShortStorage";
    case at::kChar: return "CharStorage";
    case at::kByte: return "ByteStorage";
    case at::kBool: return "BoolStorage";
    default: __builtin_trap();
  }
}

// A minimal canonical pickler for the parsed tensors.
class Pickler {
 public:
  std::string Finish() { return out_ + ".";}
  void Op(char c) { out_ += c; }
  void Str(const std::string& s) {
    out_ += 'X';
    for (int i = 0; i < 4; ++i) out_ += char((s.size() >> (8 * i)) & 0xff);
    out_ += s;
  }
  void Int(int64_t v) {  // LONG1, 8 bytes
    out_ += '\x8a';
    out_ += '\x08';
    for (int i = 0; i < 8; ++i) out_ += char((uint64_t(v) >> (8 * i)) & 0xff);
  }
  void Global(const std::string& mod, const std::string& name) { out_ += "c" + mod + "\n" + name + "\n"; }
  void Ints(const std::vector<int64_t>& v) {
    Op('(');
    for (int64_t x : v) Int(x);
    Op('t');
  }

 private:
  std::string out_ = "\x80\x02";
};

std::string Repickle(const std::vector<PickledTensor>& ts) {
  Pickler p;
  p.Op('}');
  p.Op('(');
  for (const PickledTensor& t : ts) {
    p.Str(t.name);
    p.Global("torch._utils", "_rebuild_tensor_v2");
    p.Op('(');
    p.Op('(');
    p.Str("storage");
    p.Global("torch", StorageName(t.dtype));
    p.Str(t.storage_key);
    p.Str("cpu");
    p.Int(t.storage_numel);
    p.Op('t');
    p.Op('Q');
    p.Int(t.offset);
    p.Ints(t.shape);
    p.Ints(t.stride);
    p.Op('\x89');  // requires_grad False
    p.Global("collections", "OrderedDict");
    p.Op(')');
    p.Op('R');
    p.Op('t');
    p.Op('R');
  }
  p.Op('u');
  return p.Finish();
}

bool Same(const PickledTensor& a, const PickledTensor& b) {
  return a.name == b.name && a.dtype == b.dtype && a.storage_key == b.storage_key &&
         a.storage_numel == b.storage_numel && a.offset == b.offset && a.shape == b.shape && a.stride == b.stride;
}

void FuzzPickle(std::string_view bytes) {
  std::vector<PickledTensor> ts;
  try {
    ts = ParseStateDictPickle(bytes, "fuzz.pkl");
  } catch (const Error&) {
    return;
  }
  const std::string again = Repickle(ts);
  const std::vector<PickledTensor> back = ParseStateDictPickle(again, "repickled.pkl");
  FUZZ_INVARIANT(back.size() == ts.size());
  for (size_t i = 0; i < ts.size(); ++i) FUZZ_INVARIANT(Same(ts[i], back[i]));
}

void FuzzArchive(const fs::path& path) {
  std::unique_ptr<TorchBinFile> f;
  try {
    f = TorchBinFile::Open(path);
  } catch (const Error&) {
    return;
  }
  for (const TensorInfo& info : f->Infos()) {
    at::Tensor t;
    try {
      t = f->Load(info.name);
    } catch (const Error&) {
      continue;  // e.g. a storage record whose bytes fail LibTorch's own checks: one clear error is fine
    }
    FUZZ_INVARIANT(t.sizes().vec() == info.shape && DtypeFromScalarType(t.scalar_type()) == info.dtype);
  }
}

void FuzzWrapped(std::string_view pkl) {
  std::string zip;
  {
    caffe2::serialize::PyTorchStreamWriter w([&](const void* p, size_t n) {
      zip.append(static_cast<const char*>(p), n);
      return n;
    });
    w.writeRecord("data.pkl", pkl.data(), pkl.size());
    const size_t sizes[] = {64, 256, 0, 1024};
    const std::string fill(1024, '\x3c');
    for (int i = 0; i < 4; ++i) w.writeRecord("data/" + std::to_string(i), fill.data(), sizes[i]);
    w.writeEndOfFile();
  }
  const fs::path path = fuzz::ScratchDir() / "wrapped.bin";
  fuzz::WriteBytes(path, zip);
  FuzzArchive(path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 6: FuzzWrapped(rest); break;
    case 7: {
      const fs::path path = fuzz::ScratchDir() / "raw.bin";
      fuzz::WriteBytes(path, rest);
      FuzzArchive(path);
      break;
    }
    default: FuzzPickle(rest);
  }
  return 0;
}
