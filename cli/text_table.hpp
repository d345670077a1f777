// Aligned columns for a terminal: `report` and `policy impact` print their findings as tables.
#pragma once
#include <string>
#include <vector>

namespace imagegate {

class TextTable {
  public:
    // Column titles; a title starting with '>' is right-aligned (numbers), the '>' not shown.
    explicit TextTable(std::vector<std::string> titles);
    void add(std::vector<std::string> row);
    bool empty() const { return rows_.empty(); }
    // Two spaces between columns, no trailing spaces, one row per line.
    std::string str() const;

  private:
    std::vector<std::string> titles_;
    std::vector<bool> right_;
    std::vector<std::vector<std::string>> rows_;
};

// "alice, bob, carol +2 more": at most `shown` names, "(no user)" for the local socket's "".
std::string user_list(const std::vector<std::string> &users, std::size_t shown = 3);

} // namespace imagegate
