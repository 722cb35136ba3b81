#!/usr/bin/env python3
"""bench/startup: kvmm and QEMU microvm side by side on the same payload, in one run.

For each VMM and each of N runs it measures
  - exec -> first byte the guest writes to its serial port (ms)
  - exec -> process exit (ms)
  - VMM memory overhead: peak of (process RSS - RSS of the guest-RAM mapping), from
    /proc/PID/smaps sampled every millisecond (KiB)
and prints medians and the kvmm/QEMU ratios. Needs /dev/kvm (both VMMs use it).
The runs are interleaved (kvmm, qemu, kvmm, ...) after one discarded warm-up run of each. The
payload gets the command line of the boot-pvh case of tests/guest/cases.sh ("hello=world
mem=M", plus "qemu=1" under QEMU), so both VMMs must exit with the payload's PASS status 1; the
script exits 1 otherwise. Where there is no /dev/kvm, bench/nested-startup.sh runs the same
measurement (bench/startup-probe.c) inside a nested-KVM guest; see docs/benchmarks.md.

usage: bench/startup.py [--kvmm build/kvmm] [--payload build/payload/boot.elf] [--runs 10]
                        [--memory 128]
"""
import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import time


def smaps_overhead_kib(pid, guest_bytes):
    """RSS of everything except the mapping(s) that back guest RAM, in KiB."""
    total = guest = 0
    size = rss = 0
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if line[0].isdigit() or line[0] in "abcdef":
                    if size >= guest_bytes // 1024:
                        guest += rss
                    total += rss
                    size = rss = 0
                elif line.startswith("Size:"):
                    size = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
        if size >= guest_bytes // 1024:
            guest += rss
        total += rss
    except OSError:
        return None
    return total - guest


def run_once(cmd, guest_bytes, timeout=30.0):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    first = None
    peak = 0
    fd = p.stdout.fileno()
    os.set_blocking(fd, False)
    while True:
        r, _, _ = select.select([fd], [], [], 0.001)
        if r:
            data = os.read(fd, 65536)
            if data and first is None:
                first = time.monotonic() - t0
            if not data:
                break
        ov = smaps_overhead_kib(p.pid, guest_bytes)
        if ov is not None:
            peak = max(peak, ov)
        if time.monotonic() - t0 > timeout:
            p.kill()
            break
    p.wait()
    end = time.monotonic() - t0
    return first, end, peak, p.returncode


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvmm", default="build/kvmm")
    ap.add_argument("--payload", default="build/payload/boot.elf")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64") or "qemu-system-x86_64")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--memory", type=int, default=128, help="guest RAM in MiB")
    a = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("bench/startup: /dev/kvm is not available: nothing can be measured here",
              file=sys.stderr)
        return 77
    mem = a.memory << 20
    vmms = {
        "kvmm": [a.kvmm, "run", "--kernel", a.payload, "--memory", f"{a.memory}M",
                 "--cmdline", f"hello=world mem={a.memory}", "--serial", "stdio", "--debug-exit"],
        "qemu": [a.qemu, "-M", "microvm", "-accel", "kvm", "-nodefaults", "-no-user-config",
                 "-display", "none", "-serial", "stdio", "-m", f"{a.memory}M",
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", a.payload,
                 "-append", f"hello=world mem={a.memory} qemu=1"],
    }
    for cmd in vmms.values():  # warm-up, discarded
        run_once(cmd, mem)
    all_runs = {name: [] for name in vmms}
    for _ in range(a.runs):
        for name, cmd in vmms.items():
            all_runs[name].append(run_once(cmd, mem))
    res = {}
    for name, runs in all_runs.items():
        res[name] = {
            "first_ms": median([r[0] * 1000 if r[0] is not None else None for r in runs]),
            "exit_ms": median([r[1] * 1000 for r in runs]),
            "overhead_kib": median([r[2] for r in runs]),
            "status": sorted({r[3] for r in runs}),
        }
    print(f"payload {a.payload}, {a.memory} MiB, {a.runs} runs each, medians")
    print(f"{'':14}{'kvmm':>12}{'qemu':>12}{'qemu/kvmm':>12}")
    for key, label in (("first_ms", "first byte ms"), ("exit_ms", "exit ms"),
                       ("overhead_kib", "overhead KiB")):
        k, q = res["kvmm"][key], res["qemu"][key]
        ratio = q / k if k else float("nan")
        print(f"{label:14}{k:12.1f}{q:12.1f}{ratio:12.2f}")
    print(f"exit statuses: kvmm {res['kvmm']['status']}, qemu {res['qemu']['status']}")
    if res["kvmm"]["status"] != [1] or res["qemu"]["status"] != [1]:
        print("bench/startup: a VMM did not exit with the payload's PASS status 1 in every run",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
