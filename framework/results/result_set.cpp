#include "framework/results/result_set.h"

#include <sqlite3.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "framework/results/sqlite_util.h"

namespace qmoe {

std::string Cell::Str(const std::string& null_text) const {
  switch (type) {
    case kNull: return null_text;
    case kInt: return std::to_string(i);
    case kReal: return FormatDouble(d);
    case kText: return s;
  }
  return s;
}

ResultSet CollectRows(SqlStmt& st, const std::string& what) {
  ResultSet rs;
  for (int c = 0; c < st.Columns(); ++c) rs.columns.push_back(st.Name(c));
  while (st.Step(what)) {
    std::vector<Cell> row;
    for (int c = 0; c < st.Columns(); ++c) {
      switch (st.Type(c)) {
        case SQLITE_NULL: row.push_back(Cell{}); break;
        case SQLITE_INTEGER: row.push_back(Cell::Int(st.Int(c))); break;
        case SQLITE_FLOAT: row.push_back(Cell::Real(st.Double(c))); break;
        case SQLITE_BLOB: row.push_back(Cell::Text("<blob>")); break;
        default: row.push_back(Cell::Text(st.Text(c)));
      }
    }
    rs.rows.push_back(std::move(row));
  }
  return rs;
}

namespace {

// Display width in code points (cells may hold UTF-8 such as "±").
size_t Width(const std::string& s) {
  return std::count_if(s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; });
}

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

void WriteAlignedLine(const std::vector<std::string>& cells, const std::vector<size_t>& widths, std::ostream& out) {
  std::string line;
  for (size_t c = 0; c < cells.size(); ++c) {
    if (c) line += "  ";
    line += cells[c];
    if (c + 1 < cells.size()) line.append(widths[c] - Width(cells[c]), ' ');
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out << line << "\n";
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += (ch == '"') ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

}  // namespace

void WriteText(const ResultSet& rs, std::ostream& out, const std::string& null_text) {
  std::vector<std::vector<std::string>> text;
  std::vector<size_t> widths;
  for (const auto& c : rs.columns) widths.push_back(Width(c));
  for (const auto& row : rs.rows) {
    std::vector<std::string> cells;
    for (size_t c = 0; c < row.size(); ++c) {
      cells.push_back(OneLine(row[c].Str(null_text)));
      widths[c] = std::max(widths[c], Width(cells.back()));
    }
    text.push_back(std::move(cells));
  }
  WriteAlignedLine(rs.columns, widths, out);
  std::vector<std::string> dashes;
  for (size_t w : widths) dashes.push_back(std::string(w, '-'));
  WriteAlignedLine(dashes, widths, out);
  for (const auto& cells : text) WriteAlignedLine(cells, widths, out);
}

void WriteCsv(const ResultSet& rs, std::ostream& out) {
  for (size_t c = 0; c < rs.columns.size(); ++c) out << (c ? "," : "") << CsvField(rs.columns[c]);
  out << "\n";
  for (const auto& row : rs.rows) {
    for (size_t c = 0; c < row.size(); ++c) out << (c ? "," : "") << CsvField(row[c].Str());
    out << "\n";
  }
}

void WriteJson(const ResultSet& rs, std::ostream& out) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const auto& row : rs.rows) {
    nlohmann::ordered_json obj = nlohmann::ordered_json::object();
    for (size_t c = 0; c < row.size(); ++c) {
      const Cell& cell = row[c];
      auto& v = obj[rs.columns[c]];
      switch (cell.type) {
        case Cell::kNull: v = nullptr; break;
        case Cell::kInt: v = cell.i; break;
        case Cell::kReal: v = cell.d; break;
        case Cell::kText: v = cell.s; break;
      }
    }
    arr.push_back(std::move(obj));
  }
  out << arr.dump(1) << "\n";
}

void WriteMarkdown(const ResultSet& rs, std::ostream& out, const std::string& null_text) {
  auto esc = [](const std::string& s) {
    std::string r;
    for (char ch : OneLine(s)) r += (ch == '|') ? std::string("\\|") : std::string(1, ch);
    return r;
  };
  out << "|";
  for (const auto& c : rs.columns) out << " " << esc(c) << " |";
  out << "\n|";
  for (size_t c = 0; c < rs.columns.size(); ++c) out << "---|";
  out << "\n";
  for (const auto& row : rs.rows) {
    out << "|";
    for (const auto& cell : row) out << " " << esc(cell.Str(null_text)) << " |";
    out << "\n";
  }
}

}  // namespace qmoe
