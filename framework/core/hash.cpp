#include "framework/core/hash.h"

#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include "framework/core/error.h"

namespace qmoe {
namespace {
std::string Hex(const unsigned char* d, unsigned n) {
  static const char* k = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (unsigned i = 0; i < n; ++i) s[2 * i] = k[d[i] >> 4], s[2 * i + 1] = k[d[i] & 15];
  return s;
}
}  // namespace

std::string Sha256Hex(const void* data, size_t n) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  QMOE_ASSERT(EVP_Digest(data, n, out, &len, EVP_sha256(), nullptr) == 1);
  return Hex(out, len);
}

std::string Sha256File(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  QMOE_CHECK(f, "cannot read '", path, "' to compute its SHA-256");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), std::streamsize(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), size_t(f.gcount()));
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, out, &len);
  EVP_MD_CTX_free(ctx);
  return Hex(out, len);
}

}  // namespace qmoe
