/* tests/guest/payload/lib/gdt.h — segment selectors of the runtime GDT (entry.S), shared by C
 * and assembly. The layout is Linux's (kernel CS 0x10, DS 0x18; user DS 0x2b, CS 0x33; TSS at
 * 0x40): upstream PVM, the hypervisor of the development hosts, runs guest user mode on the
 * host's user selectors (these), and Linux guests reach ring 3 there. Constants only; any CPU. */
#pragma once

#define SEL_KCODE32 0x08
#define SEL_KCODE64 0x10
#define SEL_KDATA   0x18
#define SEL_UCODE32 0x20 /* unused; keeps Linux's numbering */
#define SEL_UDATA   0x28
#define SEL_UCODE64 0x30
#define SEL_TSS	    0x40 /* 16-byte system descriptor */
