// The policy list of an evaluation and the spec families charts group by.
#include "eval/policies.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace ri::eval {
namespace {

std::vector<std::string> Specs(const PolicyList& list) {
  std::vector<std::string> specs;
  for (const PolicyConfig& policy : list.policies) specs.push_back(policy.ToString());
  return specs;
}

TEST(PoliciesTest, FullComesFirstAndIsAddedWhenMissing) {
  const PolicyList added = ParsePolicyList({"quest:b=0.1", "retro:b=0.1:w=4"}, 30);
  EXPECT_TRUE(added.full_added);
  EXPECT_EQ(Specs(added),
            (std::vector<std::string>{"full", "quest:b=0.1:dense=2", "retro:b=0.1:w=4:dense=2"}));
  const PolicyList moved = ParsePolicyList({"tova:b=512", "streaming:b=0.1", "full"}, 30);
  EXPECT_FALSE(moved.full_added);
  EXPECT_EQ(Specs(moved),
            (std::vector<std::string>{"full", "tova:b=512", "streaming:b=0.1:sinks=4"}));
}

TEST(PoliciesTest, RejectsBadLists) {
  EXPECT_THROW(ParsePolicyList({}, 30), Error);
  EXPECT_THROW(ParsePolicyList({"quest:b=0.1", "quest:b=0.1:dense=2"}, 30), Error);  // twice
  EXPECT_THROW(ParsePolicyList({"nope"}, 30), Error);
  EXPECT_THROW(ParsePolicyList({"quest:b=0.1:dense=40"}, 30), Error);
}

TEST(PoliciesTest, SpecWithoutAParameter) {
  const PolicyConfig retro = PolicyConfig::Parse("retro:b=0.1:w=4");
  EXPECT_EQ(SpecWithout(retro, "b"), "retro:w=4:dense=2");
  EXPECT_EQ(SpecWithout(retro, "w"), "retro:b=0.1:dense=2");
  EXPECT_EQ(SpecWithout(PolicyConfig::Parse("tova:b=0.2"), "b"), "tova");
  EXPECT_EQ(SpecWithout(PolicyConfig{}, "b"), "full");
}

}  // namespace
}  // namespace ri::eval
