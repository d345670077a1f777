# Compiler settings every target links (ccache's cmake/StandardSettings.cmake idea).
add_library(imagegate_settings INTERFACE)
target_compile_options(imagegate_settings INTERFACE -fno-omit-frame-pointer)
if(IMAGEGATE_SANITIZE)
  # GCC's -Wmaybe-uninitialized gives false positives under ASan (GCC's manual says so), here
  # in Boost.Beast's parser: off for this build only.
  target_compile_options(imagegate_settings INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=undefined
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  target_link_options(imagegate_settings INTERFACE -fsanitize=address,undefined)
endif()
if(IMAGEGATE_TSAN)
  target_compile_options(imagegate_settings INTERFACE -fsanitize=thread)
  target_link_options(imagegate_settings INTERFACE -fsanitize=thread)
endif()
