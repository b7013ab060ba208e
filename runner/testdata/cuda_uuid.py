#!/usr/bin/python3
"""Print the UUID of every GPU CUDA lets this process see, one per line.

Used by the GPU check (scripts/gpu-check.sh): nvidia-smi ignores
CUDA_VISIBLE_DEVICES, so the check asks the CUDA driver API itself, through
ctypes (no torch needed).
"""
import ctypes
import sys

try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError as e:
    print(f"no libcuda: {e}", file=sys.stderr)
    sys.exit(3)
rc = cuda.cuInit(0)
if rc == 100:  # CUDA_ERROR_NO_DEVICE: CUDA_VISIBLE_DEVICES hides every card
    print("visible: 0")
    sys.exit(0)
if rc != 0:
    print(f"cuInit failed: {rc}", file=sys.stderr)
    sys.exit(4)
n = ctypes.c_int()
cuda.cuDeviceGetCount(ctypes.byref(n))
print(f"visible: {n.value}")
for i in range(n.value):
    dev = ctypes.c_int()
    cuda.cuDeviceGet(ctypes.byref(dev), i)
    raw = (ctypes.c_ubyte * 16)()
    fn = getattr(cuda, "cuDeviceGetUuid_v2", None) or cuda.cuDeviceGetUuid
    fn(raw, dev)
    h = bytes(raw).hex()
    print(f"uuid: GPU-{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}")
