# cell: normalize
while True:
    pass
