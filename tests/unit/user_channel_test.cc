#include "auth/user_channel.h"

#include <gtest/gtest.h>

#include "core/channel.h"

namespace herald::auth {
namespace {

TEST(UserChannelTest, ChannelsWithoutHashAreOpenToAll) {
  EXPECT_FALSE(isUserLimited("chat:lobby"));
  EXPECT_TRUE(userMayUse("chat:lobby", "42"));
  EXPECT_TRUE(userMayUse("chat:lobby", ""));
}

TEST(UserChannelTest, OnlyListedUsersMayUse) {
  EXPECT_TRUE(isUserLimited("dm:#42"));
  EXPECT_TRUE(userMayUse("dm:#42", "42"));
  EXPECT_FALSE(userMayUse("dm:#42", "4"));
  EXPECT_FALSE(userMayUse("dm:#42", "420"));
  EXPECT_TRUE(userMayUse("dm:chat#42,43", "42"));
  EXPECT_TRUE(userMayUse("dm:chat#42,43", "43"));
  EXPECT_FALSE(userMayUse("dm:chat#42,43", "42,43"));
  EXPECT_FALSE(userMayUse("dm:chat#42,43", "44"));
  EXPECT_TRUE(userMayUse("private#alice", "alice"));  // no namespace needed
}

TEST(UserChannelTest, TheListIsAfterTheLastHash) {
  EXPECT_TRUE(userMayUse("dm:a#b#7,8", "7"));
  EXPECT_FALSE(userMayUse("dm:a#b#7,8", "b"));
  EXPECT_FALSE(userMayUse("dm:a#b#7,8", "a"));
}

TEST(UserChannelTest, EmptyItemsNameNobody) {
  EXPECT_FALSE(userMayUse("dm:#", ""));
  EXPECT_FALSE(userMayUse("dm:#", "42"));
  EXPECT_FALSE(userMayUse("dm:#,42", ""));
  EXPECT_TRUE(userMayUse("dm:#,42,", "42"));
  EXPECT_FALSE(userMayUse("dm:#42,,43", ""));
}

TEST(UserChannelTest, CommasAreValidOnlyInTheUserList) {
  EXPECT_TRUE(core::validChannelName("dm:chat#42,43"));
  EXPECT_TRUE(core::validChannelName("dm:#1,2,3"));
  EXPECT_FALSE(core::validChannelName("a,b"));
  EXPECT_FALSE(core::validChannelName("dm:a,b#1"));
}

}  // namespace
}  // namespace herald::auth
