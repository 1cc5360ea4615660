#!/usr/bin/env python3
"""How input order changes the steps the column kernel's vote can skip (a CPU estimate, no GPU):

    row_order_sim.py [IMAGES] [SIDE]      (defaults: 20000 MNIST training images at 128 x 128 = 16384 neurons)

The first feature-major layer reads its inputs as bits and skips a step (one input position for a slice
of 64 rows) when all 64 rows are zero there (column_kernel.cuh). The challenge's inputs are MNIST digits
upsampled and thresholded; this upsamples them the same way (nearest, > 128) and prints the fraction of
(position, 64-row slice) steps that are zero over the slice, in the official order and in orders that put
similar images together (image centroid, principal components, which of 256 contiguous position blocks
hold a nonzero, and an 8 x 8 coarse pattern of the image).
MNIST is read from $SPDNN_MNIST or ../shared/data/mnist/train-images-idx3-ubyte.gz."""
import gzip
import os
import sys

import numpy as np

SLICE_ROWS = 64  # column_kernel.cuh: 32 lanes x 2 rows a warp


def zero_steps(x):
    n = x.shape[0] // SLICE_ROWS * SLICE_ROWS
    return 1.0 - x[:n].reshape(-1, SLICE_ROWS, x.shape[1]).any(axis=1).mean()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    path = os.environ.get("SPDNN_MNIST", "../shared/data/mnist/train-images-idx3-ubyte.gz")
    with gzip.open(path) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:count]
    pick = np.arange(side) * 28 // side
    up = raw[:, pick][:, :, pick]
    x = (up > 128).reshape(count, -1)
    print(f"{count} images at {side} x {side}: {x.mean():.1%} nonzero")
    print(f"official order:     {zero_steps(x):.1%} of steps zero over their slice")
    ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    mass = x.sum(1) + 1e-9
    cy, cx = (x * ys.reshape(1, -1)).sum(1) / mass, (x * xs.reshape(1, -1)).sum(1) / mass
    print(f"by centroid:        {zero_steps(x[np.lexsort((cx, np.round(cy / 4)))]):.1%}")
    sample = x[:, ::7].astype(np.float32)
    sample -= sample.mean(0)
    _, _, vt = np.linalg.svd(sample[:5000], full_matrices=False)
    p = sample @ vt[:2].T
    print(f"by principal comp.: {zero_steps(x[np.lexsort((p[:, 1], np.round(p[:, 0] * 2)))]):.1%}")
    blocks = x.reshape(count, 256, -1).any(axis=2)  # 256 contiguous position blocks (tried on the GPU in 143dbb6)
    key = np.packbits(blocks, axis=1)
    print(f"by 256 blocks:      {zero_steps(x[np.lexsort(key.T[::-1])]):.1%}")
    coarse = up.reshape(count, 8, side // 8, 8, side // 8).mean((2, 4)) > 64
    key = np.packbits(coarse.reshape(count, -1), axis=1)
    print(f"by 8 x 8 pattern:   {zero_steps(x[np.lexsort(key.T[::-1])]):.1%}")


if __name__ == "__main__":
    main()
