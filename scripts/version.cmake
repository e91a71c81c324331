# Writes LE_OUT (le_version.h) with LE_VERSION from `git describe` of LE_SRC,
# only when the text changes (run at every build by the le_version target).
execute_process(COMMAND git describe --always --dirty --tags
  WORKING_DIRECTORY ${LE_SRC} OUTPUT_VARIABLE v OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT v)
  set(v "unknown")
endif()
set(text "/* Generated at build time by scripts/version.cmake; do not edit. */\n#define LE_VERSION \"0.1.0-${v}\"\n")
if(EXISTS ${LE_OUT})
  file(READ ${LE_OUT} old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE ${LE_OUT} "${text}")
endif()
