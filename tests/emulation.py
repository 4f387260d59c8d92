"""Whether the tests run under a user-mode emulator: .ci/arm64 sets
``SCIPIX_EMULATED=qemu-aarch64`` for its aarch64 root file system on x86-64.
Results there are the CPU's own; times are 10-50x the native ones, and the
emulator's memory for each guest thread it starts counts as the process's."""
import os

EMULATED = os.environ.get("SCIPIX_EMULATED", "")
