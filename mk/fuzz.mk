# Fuzz targets: libFuzzer binaries (make fuzz, clang) and corpus replayers (make check-fuzz).
check-fuzz:
fuzz:
.PHONY: check-fuzz fuzz
