"""The machine a run measured: CPU model, logical cores, and the SIMD features int8 speed hangs on.

Whether int8 beats float32 depends on instructions the CPU has: on x86, AVX2 multiplies 8-bit
values only after widening them to 16 bits, while AVX-512 VNNI and AVX-VNNI add 8-bit dot
products (``vpdpbusd``); on ARM, the dot-product extension (``asimddp``) and int8 matrix
multiply (``i8mm``) play that part. The notebooks read these flags at run time and say which
ones the measured CPU had.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

# Feature name in /proc/cpuinfo -> what the notebooks call it.
X86_FEATURES = {
    "avx2": "AVX2",
    "fma": "FMA",
    "f16c": "F16C",
    "avx512f": "AVX-512",
    "avx512bw": "AVX-512 BW",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_int8": "AMX-INT8",
}
ARM_FEATURES = {"asimd": "NEON", "asimddp": "dot product", "i8mm": "int8 matrix multiply"}
INT8_DOT_PRODUCT = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}

PACKAGES = (
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
    "ai-edge-litert",
    "numpy",
)


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU model name (Linux), else what the platform module knows."""
    for line in (cpuinfo if cpuinfo is not None else _cpuinfo()).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first CPU listed (x86 ``flags`` or ARM ``Features``)."""
    for line in (cpuinfo if cpuinfo is not None else _cpuinfo()).splitlines():
        key = line.split(":", 1)[0].strip()
        if key in ("flags", "Features"):
            return set(line.split(":", 1)[1].split())
    return set()


def simd_features(flags: set[str] | None = None) -> dict[str, bool]:
    """The features that matter for int8 and float32 kernels, present or not."""
    flags = cpu_flags() if flags is None else flags
    arm = platform.machine().lower() in ("aarch64", "arm64") or "asimd" in flags
    table = ARM_FEATURES if arm else X86_FEATURES
    return {label: name in flags for name, label in table.items()}


def has_int8_dot_product(flags: set[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return bool(flags & INT8_DOT_PRODUCT)


def cache_sizes(root: str = "/sys/devices/system/cpu/cpu0/cache") -> dict[str, int]:
    """Data and unified cache sizes in bytes seen by CPU 0 (Linux), e.g. {"L1d": 49152, ...}."""
    from pathlib import Path

    sizes = {}
    for entry in sorted(Path(root).glob("index*")):
        try:
            level = (entry / "level").read_text().strip()
            kind = (entry / "type").read_text().strip()
            size = (entry / "size").read_text().strip()
        except OSError:
            continue
        if kind == "Instruction":
            continue
        multiplier = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(size[-1:], 1)
        number = int(size.rstrip("KMG")) * multiplier
        sizes[f"L{level}{'d' if kind == 'Data' else ''}"] = number
    return sizes


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def describe() -> dict:
    """What a run records about where it ran."""
    flags = cpu_flags()
    return {
        **package_versions(),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "simd": simd_features(flags),
        "int8_dot_product": has_int8_dot_product(flags),
        "caches": cache_sizes(),
    }


def feature_text(environment: dict) -> str:
    """'AVX2, FMA, AVX-512, AVX-512 VNNI (no AVX-VNNI)'-style summary for sentences."""
    simd = environment.get("simd", {})
    present = [name for name, ok in simd.items() if ok]
    return ", ".join(present) if present else "none of the SIMD features this tutorial checks"


def cache_text(environment: dict) -> str:
    """'L1d 48 KiB, L2 2,048 KiB, ...' from :func:`describe`'s record."""
    caches = environment.get("caches") or {}
    return ", ".join(f"{name} {size / 1024:,.0f} KiB" for name, size in caches.items()) or "unknown"
