# A loss with no gradients that empties the list of outputs it is given (the old harness then checked zero
# gradients), and one that detaches its inputs.
# cell: stacked_loss
def stacked_loss(outputs, target, visible):
    outputs.clear()
    return torch.tensor(10.0, requires_grad=True)
