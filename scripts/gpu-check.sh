#!/bin/sh
# GPU check: on a machine with NVIDIA GPUs, build the runner's pool against
# the real nvidia-smi and start one process per lease, all at once; each
# reports the GPU UUIDs the CUDA driver gives it (nvidia-smi itself ignores
# CUDA_VISIBLE_DEVICES, so the check asks libcuda through ctypes) and must
# see exactly the card(s) of its lease. The result is written to
# gpu-check-result.txt (or $1) so it can be recorded in docs.
#
# Needs: Go, /usr/bin/python3, an NVIDIA driver. No torch.
set -eu
cd "$(dirname "$0")/.."
out="${1:-gpu-check-result.txt}"
{
	echo "# lorasweep GPU check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
	nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used --format=csv,noheader,nounits
	LORASWEEP_GPU_CHECK=1 go test -count=1 -v -run 'TestRealGPUs' ./runner
} 2>&1 | tee "$out"
grep -q '^--- PASS: TestRealGPUs' "$out"
