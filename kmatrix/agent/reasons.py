"""Why a case was skipped: the reason classes, defined once for the agent and
the controller (kmatrix.results re-exports them). Anything else is a bug in the
case or the agent.

Stdlib only, Python 3.7, and no imports at all: bundle.agent_source() puts this
file first in every script it joins, so preflight.py and probes.py find these
names whether they run inside the agent package or concatenated on stdin.
"""

KERNEL_LACKS = "kernel-lacks"  # the kernel does not have the feature
ENVIRONMENT_BLOCKS = "environment-blocks"  # a policy or setting refuses it
HARDWARE_MISSING = "hardware-missing"  # the machine lacks the hardware
REASON_CLASSES = (KERNEL_LACKS, ENVIRONMENT_BLOCKS, HARDWARE_MISSING)
