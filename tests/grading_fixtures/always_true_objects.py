# Values that are not numbers: objects whose comparisons always succeed, object-dtype arrays of them, an ndarray
# subclass that lies about equality, and a float subclass.
# cell: normalize
class Yes:
    shape = (1, 2)
    def __eq__(self, other): return True
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __ne__(self, other): return False
    def __abs__(self): return self
    def __sub__(self, other): return self
    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __sub__
    def max(self, *a, **k): return self
    def __bool__(self): return True
    def __array__(self, *a, **k): return np.array([[Yes(), Yes()]], dtype=object)
def normalize(y, box): return Yes()
def denormalize(n, box): return np.array([[Yes(), Yes()]], dtype=object)
# cell: cascade
class Liar(np.ndarray):
    def __eq__(self, other): return np.ones(self.shape, bool)
    def __lt__(self, other): return np.ones(self.shape, bool)
def cascade_target(y, x, torso, sigma): return Yes(), np.zeros((3, 2)).view(Liar)
def refine(x, d, boxes): return np.zeros((3, 2)).view(Liar)
# cell: pdj
class F(float):
    def __eq__(self, other): return True
def pdj(pred, gt, torso, frac=0.2): return [F(0.0), Yes(), "1.0"]
