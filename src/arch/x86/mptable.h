/* arch/x86/mptable.h — the Intel MultiProcessor Specification 1.4 table: a floating pointer at
 * LAYOUT_MPTABLE followed by the configuration table (processors, one ISA bus, the IOAPIC, ISA
 * IRQ routing and the local interrupts). Guests that do not use ACPI (or boot with acpi=off)
 * find their CPUs and the IOAPIC here.
 *
 * MP tables carry 8-bit APIC IDs only: a topology with an APIC ID above 254 (or one that uses
 * all of 0-254, leaving no ID for the IOAPIC) cannot be described, and the caller should skip the
 * MP table (ACPI still describes it). Built on the main thread before the first vCPU runs. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "mem/gmem.h"

/* Largest APIC ID an MP table can carry (0xff is the broadcast ID). */
#define MPTABLE_MAX_APIC_ID 254u

/* Write the floating pointer and configuration table for ncpus vCPUs with the given APIC IDs
 * (vCPU 0 is the bootstrap processor) to LAYOUT_MPTABLE; *out = the floating pointer's
 * address. The IOAPIC gets the lowest APIC ID no vCPU uses (ncpus for dense IDs). -EINVAL for
 * ncpus == 0, NULL apic_ids or a duplicate APIC ID, -E2BIG if an APIC ID exceeds
 * MPTABLE_MAX_APIC_ID or no ID is left for the IOAPIC, -ENOSPC if the table
 * exceeds LAYOUT_MPTABLE_MAX, -ENOMEM, -EFAULT if the area is not guest RAM. */
int mptable_build(const struct gmem *m, unsigned ncpus, const uint32_t *apic_ids,
		  gpa_t *out) KVMM_MUST_CHECK;
