# Nested KVM tests: kvmm runs inside a Linux guest booted under QEMU TCG with an emulated AMD
# CPU (SVM), against that guest's real kvm-amd. For hosts without /dev/kvm; docs/testing-nested.md.
# Include after mk/payload.mk (uses PAYLOAD_ELFS and PAYLOAD_OUT).
# Targets:
#   nested-initramfs  $(BUILD)/nested/initramfs.cpio (kvmm, payloads, busybox, kvm modules)
#   linux-initramfs   $(BUILD)/linux/{vmlinuz,initramfs.cpio} for the `linux` case outside nested runs
#   check-nested      build it, boot it, run the guest case table inside; CASES=REGEX: a subset.
#                     Exit status 77 from the script (the environment cannot run it) is
#                     reported as SKIPPED, not as a failure.
# Options: NESTED_KVER=, NESTED_CPU=, NESTED_TIMEOUT=, NESTED_CASE_TIMEOUT= (tests/nested/run.sh)
NESTED_OUT := $(BUILD)/nested
NESTED_INITRD := $(NESTED_OUT)/initramfs.cpio
NESTED_INPUTS := tests/nested/mkinitramfs.sh tests/nested/init.sh tests/nested/lib.sh \
	tests/guest/run.sh tests/guest/lib.sh tests/guest/cases.sh tests/guest/net.sh \
	tests/guest/snapshot.sh tests/guest/qmp.sh tests/guest/linux.sh tests/linux/mkinitramfs.sh \
	tests/linux/init.sh

$(NESTED_INITRD): $(KVMM) $(SNAPSHOT_DRIVE) $(PAYLOAD_ELFS) $(NESTED_INPUTS)
	@mkdir -p $(@D)
	$(Q)tests/nested/mkinitramfs.sh $@ $(KVMM) $(PAYLOAD_OUT) $(NESTED_KVER)

nested-initramfs: $(NESTED_INITRD)

# run.sh builds the initramfs itself (~20 s), so that a missing kernel or busybox is a skip (77)
# rather than a failed prerequisite.
# Status 3 means the L1 guest never reported back (a hang of the guest kernel's KVM on TCG's
# emulated SVM has been seen under heavy host load with -smp 2): retry once with one L1 CPU.
check-nested: $(KVMM) $(SNAPSHOT_DRIVE) $(PAYLOAD_ELFS)
	@st=0; KVMM=$(abspath $(KVMM)) PAYLOAD_DIR=$(abspath $(PAYLOAD_OUT)) \
		NESTED_OUT=$(abspath $(NESTED_OUT)) tests/nested/run.sh '$(value CASES)' || st=$$?; \
	if [ $$st -eq 3 ]; then echo "check-nested: the L1 guest hung; retrying once with NESTED_SMP=1"; \
		st=0; NESTED_SMP=1 KVMM=$(abspath $(KVMM)) PAYLOAD_DIR=$(abspath $(PAYLOAD_OUT)) \
		NESTED_OUT=$(abspath $(NESTED_OUT)) tests/nested/run.sh '$(value CASES)' || st=$$?; fi; \
	if [ $$st -eq 3 ]; then echo "check-nested: SKIPPED: the nested L1 guest hung twice, no result (environment, not a kvmm failure)"; \
	elif [ $$st -eq 77 ]; then echo "check-nested: SKIPPED: this host cannot run nested KVM under TCG"; \
	elif [ $$st -ne 0 ]; then exit $$st; fi

# The real-Linux guest case (tests/guest/linux.sh) outside nested runs: $(BUILD)/linux/vmlinuz
# and initramfs.cpio, found there by `make check-guest` ($(PAYLOAD_OUT)/../linux).
LINUX_OUT := $(BUILD)/linux
$(LINUX_OUT)/initramfs.cpio: tests/linux/mkinitramfs.sh tests/linux/init.sh
	$(Q)tests/linux/mkinitramfs.sh $(LINUX_OUT) $(NESTED_KVER)

linux-initramfs: $(LINUX_OUT)/initramfs.cpio

.PHONY: nested-initramfs check-nested linux-initramfs
