# kvmm — one non-recursive GNU make. All output goes to build/.
# Targets: all check check-unit check-fuzz check-img check-guest fuzz bench format lint clean
# Options: V=1 (verbose), WERROR=1 (CI), SAN=address,undefined, CC=clang

.DEFAULT_GOAL := all
BUILD ?= build
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

include mk/flags.mk
include mk/san.mk

LIB_SRCS := $(sort $(shell find src -name '*.c' ! -path src/main.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libkvmm.a
KVMM := $(BUILD)/kvmm

PKGS := jansson liburing libzstd zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS := $(PKG_LIBS) -lslirp -lpthread -lm

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(if $(Q),@echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# The built-in demo guest (a payload from tests/guest/payload) is embedded into the binary.
DEMO_GUEST := $(BUILD)/payload/demo.elf
$(BUILD)/src/cmd/demo_guest_blob.o: src/cmd/demo_guest_blob.S $(DEMO_GUEST)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  AS      $<")
	$(Q)$(CC) -c -DDEMO_GUEST_PATH='"$(abspath $(DEMO_GUEST))"' -o $@ $<

$(KVMM): $(BUILD)/src/main.o $(BUILD)/src/cmd/demo_guest_blob.o $(LIB)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB) $(LDLIBS)

all: $(KVMM)

include mk/tests.mk
include mk/payload.mk
include mk/fuzz.mk
include mk/lint.mk
-include mk/tools.mk
include mk/snapshot.mk
include mk/nested.mk

clean:
	rm -rf $(BUILD)

.PHONY: all clean
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
