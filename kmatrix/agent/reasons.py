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
# The case is for other arches (its requires.arch): a question this host cannot be
# asked, so reports show n/a and leave it out of the counts (docs/design.md). Only
# the requirements decide it; a check cannot choose it.
NOT_APPLICABLE = "not-applicable"
CASE_REASON_CLASSES = (KERNEL_LACKS, ENVIRONMENT_BLOCKS, HARDWARE_MISSING)  # t.skip's
REASON_CLASSES = CASE_REASON_CLASSES + (NOT_APPLICABLE,)  # what a result may carry
