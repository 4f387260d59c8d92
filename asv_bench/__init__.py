"""scipix's asv suite: optimized kernels against the scalar reference and OpenCV."""
import scipix

# Printed once per run so that results can be read against the hardware.
scipix.show_runtime()
