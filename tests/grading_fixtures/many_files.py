# 3,000 files, a 600 MB sparse file and folders 40 deep (made by the test): the extra files are left out, the
# student alone pays for them, the sandbox and the next student are unaffected.
