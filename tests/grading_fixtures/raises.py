# cell: normalize
raise RuntimeError("my code crashes on import")
