// Small string helpers shared across qmoe: nearest-name suggestions, splitting, joining.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace qmoe {

// Levenshtein distance, used for "did you mean" hints.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `name`, or "" if none is reasonably close.
std::string NearestName(std::string_view name, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" when no candidate is close; append to error messages.
std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates);

std::vector<std::string> Split(std::string_view s, char sep);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
std::string Trim(std::string_view s);
// s ends with `suffix` (std::string::ends_with is C++20; the fuzz build compiles as C++17).
bool EndsWith(std::string_view s, std::string_view suffix);

}  // namespace qmoe
