# Writes OUT, a source file defining spdnn::app::git_commit(): the checkout's short commit, with "+dirty"
# where tracked files differ from it, or "unknown" outside a git checkout. Run by a custom target at every
# build (a commit taken at configure time went stale in builds reused across commits), and rewriting OUT
# only when its text changes, so an unchanged checkout relinks nothing.
# Usage: cmake -DSOURCE_DIR=<checkout> -DOUT=<file.cpp> -P git_commit.cmake
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY "${SOURCE_DIR}"
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE status)
if(NOT status EQUAL 0 OR commit STREQUAL "")
  set(commit unknown)
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY "${SOURCE_DIR}"
                  OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT changes STREQUAL "")
    string(APPEND commit "+dirty")
  endif()
endif()
set(text "// Generated at build time by cmake/git_commit.cmake.\nnamespace spdnn::app {\nconst char* git_commit() { return \"${commit}\"; }\n}  // namespace spdnn::app\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
