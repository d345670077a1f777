#include "cli/text_table.hpp"

#include <algorithm>

namespace imagegate {

TextTable::TextTable(std::vector<std::string> titles) {
    for (auto &t : titles) {
        bool right = !t.empty() && t.front() == '>';
        right_.push_back(right);
        titles_.push_back(right ? t.substr(1) : t);
    }
}

void TextTable::add(std::vector<std::string> row) {
    row.resize(titles_.size());
    rows_.push_back(std::move(row));
}

std::string TextTable::str() const {
    // Widths in code points, so that "→" or a non-ASCII user name does not shift a column.
    auto width = [](const std::string &s) {
        return std::size_t(std::count_if(s.begin(), s.end(), [](char c) {
            return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        }));
    };
    std::vector<std::size_t> widths(titles_.size());
    for (std::size_t c = 0; c < titles_.size(); ++c) {
        widths[c] = width(titles_[c]);
        for (const auto &row : rows_)
            widths[c] = std::max(widths[c], width(row[c]));
    }
    std::string out;
    auto line = [&](const std::vector<std::string> &cells) {
        std::string text;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            std::string pad(widths[c] - width(cells[c]), ' ');
            if (c)
                text += "  ";
            text += right_[c] ? pad + cells[c] : cells[c] + pad;
        }
        while (!text.empty() && text.back() == ' ')
            text.pop_back();
        out += text + "\n";
    };
    line(titles_);
    for (const auto &row : rows_)
        line(row);
    return out;
}

std::string user_list(const std::vector<std::string> &users, std::size_t shown) {
    std::string out;
    for (std::size_t i = 0; i < users.size() && i < shown; ++i) {
        if (i)
            out += ", ";
        out += users[i].empty() ? "(no user)" : users[i];
    }
    if (users.size() > shown)
        out += " +" + std::to_string(users.size() - shown) + " more";
    return out;
}

} // namespace imagegate
