"""Helpers shared by the tests (and benchmarks/accuracy.py): ``numerics`` (samples,
error measurement, the adversarial cases) and ``nn`` (MNIST fixtures, the
lecture model, a loopback mirror)."""
