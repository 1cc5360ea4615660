#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): small valid files of each
format, plain and gzipped where the reader takes both. Binary caches come from the spdnn CLI given as the
first argument (e.g. build/release/bin/spdnn). Run once; the seeds are committed."""
import gzip, os, struct, subprocess, sys, tempfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
M64 = (1 << 64) - 1


def put(target, name, data, gz=False):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    data = data.encode() if isinstance(data, str) else data
    open(os.path.join(d, name), "wb").write(data)
    if gz:
        open(os.path.join(d, name + ".gz"), "wb").write(gzip.compress(data, mtime=0))


def key_hash(data):  # src/sparse/codegen/kernel_cache.cpp KeyHasher::value64
    a, b = 0xcbf29ce484222325, 0x84222325cbf29ce4
    for byte in data:
        a = ((a ^ byte) * 0x100000001b3) & M64
        b = ((b ^ byte) * 0x9E3779B185EBCA87) & M64
    h = a ^ (b >> 7)
    h ^= h >> 33; h = (h * 0xff51afd7ed558ccd) & M64; h ^= h >> 33; h = (h * 0xc4ceb9fe1a85ec53) & M64; h ^= h >> 33
    return h


put("layer_tsv", "layer.tsv", "1\t2\t6.250000e-02\n2\t3\t0.0625\n64\t64\t-1.5\n", gz=True)
put("images_tsv", "images.tsv", "1\t1\t1\n1\t64\t1\n3\t7\t0.5\n", gz=True)
put("categories", "categories.tsv", "1\n5\n9\n", gz=True)
put("matrix_market", "real.mtx", "%%MatrixMarket matrix coordinate real general\n% c\n3 3 2\n1 1 1.5\n2 3 -2\n")
put("matrix_market", "pattern.mtx", "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n2 1\n", gz=True)
put("smtx", "w.smtx", "2, 5, 3\n0 2 3\n4 1 0\n", gz=True)
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
header += " " * (117 - len(header)) + "\n"
put("npy", "w.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() +
    struct.pack("<6f", 0, 1.5, 0, -2, 0, 0.25), gz=True)
put("mnist", "images-idx3-ubyte", struct.pack(">IIII", 0x803, 1, 28, 28) + bytes(range(256)) * 3 + bytes(16))
module = b"\x7fELF payload"
key = b"0123456789abcdef0123456789abcdef"
put("kernel_cache", "module.cubin", b"SPDNKRN1" + key + struct.pack("<QQ", len(module), key_hash(module)) + module)
put("kernel_cache", "tuning.tune", "spdnn-tuning2 0123456789abcdef0123456789abcdef 3.250 "
    "rows=32,cols=1,threads=128,cluster_slices=1,prefetch=32,bound=256,block_slices=1,block_groups=1,fixed_n=1\n")
if len(sys.argv) > 1:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.argv[1], "generate", "-q", "--neurons", "64", "--layers", "2", "--what", "network", "--format",
                        "bin", "--out", tmp], check=True)
        subprocess.run([sys.argv[1], "generate", "-q", "--neurons", "1024", "--count", "4", "--what", "inputs", "--format",
                        "bin", "--out", tmp], check=True)
        for f in os.listdir(tmp):
            kind = "network_cache" if f.startswith("neuron") else "features_cache"
            # Named .seed: the caches' own extension (.spdnn) is ignored by git, as generated data.
            put(kind, f.replace(".spdnn", ".seed"), open(os.path.join(tmp, f), "rb").read())
