# Third-party dependencies, all from Debian/Ubuntu packages (scripts/setup.sh installs them).
# Where a package ships headers but no CMake config (seen on some images), fall back to the headers.
find_package(Threads REQUIRED)
# The Python module takes zlib statically (its symbols hidden there, python/CMakeLists.txt): an interpreter
# may carry a zlib of its own whose exported symbols libz.so's internal calls would bind to.
if(SPDNN_BUILD_PYTHON)
  set(ZLIB_USE_STATIC_LIBS ON)
endif()
find_package(ZLIB REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)

# An imported target for a header-only package found by one of its headers.
function(spdnn_headers_target target header)
  string(MAKE_C_IDENTIFIER "${target}" var)
  find_path(SPDNN_INCLUDE_${var} ${header} REQUIRED)
  add_library(${target} INTERFACE IMPORTED)
  target_include_directories(${target} INTERFACE ${SPDNN_INCLUDE_${var}})
  target_compile_definitions(${target} INTERFACE ${ARGN})
endfunction()

find_package(fmt CONFIG QUIET)
if(NOT fmt_FOUND)
  spdnn_headers_target(fmt::fmt fmt/format.h FMT_HEADER_ONLY=1)
endif()
find_package(nlohmann_json CONFIG QUIET)
if(NOT nlohmann_json_FOUND)
  spdnn_headers_target(nlohmann_json::nlohmann_json nlohmann/json.hpp)
endif()
find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND)
  spdnn_headers_target(CLI11::CLI11 CLI/CLI.hpp)
endif()
