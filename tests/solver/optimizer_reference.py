#!/usr/bin/env python3
"""Golden values of tests/solver/test_optimizer.cpp: PyTorch's optimiser updates (torch.optim
SGD, Adam, AdamW, RMSprop, single-tensor path, defaults otherwise) written out in plain Python
floats (IEEE double, like the C++ kernels), for three steps from the same start and gradients.
Usage: python3 tests/solver/optimizer_reference.py"""
import math

THETA0 = [1.0, -2.0, 0.5]
GRADS = [[0.5, -1.0, 0.0], [0.1, 0.3, -0.2], [-0.4, 0.2, 1.5]]


def sgd(lr, momentum=0.0, weight_decay=0.0):
    theta, buf = list(THETA0), None
    for t, grad in enumerate(GRADS, start=1):
        g = [gi + weight_decay * p for gi, p in zip(grad, theta)]
        if momentum != 0.0:
            buf = list(g) if buf is None else [momentum * b + gi for b, gi in zip(buf, g)]
            g = buf
        theta = [p - lr * gi for p, gi in zip(theta, g)]
    return theta


def adam(lr, weight_decay=0.0, decoupled=False, b1=0.9, b2=0.999, eps=1e-8):
    theta, m, v = list(THETA0), [0.0] * 3, [0.0] * 3
    for t, grad in enumerate(GRADS, start=1):
        if decoupled:
            theta = [p * (1.0 - lr * weight_decay) for p in theta]
            g = list(grad)
        else:
            g = [gi + weight_decay * p for gi, p in zip(grad, theta)]
        m = [b1 * mi + (1.0 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1.0 - b2) * gi * gi for vi, gi in zip(v, g)]
        step_size = lr / (1.0 - b1 ** t)
        bc2_sqrt = math.sqrt(1.0 - b2 ** t)
        theta = [p - step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))
                 for p, mi, vi in zip(theta, m, v)]
    return theta, m, v


def rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0):
    theta, v = list(THETA0), [0.0] * 3
    for grad in GRADS:
        g = [gi + weight_decay * p for gi, p in zip(grad, theta)]
        v = [alpha * vi + (1.0 - alpha) * gi * gi for vi, gi in zip(v, g)]
        theta = [p - lr * (gi / (math.sqrt(vi) + eps)) for p, gi, vi in zip(theta, g, v)]
    return theta


def show(name, values):
    print(f"{name}: {{" + ", ".join(f"{x:.17g}" for x in values) + "}")


show("sgd lr 0.1 wd 0.1", sgd(0.1, weight_decay=0.1))
show("sgd lr 0.1 momentum 0.9", sgd(0.1, momentum=0.9))
theta, m, v = adam(0.1, weight_decay=0.05)
show("adam lr 0.1 wd 0.05 theta", theta)
show("adam m", m)
show("adam v", v)
show("adamw lr 0.1 wd 0.01 theta", adam(0.1, weight_decay=0.01, decoupled=True)[0])
show("rmsprop lr 0.01 wd 0.02", rmsprop(0.01, weight_decay=0.02))
