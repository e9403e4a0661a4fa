#!/usr/bin/env python3
"""Every .cu of a CUDA library is compiled for each requested architecture: reads the fatbins
embedded in the library's objects (section .nv_fatbin, extracted with objcopy) and lists their
entries (kind ELF = SASS for one sm_XX, PTX = compute_XX). Passes when every architecture of
CMAKE_CUDA_ARCHITECTURES has an ELF entry in every object that carries device code.
Usage: cuda_arch_test.py LIBRARY "80;90" [OBJCOPY]"""
import os
import struct
import subprocess
import sys
import tempfile

FATBIN_MAGIC = 0xBA55ED50


def entries(blob):
    """(kind, sm) of every entry of every fatbin in `blob` (kind 1 = PTX, 2 = ELF)."""
    out, off = [], 0
    while off + 16 <= len(blob):
        magic, _ver, hsize, fsize = struct.unpack_from("<IHHQ", blob, off)
        if magic != FATBIN_MAGIC:
            off += 8  # fatbins are 8-byte aligned inside the section
            continue
        e, end = off + hsize, off + hsize + fsize
        while e + 32 <= end:
            kind, _v, ehsize, payload = struct.unpack_from("<HHII", blob, e)
            sm = struct.unpack_from("<I", blob, e + 28)[0]
            if ehsize == 0:
                break
            out.append((kind, sm))
            e += ehsize + payload
        off = end
    return out


def main():
    lib, archs = sys.argv[1], [a.split("-")[0] for a in sys.argv[2].replace(" ", ";").split(";") if a]
    objcopy = sys.argv[3] if len(sys.argv) > 3 else "objcopy"
    with tempfile.TemporaryDirectory() as tmp:
        if lib.endswith(".a"):
            subprocess.run(["ar", "x", os.path.abspath(lib)], cwd=tmp, check=True)
            objs = [os.path.join(tmp, f) for f in sorted(os.listdir(tmp))]
        else:
            objs = [lib]
        status, seen = 0, 0
        for obj in objs:
            bin_path = os.path.join(tmp, "fatbin.bin")
            r = subprocess.run([objcopy, "-O", "binary", "--only-section=.nv_fatbin", obj, bin_path],
                               capture_output=True)
            if r.returncode != 0 or not os.path.exists(bin_path) or os.path.getsize(bin_path) == 0:
                continue  # host-only object
            with open(bin_path, "rb") as f:
                es = entries(f.read())
            os.remove(bin_path)
            seen += 1
            elf = sorted({sm for kind, sm in es if kind == 2})
            ptx = sorted({sm for kind, sm in es if kind == 1})
            print(f"{os.path.basename(obj)}: ELF sm_{elf}, PTX compute_{ptx}")
            for a in archs:
                if int(a) not in elf:
                    print(f"MISSING: sm_{a} SASS in {os.path.basename(obj)}")
                    status = 1
        if seen == 0:
            print(f"no device code found in {lib}")
            status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
