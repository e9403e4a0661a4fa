// `qmoe codec` subcommands: the dump is the dictionary's decode table, rate prints every line, bad args throw.
#include "codecs/codec_cli.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/hash.h"

namespace qmoe::codecs {
namespace {

TEST(CodecCli, DictionaryDumpWritesTheSpecTable) {
  const std::string path = (std::filesystem::temp_directory_path() / "qmoe_codec_cli_test_dec.bin").string();
  std::ostringstream out;
  EXPECT_EQ(RunCodecCommand({"dictionary", "--dump", path}, out), 0);
  EXPECT_EQ(std::filesystem::file_size(path), 131072u * 4);
  EXPECT_EQ(Sha256File(path), "c09862c453fe122634070a475357ff81a679aff65829d84a56f806c02a54ed45");
  EXPECT_NE(out.str().find("matches the check value"), std::string::npos) << out.str();
  std::remove(path.c_str());
}

TEST(CodecCli, RatePrintsDictRansAndEntropySideBySide) {
  std::ostringstream out;
  EXPECT_EQ(RunCodecCommand({"rate", "--rows", "64", "--cols", "768", "--seed", "3"}, out), 0);
  for (const char* needle : {"dict, exact bytes", "ideal rate", "rans, exact bits", "model entropy", "25.40x"})
    EXPECT_NE(out.str().find(needle), std::string::npos) << needle << "\n" << out.str();
}

TEST(CodecCli, BadArgumentsThrowOneError) {
  std::ostringstream out;
  EXPECT_THROW(RunCodecCommand({}, out), Error);
  EXPECT_THROW(RunCodecCommand({"rates"}, out), Error);
  EXPECT_THROW(RunCodecCommand({"rate", "--rows", "4"}, out), Error);
  EXPECT_THROW(RunCodecCommand({"rate", "--rows", "4x", "--cols", "8"}, out), Error);
  EXPECT_THROW(RunCodecCommand({"rate", "--rows", "4", "--cols", "8", "--p0", "2"}, out), Error);
  EXPECT_THROW(RunCodecCommand({"rate", "--rows", "4", "--col", "8"}, out), Error);
  EXPECT_THROW(RunCodecCommand({"dictionary", "--dump"}, out), Error);
  EXPECT_THROW(RunCodecCommand({"dictionary", "--dump", "/nonexistent-dir/x.bin"}, out), Error);
  try {
    RunCodecCommand({"rate", "--rows", "4", "--col", "8"}, out);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qmoe::codecs
