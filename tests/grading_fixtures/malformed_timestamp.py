# A timestamp.txt that is not a date (and not UTF-8): ignored with a note, the student is graded.
# cell: normalize
def normalize(y, box): return np.zeros((1, 2))
# file: timestamp.txt
2026-13-45 99:99:99 +99:99
