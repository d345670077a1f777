add_library(imagegate_warnings INTERFACE)
target_compile_options(imagegate_warnings INTERFACE -Wall -Wextra -Wpedantic)
# GCC 12 at -O3 (Release: the benchmarks) reports false -Wrestrict on std::string assignments
# that it inlines (GCC bug 105651); it would fail -Werror on correct code.
target_compile_options(imagegate_warnings INTERFACE $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
if(IMAGEGATE_WERROR)
  target_compile_options(imagegate_warnings INTERFACE -Werror)
endif()
