# Unit tests (cmocka, TAP through prove), golden img tests and guest payload tests.
TEST_LIB_SRCS := $(sort $(wildcard tests/lib/*.c))
TEST_LIB_OBJS := $(TEST_LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

$(BUILD)/tests/%.o: CPPFLAGS += -Itests
$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TEST_LIB_OBJS) $(LIB)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LIB_OBJS) $(LIB) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)

# cmocka prints TAP when CMOCKA_MESSAGE_OUTPUT=TAP; prove collects it.
check-unit: $(UNIT_BINS)
	CMOCKA_MESSAGE_OUTPUT=TAP prove -f $(UNIT_BINS)

check-img: $(KVMM)
	KVMM=$(abspath $(KVMM)) tests/img/run.sh

# Exit status 77 means "skipped" (no /dev/kvm): reported, not a failure.
check-guest: $(KVMM) payloads
	@st=0; KVMM=$(abspath $(KVMM)) PAYLOAD_DIR=$(abspath $(BUILD)/payload) tests/guest/run.sh '$(value CASES)' || st=$$?; \
	if [ $$st -eq 77 ]; then echo "check-guest: SKIPPED: /dev/kvm is not available on this host"; \
	elif [ $$st -ne 0 ]; then exit $$st; fi

check-run: $(KVMM) payloads
	KVMM=$(abspath $(KVMM)) PAYLOAD_DIR=$(abspath $(BUILD)/payload) tests/run/cli.sh

check-lint:
	scripts/check-includes.sh

# Every ACPI table kvmm builds, disassembled and recompiled by ACPICA (iasl, acpiexec).
check-acpi: $(BUILD)/tests/unit/test_acpi
	tests/acpi/check-iasl.sh $(BUILD)

check: check-unit check-fuzz check-lint check-acpi check-run check-qmp check-img check-guest check-guest-qemu check-nested-harness check-nested

.PHONY: unit check check-unit check-img check-guest check-run check-lint check-acpi
.SECONDARY:

# QMP: kvmm's server with a fake VM, driven by `kvmm ctl` and socat (no /dev/kvm needed).
$(BUILD)/tools/qmp-fake-vm: $(BUILD)/tests/tools/qmp_fake_vm.o $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

check-qmp: $(KVMM) $(BUILD)/tools/qmp-fake-vm payloads
	KVMM=$(abspath $(KVMM)) QMP_FAKE_VM=$(abspath $(BUILD)/tools/qmp-fake-vm) \
		PAYLOAD_DIR=$(abspath $(BUILD)/payload) tests/run/qmp.sh

.PHONY: check-qmp
