# Lone surrogates (@SURROGATE@ is replaced by the JSON escape \ud800 in the stored notebook) in a markdown cell, in
# code and in an exception message: writing the autograded notebook must not crash, the next student is graded.
# cell: +md_note
A note with a lone surrogate: @SURROGATE@
# cell: normalize
note = "@SURROGATE@"
def normalize(y, box):
    raise ValueError("bad @SURROGATE@ value")
def denormalize(n, box):
    raise ValueError(note * 3)
# file: timestamp.txt
2026-01-01 12:00:00 @SURROGATE@
