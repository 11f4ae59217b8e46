# A timestamp.txt far in the future (nbgrader's parser overflows): ignored with a note, the student is graded.
# file: timestamp.txt
99999-12-31 23:59:59.999999
