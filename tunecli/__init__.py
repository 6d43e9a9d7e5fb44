"""tunecli: tunable image restoration from the command line.

Models hold, in every tunable layer, ``p`` kernels mixed at run time by a tuning vector
(the user's *alpha*), after Maggioni et al., "Tunable Convolutions with Parametric Multi-Loss
Optimization" (CVPR 2023).

This module stays import-light (no torch) so that ``tunecli --help`` starts fast.
"""

__version__ = "0.1.0"
