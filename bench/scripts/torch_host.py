"""The `pytorch-cpu:` line the PyTorch baselines print: version, ATen's CPU capability, oneDNN, BLAS and the ISA caps set."""
import os

import torch


def describe():
    config = torch.__config__.show()
    cap = config.split("CPU capability usage:")[1].split("\n")[0].strip() if "CPU capability usage:" in config else "unknown"
    dnnl = next((l.split("MKL-DNN")[1].split("(")[0].strip() for l in config.split("\n") if "MKL-DNN" in l), "?")
    blas = config.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in config else "?"
    env = " ".join(f"{k}={os.environ[k]}" for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA") if os.environ.get(k))
    return f"pytorch-cpu: torch {torch.__version__}; ATen {cap}; oneDNN {dnnl}; BLAS {blas}{'; ' + env if env else ''}"
