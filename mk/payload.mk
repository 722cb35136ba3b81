# Guest payloads (freestanding x86-64 programs booted by kvmm or QEMU): docs/testing-guest.md.
# Each tests/guest/payload/NAME.c becomes
#   $(BUILD)/payload/NAME.elf     ELF64 with a Xen PVH note (PVH boot)
#   $(BUILD)/payload/NAME.mb.elf  ELF32 with a multiboot v1 header (multiboot boot)
# Targets: payloads, check-guest-qemu (every case under QEMU microvm, ACCEL=tcg by default;
# CASES=REGEX: a subset).
PAYLOAD_SRC := tests/guest/payload
PAYLOAD_OUT := $(BUILD)/payload
PAYLOAD_CC ?= gcc
PAYLOAD_CFLAGS := -std=gnu11 -O2 -g -m64 -ffreestanding -fno-pic -fno-pie -mno-red-zone \
	-mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-omit-frame-pointer -fcf-protection=none -fno-builtin -U_FORTIFY_SOURCE \
	$(WARNINGS) -I$(PAYLOAD_SRC)/lib
PAYLOAD_LDFLAGS := -nostdlib -static -Wl,--build-id=none -Wl,-z,noexecstack \
	-Wl,-z,max-page-size=0x1000 -Wl,--no-warn-rwx-segments -Wl,-T,$(PAYLOAD_SRC)/lib/payload.ld

PAYLOAD_NAMES := $(sort $(basename $(notdir $(wildcard $(PAYLOAD_SRC)/*.c))))
PAYLOAD_LIB_SRCS := $(sort $(wildcard $(PAYLOAD_SRC)/lib/*.c)) $(PAYLOAD_SRC)/lib/entry.S
PAYLOAD_LIB_OBJS := $(patsubst $(PAYLOAD_SRC)/%,$(PAYLOAD_OUT)/obj/%.o,$(PAYLOAD_LIB_SRCS))
PAYLOAD_ELFS := $(PAYLOAD_NAMES:%=$(PAYLOAD_OUT)/%.elf) $(PAYLOAD_NAMES:%=$(PAYLOAD_OUT)/%.mb.elf)

$(PAYLOAD_OUT)/obj/%.c.o: $(PAYLOAD_SRC)/%.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(PAYLOAD_CC) $(PAYLOAD_CFLAGS) -MMD -MP -c -o $@ $<

$(PAYLOAD_OUT)/obj/%.S.o: $(PAYLOAD_SRC)/%.S
	@mkdir -p $(@D)
	$(if $(Q),@echo "  AS      $<")
	$(Q)$(PAYLOAD_CC) $(PAYLOAD_CFLAGS) -MMD -MP -c -o $@ $<

$(PAYLOAD_OUT)/%.elf: $(PAYLOAD_OUT)/obj/%.c.o $(PAYLOAD_LIB_OBJS) \
		$(PAYLOAD_OUT)/obj/lib/pvh_note.S.o $(PAYLOAD_SRC)/lib/payload.ld
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(PAYLOAD_CC) $(PAYLOAD_LDFLAGS) -o $@ $(filter %.o,$^)

# QEMU's multiboot loader refuses ELF64: link as ELF64, then rewrite as ELF32 (as
# kvm-unit-tests does). Every address is below 4 GiB, so nothing is lost.
$(PAYLOAD_OUT)/%.mb.elf: $(PAYLOAD_OUT)/obj/%.c.o $(PAYLOAD_LIB_OBJS) \
		$(PAYLOAD_OUT)/obj/lib/mb_header.S.o $(PAYLOAD_SRC)/lib/payload.ld
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(PAYLOAD_CC) $(PAYLOAD_LDFLAGS) -o $@.64 $(filter %.o,$^)
	$(Q)objcopy -O elf32-i386 $@.64 $@ && rm -f $@.64

payloads: $(PAYLOAD_ELFS)

check-guest-qemu: $(PAYLOAD_ELFS)
	ACCEL=$(or $(ACCEL),tcg) PAYLOAD_DIR=$(abspath $(PAYLOAD_OUT)) tests/guest/run-qemu.sh '$(value CASES)'

.PHONY: payloads check-guest-qemu
