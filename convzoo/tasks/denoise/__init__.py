"""Gaussian denoising: noise, the residual loss, PSNR/SSIM, classical baselines, tiled inference.

- :mod:`~convzoo.tasks.denoise.noise`: noise levels on the 0-255 scale, training noise
  drawn per batch, validation and test noise fixed by seeds;
- :mod:`~convzoo.tasks.denoise.objective`: the residual loss and PSNR (what the training
  engine needs);
- :mod:`~convzoo.tasks.denoise.metrics`: PSNR of a batch, scikit-image's PSNR and SSIM of an image;
- :mod:`~convzoo.tasks.denoise.baselines`: the noisy input, the best blur, non-local means, BM3D;
- :mod:`~convzoo.tasks.denoise.tiling`: a whole image, tile by tile, in bounded memory;
- :mod:`~convzoo.tasks.denoise.scoring`: the test protocol, per image and noise level;
- :mod:`~convzoo.tasks.denoise.panels`: clean, noisy, denoised and predicted noise as titled panels;
- :mod:`~convzoo.tasks.denoise.pipeline`: a training run's patches, noise, validation and test report;
- :mod:`~convzoo.tasks.denoise.files`: an image file denoised with a checkpoint;
- :mod:`~convzoo.tasks.denoise.flags`: its ``convzoo train`` flags and ``convzoo denoise``'s;
- :mod:`~convzoo.tasks.denoise.commands`: what ``train`` and ``eval`` print, and ``convzoo denoise``;
- :mod:`~convzoo.tasks.denoise.task`: the task's row of :data:`convzoo.tasks.TASKS`.
"""
