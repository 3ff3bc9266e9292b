// Markdown tables, tick placement and the SVG charts.
#include "eval/report.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace ri::eval {
namespace {

size_t Count(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

TEST(ReportTest, RendersMarkdown) {
  const Table table{.title = "Results",
                    .header = {"policy", "ppl"},
                    .rows = {{"full", "10.000"}, {"a|b", "12.5"}}};
  EXPECT_EQ(RenderMarkdown(table),
            "**Results**\n\n"
            "| policy | ppl |\n"
            "| --- | ---: |\n"
            "| full | 10.000 |\n"
            "| a\\|b | 12.5 |\n");
  const Table bad{.header = {"a", "b"}, .rows = {{"1"}}};
  EXPECT_THROW(RenderMarkdown(bad), Error);
}

void ExpectTicks(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-12) << i;
}

TEST(ReportTest, NiceTicks) {
  ExpectTicks(NiceTicks(0, 1, 6), {0, 0.2, 0.4, 0.6, 0.8, 1});
  ExpectTicks(NiceTicks(3, 97, 6), {0, 20, 40, 60, 80, 100});
  ExpectTicks(NiceTicks(-3, 3, 4), {-4, -2, 0, 2, 4});
  ExpectTicks(NiceTicks(2, 4, 8, 1), {2, 3, 4});
  ExpectTicks(NiceTicks(0.98, 1.2, 6), {0.95, 1.0, 1.05, 1.1, 1.15, 1.2});
  // A single value gets a range around it.
  const auto single = NiceTicks(5, 5, 5);
  EXPECT_LE(single.front(), 5);
  EXPECT_GE(single.back(), 5);
  EXPECT_GT(single.size(), 1u);
  EXPECT_THROW(NiceTicks(2, 1, 5), Error);
  EXPECT_THROW(NiceTicks(0, 1.0 / 0.0, 5), Error);
}

TEST(ReportTest, RendersChartsAsSvg) {
  const Chart chart{.title = "Perplexity <ratio> & more",
                    .x_label = "generated tokens",
                    .y_label = "ratio",
                    .series = {{.label = "quest", .points = {{64, 1.5}, {0, 1.0}, {128, 2.0}}},
                               {.label = "retro", .points = {{64, 1.2}}}},
                    .reference = ReferenceLine{1.0, "full"}};
  const Chart empty{.title = "nothing", .series = {{.label = "none"}}};
  const std::string svg = RenderSvg(std::vector<Chart>{chart, empty});
  EXPECT_TRUE(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
  EXPECT_EQ(Count(svg, "<svg"), 1u);
  EXPECT_NE(svg.find("Perplexity &lt;ratio&gt; &amp; more"), std::string::npos);
  EXPECT_EQ(svg.find("nothing"), std::string::npos);  // the empty chart is left out
  EXPECT_EQ(Count(svg, "<polyline"), 1u);             // one line for quest; retro has one point
  EXPECT_EQ(Count(svg, "<circle"), 4u);
  EXPECT_EQ(Count(svg, "stroke-dasharray"), 2u);  // the reference line and its legend entry
  // quest's points are drawn in x order: x = 0 (the left edge, 70) first.
  const size_t polyline = svg.find("<polyline points=\"");
  EXPECT_EQ(svg.substr(polyline + 18, 5), "70.0,");
  for (const char* label : {">quest<", ">retro<", ">full<", ">generated tokens<", ">ratio<"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
  EXPECT_THROW(RenderSvg(std::vector<Chart>{empty}), Error);
}

}  // namespace
}  // namespace ri::eval
