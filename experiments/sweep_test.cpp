#include <gtest/gtest.h>

#include "experiments/sweep.h"
#include "framework/core/error.h"

namespace qmoe {
namespace {

using Points = std::vector<std::vector<std::string>>;

TEST(ExpandSweep, CartesianProductInArgumentOrder) {
  Points p = ExpandSweep({"experiment=matrix", "method.bits=2,3,4", "seed=0,1"});
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[0], (std::vector<std::string>{"experiment=matrix", "method.bits=2", "seed=0"}));
  EXPECT_EQ(p[1], (std::vector<std::string>{"experiment=matrix", "method.bits=2", "seed=1"}));
  EXPECT_EQ(p[5], (std::vector<std::string>{"experiment=matrix", "method.bits=4", "seed=1"}));
}

TEST(ExpandSweep, RangeIsStopExclusive) {
  Points p = ExpandSweep({"seed=range(0,3)"});
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2][0], "seed=2");
  Points q = ExpandSweep({"x=range(10, 0, -5)"});
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[1][0], "x=5");
  Points f = ExpandSweep({"d=range(0.0,0.3,0.1)"});
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[1][0], "d=0.1");
}

TEST(ExpandSweep, ListsQuotesAndDeletionsAreNotSplit) {
  Points p = ExpandSweep({"a=[1,2]", "b='x,y'", "~c", "+d={k: 1, j: 2}"});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], (std::vector<std::string>{"a=[1,2]", "b='x,y'", "~c", "+d={k: 1, j: 2}"}));
}

TEST(ExpandSweep, MethodsWithTheirOwnParameters) {
  Points p = ExpandSweep({"method=rtn,gptq", "method.bits=2,3"});
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[3], (std::vector<std::string>{"method=gptq", "method.bits=3"}));
}

TEST(ExpandSweep, BadRangesAreErrors) {
  EXPECT_THROW(ExpandSweep({"seed=range(0)"}), Error);
  EXPECT_THROW(ExpandSweep({"seed=range(0,3,0)"}), Error);
  EXPECT_THROW(ExpandSweep({"seed=range(a,3)"}), Error);
  EXPECT_THROW(ExpandSweep({"seed=range(3,0)"}), Error);
  EXPECT_THROW(ExpandSweep({"seed=1,,2"}), Error);
}

}  // namespace
}  // namespace qmoe
