"""Compiler flags every C target of the project uses: warnings are errors."""

WARN_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]
