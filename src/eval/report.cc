#include "eval/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <tuple>

#include "util/error.h"

namespace ri::eval {

namespace {

std::string EscapeCell(const std::string& cell) {
  std::string out;
  for (const char c : cell) {
    if (c == '|') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

std::string EscapeXml(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Colour-blind-friendly palette (Okabe-Ito), then greys.
constexpr const char* kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                   "#56B4E9", "#000000", "#F0E442", "#777777", "#BBBBBB"};

// Panel geometry in SVG user units.
constexpr double kWidth = 760;
constexpr double kPanelHeight = 380;
constexpr double kLeft = 70, kRight = 210, kTop = 40, kBottom = 55;

// Decimals that show the tick step exactly (for steps of the form {1,2,5} x 10^k).
int TickDecimals(double step) {
  return std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 12);
}

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
};

void RenderPanel(const Chart& chart, double top, std::string& svg) {
  Range xs, ys;
  for (const Series& series : chart.series) {
    for (const auto& [x, y] : series.points) {
      xs.Add(x);
      ys.Add(y);
    }
  }
  if (chart.reference) ys.Add(chart.reference->y);
  for (const double y : chart.y_include) ys.Add(y);
  if (chart.x_from_zero) xs.Add(0);
  // A margin keeps markers off the left and right edges (without making
  // non-negative values such as budgets cross zero).
  const double margin = 0.04 * (xs.high - xs.low);
  xs.low = xs.low >= 0 ? std::max(0.0, xs.low - margin) : xs.low - margin;
  xs.high += margin;
  const std::vector<double> x_ticks = NiceTicks(xs.low, xs.high, 8, chart.x_integer ? 1 : 0);
  const std::vector<double> y_ticks = NiceTicks(ys.low, ys.high, 6);
  const double x0 = x_ticks.front(), x1 = x_ticks.back();
  const double y0 = y_ticks.front(), y1 = y_ticks.back();
  const double plot_width = kWidth - kLeft - kRight;
  const double plot_height = kPanelHeight - kTop - kBottom;
  const double plot_top = top + kTop;
  const auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * plot_width; };
  const auto py = [&](double y) { return plot_top + (y1 - y) / (y1 - y0) * plot_height; };

  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"15\" font-weight=\"bold\">{}</text>\n", kLeft,
      top + 24, EscapeXml(chart.title));
  // Grid, ticks and tick labels.
  const int x_decimals = TickDecimals(x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1);
  const int y_decimals = TickDecimals(y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1);
  for (const double x : x_ticks) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" font-size=\"11\" "
        "text-anchor=\"middle\">{4:.{5}f}</text>\n",
        px(x), plot_top, plot_top + plot_height, plot_top + plot_height + 16, x, x_decimals);
  }
  for (const double y : y_ticks) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>\n"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" font-size=\"11\" text-anchor=\"end\">{5:.{6}f}</text>\n",
        kLeft, py(y), kLeft + plot_width, kLeft - 6, py(y) + 4, y, y_decimals);
  }
  svg += fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" "
      "stroke=\"#333\"/>\n",
      kLeft, plot_top, plot_width, plot_height);
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
      kLeft + plot_width / 2, plot_top + plot_height + 38, EscapeXml(chart.x_label));
  svg += fmt::format(
      "<text transform=\"translate({:.1f} {:.1f}) rotate(-90)\" font-size=\"12\" "
      "text-anchor=\"middle\">{}</text>\n",
      18.0, plot_top + plot_height / 2, EscapeXml(chart.y_label));

  // Legend entries: (colour, dashed, label).
  std::vector<std::tuple<std::string, bool, std::string>> legend;
  if (chart.reference) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#555\" "
        "stroke-dasharray=\"6 4\"/>\n",
        kLeft, kLeft + plot_width, py(chart.reference->y));
    legend.emplace_back("#555", true, chart.reference->label);
  }
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const Series& series = chart.series[s];
    if (series.points.empty()) continue;
    const size_t color_index = series.color >= 0 ? static_cast<size_t>(series.color) : s;
    const char* color = kColors[color_index % std::size(kColors)];
    std::vector<std::pair<double, double>> points = series.points;
    std::stable_sort(points.begin(), points.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    if (chart.connect_points && points.size() > 1) {
      std::string coordinates;
      for (const auto& [x, y] : points) coordinates += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
      coordinates.pop_back();
      svg +=
          fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
                      coordinates, color);
    }
    for (const auto& [x, y] : points) {
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"/>\n", px(x),
                         py(y), color);
    }
    legend.emplace_back(color, false, series.label);
  }
  double legend_y = plot_top + 10;
  for (const auto& [color, dashed, label] : legend) {
    const double x = kLeft + plot_width + 14;
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
        "stroke-width=\"2\"{}/>\n"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\">{}</text>\n",
        x, legend_y, x + 22, legend_y, color, dashed ? " stroke-dasharray=\"6 4\"" : "", x + 28,
        legend_y + 4, EscapeXml(label));
    legend_y += 18;
  }
}

bool HasPoints(const Chart& chart) {
  return std::any_of(chart.series.begin(), chart.series.end(),
                     [](const Series& s) { return !s.points.empty(); });
}

}  // namespace

std::string RenderMarkdown(const Table& table) {
  std::string text;
  if (!table.title.empty()) text += fmt::format("**{}**\n\n", table.title);
  const auto row_line = [](const std::vector<std::string>& cells) {
    std::string line = "|";
    for (const std::string& cell : cells) line += " " + EscapeCell(cell) + " |";
    return line + "\n";
  };
  text += row_line(table.header);
  text += "|";
  for (size_t c = 0; c < table.header.size(); ++c) text += c == 0 ? " --- |" : " ---: |";
  text += "\n";
  for (const auto& row : table.rows) {
    if (row.size() != table.header.size()) {
      Fail("table '{}' has a row of {} cells under a header of {}", table.title, row.size(),
           table.header.size());
    }
    text += row_line(row);
  }
  return text;
}

std::vector<double> NiceTicks(double low, double high, int max_ticks, double min_step) {
  if (!std::isfinite(low) || !std::isfinite(high) || low > high) {
    Fail("cannot place ticks on the range [{}, {}]", low, high);
  }
  if (high - low < 1e-12 * std::max(1.0, std::fabs(high))) {
    // A single value: a unit-wide range around it (or a tenth of its size).
    const double half = low == 0 ? 1.0 : std::fabs(low) * 0.1;
    low -= half;
    high += half;
  }
  const int intervals = std::max(1, max_ticks - 1);
  const double raw_step = std::max((high - low) / intervals, min_step);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  double step = 10 * magnitude;
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (factor * magnitude >= raw_step * (1 - 1e-9)) {
      step = factor * magnitude;
      break;
    }
  }
  const double first = std::floor(low / step + 1e-9);
  const double last = std::ceil(high / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last; ++k) {
    const double tick = k * step;
    ticks.push_back(std::fabs(tick) < step * 1e-9 ? 0.0 : tick);  // no "-0"
  }
  return ticks;
}

std::string RenderSvg(std::span<const Chart> charts) {
  std::vector<const Chart*> drawn;
  for (const Chart& chart : charts) {
    if (HasPoints(chart)) drawn.push_back(&chart);
  }
  if (drawn.empty()) Fail("there is nothing to plot");
  const double height = kPanelHeight * static_cast<double>(drawn.size());
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"Helvetica, Arial, sans-serif\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      kWidth, height);
  for (size_t i = 0; i < drawn.size(); ++i) RenderPanel(*drawn[i], kPanelHeight * i, svg);
  svg += "</svg>\n";
  return svg;
}

}  // namespace ri::eval
