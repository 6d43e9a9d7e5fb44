"""Synthetic degradations for training and the evaluation protocols that use them.

- :mod:`tunecli.degradations.blur` — seeded random blur kernels (Gaussian, anisotropic Gaussian,
  camera shake) whose size grows with the deblur task's ``blur`` strength, and per-sample blurring.
- :mod:`tunecli.degradations.kernel_files` — reading the kernel sets of the deblurring benchmarks
  (MATLAB v5 / v7.3 ``.mat``, ``.npy``, gray images).
- :mod:`tunecli.degradations.resize` — the one bicubic downscaling of the super-resolution task,
  shared by training (batched torch) and evaluation (numpy), and the bicubic / Lanczos baselines.

The submodules are imported on their own (nothing is re-exported here) so that reading kernel
files does not import torch.
"""
