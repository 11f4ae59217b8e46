# cell: normalize
print("x" * 100_000_000)
