# Fuzz targets. Each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput and has its seeds in
# tests/fuzz/corpus/NAME/.
#   make check-fuzz   replays every corpus with the normal compiler (part of `make check`)
#   make fuzz         builds libFuzzer binaries with clang into build-fuzz/ (FUZZ_TIME=60 runs them)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)

$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay_main.o $(LIB)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

check-fuzz: $(FUZZ_REPLAY)
	@set -e; for n in $(FUZZ_NAMES); do \
		$(BUILD)/tests/fuzz/replay_$$n tests/fuzz/corpus/$$n; \
	done

FUZZ_TIME ?= 30
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -g" \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" fuzz-bins
	@for n in $(FUZZ_NAMES); do \
		mkdir -p build-fuzz/corpus/$$n; \
		build-fuzz/fuzz_$$n -max_total_time=$(FUZZ_TIME) build-fuzz/corpus/$$n tests/fuzz/corpus/$$n || exit 1; \
	done

fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/fuzz_%)
$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

.PHONY: check-fuzz fuzz fuzz-bins
