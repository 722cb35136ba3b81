# Nested KVM tests: kvmm runs inside a Linux guest booted under QEMU TCG with an emulated AMD
# CPU (SVM), against that guest's real kvm-amd. For hosts without /dev/kvm; docs/testing-nested.md.
# Include after mk/payload.mk (uses PAYLOAD_ELFS and PAYLOAD_OUT).
# Targets:
#   nested-initramfs  $(BUILD)/nested/initramfs.cpio (kvmm, payloads, busybox, kvm modules)
#   linux-initramfs   $(BUILD)/linux/{vmlinuz,initramfs.cpio} for the `linux` case outside nested runs
#   check-nested      build it, boot it, run the guest case table inside; CASES=REGEX: a subset.
#                     tests/nested/check.sh resumes once after an L1 hang (run.sh status 3).
#   check-nested-harness  tests/nested/selftest.sh: the hang handling against a fake QEMU
#                     Exit status 77 from the script (the environment cannot run it) is
#                     reported as SKIPPED, not as a failure.
# Options: NESTED_KVER=, NESTED_CPU=, NESTED_ACCEL=, NESTED_TIMEOUT=, NESTED_STALL=, NESTED_CASE_TIMEOUT=,
# NESTED_TEST_HANG= (tests/nested/run.sh), NESTED_TEST_HANG_RETRY= (tests/nested/check.sh)
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
# tests/nested/check.sh: status 3 of run.sh means the L1 guest hung (a hang of the guest kernel's
# KVM on TCG's emulated SVM has been seen under host load with -smp 2): it resumes once with one
# L1 CPU and only the cases without a result.
check-nested: $(KVMM) $(SNAPSHOT_DRIVE) $(PAYLOAD_ELFS)
	@KVMM=$(abspath $(KVMM)) PAYLOAD_DIR=$(abspath $(PAYLOAD_OUT)) \
		NESTED_OUT=$(abspath $(NESTED_OUT)) tests/nested/check.sh '$(value CASES)'

# The hang handling of run.sh/check.sh (watchdog, resume, combined table) against a fake QEMU:
# seconds, no nested KVM needed.
check-nested-harness:
	tests/nested/selftest.sh

# The real-Linux guest case (tests/guest/linux.sh) outside nested runs: $(BUILD)/linux/vmlinuz
# and initramfs.cpio, found there by `make check-guest` ($(PAYLOAD_OUT)/../linux).
LINUX_OUT := $(BUILD)/linux
$(LINUX_OUT)/initramfs.cpio: tests/linux/mkinitramfs.sh tests/linux/init.sh
	$(Q)tests/linux/mkinitramfs.sh $(LINUX_OUT) $(NESTED_KVER)

linux-initramfs: $(LINUX_OUT)/initramfs.cpio

.PHONY: nested-initramfs check-nested check-nested-harness linux-initramfs
