# Results of the wrong type that plain numbers would accept: a float loss posing as a tensor, a numpy loss, a
# torch pckh, a tensor subclass that says it equals everything.
# cell: stacked_loss
class FakeLoss(float):
    def dim(self): return 0
    requires_grad = True
def stacked_loss(outputs, target, visible):
    return FakeLoss(10.0)
# cell: pckh
class Always(torch.Tensor):
    def __eq__(self, other): return True
def pckh(pred, gt, visible, head_boxes, alpha=0.5):
    return torch.tensor([1.0, 0.0, float("nan")]).as_subclass(Always)
