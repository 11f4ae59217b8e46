# cell: normalize
import sys
sys.exit(3)
