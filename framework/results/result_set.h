// A small in-memory result table (typed cells) and its writers: aligned text, CSV, JSON, markdown.
// The `qmoe results` commands build one of these and print it in the format the user asked for.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace qmoe {

class SqlStmt;

struct Cell {
  enum Type { kNull, kInt, kReal, kText } type = kNull;
  int64_t i = 0;
  double d = 0;
  std::string s;

  static Cell Int(int64_t v) { return {kInt, v, 0, {}}; }
  static Cell Real(double v) { return {kReal, 0, v, {}}; }
  static Cell Text(std::string v) { return {kText, 0, 0, std::move(v)}; }
  // Text form; NULL becomes `null_text`. Reals use the shortest round-trip form.
  std::string Str(const std::string& null_text = "") const;
};

struct ResultSet {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};

// Steps `st` to the end and collects every row.
ResultSet CollectRows(SqlStmt& st, const std::string& what);

// Columns separated by two spaces, a dashed line under the header, trailing spaces trimmed.
void WriteText(const ResultSet& rs, std::ostream& out, const std::string& null_text = "NULL");
// RFC 4180: fields with , " CR or LF are quoted, quotes doubled; NULL is an empty field.
void WriteCsv(const ResultSet& rs, std::ostream& out);
// An array of objects keyed by column name; numbers stay numbers, NULL becomes null.
void WriteJson(const ResultSet& rs, std::ostream& out);
// A GitHub markdown table; '|' in cells is escaped.
void WriteMarkdown(const ResultSet& rs, std::ostream& out, const std::string& null_text = "");

}  // namespace qmoe
