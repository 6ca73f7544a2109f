"""kmatrix: a kernel-feature compatibility suite for BPF across architectures."""

__version__ = "0.1.0"
