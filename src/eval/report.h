// How evaluation results are shown: Markdown tables for the terminal and
// documents, and SVG charts written by hand (plain SVG text with axes, ticks
// and a legend, no external tools).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ri::eval {

struct Table {
  std::string title = {};  // printed as a bold line above the table when not empty
  std::vector<std::string> header = {};
  std::vector<std::vector<std::string>> rows = {};  // each as long as the header
};

// A GitHub-flavoured Markdown table: the first column left-aligned, the
// others (numbers) right-aligned; '|' in cells is escaped. Throws ri::Error
// when a row's length differs from the header's.
std::string RenderMarkdown(const Table& table);

struct Series {
  std::string label;
  std::vector<std::pair<double, double>> points = {};  // (x, y), drawn in x order
  int color = -1;  // palette index, to keep a policy's colour across charts; -1: by position
};

// A horizontal line, e.g. the full-attention value a policy is compared with.
struct ReferenceLine {
  double y = 0;
  std::string label;
};

struct Chart {
  std::string title = {};
  std::string x_label = {};
  std::string y_label = {};
  std::vector<Series> series = {};
  bool connect_points = true;  // lines between a series' points, else markers only
  bool x_from_zero = false;    // the x axis starts at 0 (e.g. generated tokens)
  bool x_integer = false;      // x ticks on whole numbers only (e.g. windows)
  // Values the y axis covers whatever the data (e.g. 0 and 1 for accuracies).
  std::vector<double> y_include = {};
  std::optional<ReferenceLine> reference = {};
};

// One SVG document with the charts stacked vertically, each with its own axes
// and legend. Charts without any point are left out; throws ri::Error when
// none has one.
std::string RenderSvg(std::span<const Chart> charts);

// Round tick values ({1, 2, 5} x 10^k steps, at least `min_step`) covering
// [low, high], at most about `max_ticks` of them; the first is <= low and the
// last >= high.
std::vector<double> NiceTicks(double low, double high, int max_ticks, double min_step = 0);

}  // namespace ri::eval
