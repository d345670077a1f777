// imagegate-routes: imagegate's route table for the route-completeness test
// (tests/oracle/routes.go, docs/reading-requests.md "The route table").
//
//     imagegate-routes table     every route: "METHOD PATTERN", one line per method
//     imagegate-routes match     for each stdin line "METHOD URI": the route classify_request
//                                reads it by ("METHOD PATTERN"), "-" for none, "! REASON" when
//                                the URI is refused
#include "policy/classify.hpp"

#include <iostream>
#include <string>

int main(int argc, char **argv) {
    std::string mode = argc == 2 ? argv[1] : "";
    if (mode == "table") {
        for (const auto &route : imagegate::route_table())
            std::cout << route << '\n';
        return 0;
    }
    if (mode != "match") {
        std::cerr << "usage: imagegate-routes table|match\n";
        return 2;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
        auto space = line.find(' ');
        if (space == std::string::npos) {
            std::cerr << "imagegate-routes: input line \"" << line.substr(0, 200)
                      << "\" is not \"METHOD URI\"\n";
            return 2;
        }
        auto route = imagegate::route_of(line.substr(0, space), line.substr(space + 1));
        if (!route)
            std::cout << "! " << route.error() << '\n';
        else
            std::cout << (route->empty() ? "-" : *route) << '\n';
    }
    return 0;
}
